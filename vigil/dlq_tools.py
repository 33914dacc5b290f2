"""Acting on the DLQ (``vigil dlq list|show|replay``): what it holds per reason and component,
one record whole, and re-driving records to their source topic once the cause is fixed.

A record's *reason* is the code its error message starts with (``DlqReason``: what the worker
and the upload API count) or, for a component that raises other errors, its error class.

A replay re-produces each chosen record's original key, value and headers (the DLQ's own
headers removed, ``vigil.dlq.replayed`` added: the DLQ partition and offset it came from) to
its source topic, or ``to``; in the same transaction it writes a marker into the DLQ (no value,
header ``vigil.dlq.replayed``), so a record is re-driven once: a later replay sees the marker
and skips it, whatever filters it is given, and an aborted replay wrote neither."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from vigil import follow, kafka
from vigil.dlq import (
    H_COMPONENT,
    H_DESTINATION,
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_FAILED_TS,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
    DlqReason,
    header_pairs,
    read_envelope,
)
from vigil.errors import VigilError
from vigil.settings import CoreSettings
from vigil.topics import Topic

H_REPLAYED = "vigil.dlq.replayed"  # "<dlq partition>:<dlq offset>" of the record re-driven
OURS = {
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_SOURCE_TOPIC,
    H_SOURCE_PARTITION,
    H_SOURCE_OFFSET,
    H_COMPONENT,
    H_FAILED_TS,
    H_DESTINATION,
}
CODES = {r.value for r in DlqReason}
BATCH = 500  # records per replay transaction


class DlqError(VigilError, LookupError):
    """The DLQ record asked for is not there, or a replay cannot go where it was sent."""


@dataclass(frozen=True)
class Entry:
    """One dead letter, as read back."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    envelope: dict[str, Any]

    @property
    def reason(self) -> str:
        message = str(self.envelope["error_message"])
        code = message.split(":", 1)[0].strip()
        return code if code in CODES else str(self.envelope["error_class"]) or "unknown"

    @property
    def failed_ms(self) -> int:
        return int(self.envelope["failed_ts_ms"]) or self.timestamp_ms

    @property
    def coordinates(self) -> str:
        return f"{self.partition}:{self.offset}"

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if k not in OURS and k != H_REPLAYED]


@dataclass
class Dlq:
    """The DLQ as it is now: its records and the ones already replayed."""

    entries: list[Entry] = field(default_factory=list)
    replayed: set[str] = field(default_factory=set)  # "<partition>:<offset>"

    def select(
        self,
        reason: str | None = None,
        since_ms: int | None = None,
        component: str | None = None,
    ) -> list[Entry]:
        return [
            e
            for e in self.entries
            if (reason is None or e.reason == reason)
            and (since_ms is None or e.failed_ms >= since_ms)
            and (component is None or e.envelope["component"] == component)
        ]

    def find(self, offset: int, partition: int | None = None) -> Entry:
        found = [e for e in self.entries if e.offset == offset and partition in (None, e.partition)]
        if not found:
            raise DlqError(f"no DLQ record at offset {offset}" + _on(partition))
        if len(found) > 1:
            parts = ", ".join(str(e.partition) for e in found)
            raise DlqError(f"offset {offset} is on partitions {parts}: give --partition")
        return found[0]


def _on(partition: int | None) -> str:
    return "" if partition is None else f" of partition {partition}"


def read_dlq(settings: CoreSettings, timeout_s: float = 60.0) -> Dlq:
    """Everything committed on the DLQ now (``read_committed``, to its end)."""
    dlq = Dlq()

    def take(msg: Message) -> None:
        headers = header_pairs(msg.headers())
        marker = dict(headers).get(H_REPLAYED)
        if msg.value() is None and marker is not None:
            dlq.replayed.add(marker.decode(errors="replace"))
            return
        partition, offset = msg.partition(), msg.offset()
        dlq.entries.append(
            Entry(
                -1 if partition is None else partition,
                -1 if offset is None else offset,
                msg.timestamp()[1],
                msg.key(),
                msg.value(),
                headers,
                read_envelope(msg),
            )
        )

    follow.read_to_end(
        settings, Topic.DLQ.name_in(settings.topics), take, name="vigil-dlq", timeout_s=timeout_s
    )
    return dlq


@dataclass(frozen=True)
class Replayed:
    records: int
    skipped: int  # replayed before
    targets: dict[str, int]  # topic -> records


def replay(
    settings: CoreSettings,
    entries: Sequence[Entry],
    already: set[str],
    *,
    to: str | None = None,
    on_batch: Callable[[int], None] | None = None,
    timeout_s: float = 60.0,
) -> Replayed:
    """Re-produce ``entries`` not in ``already`` (transactionally, with their markers)."""
    todo = [e for e in entries if e.coordinates not in already]
    missing = [e for e in todo if not (to or e.envelope["source_topic"])]
    if missing:
        raise DlqError(f"DLQ record {missing[0].coordinates} has no source topic: give --to TOPIC")
    dlq_topic = Topic.DLQ.name_in(settings.topics)
    producer = kafka.transactional_producer(settings, f"vigil-dlq-replay-{uuid.uuid4().hex[:12]}")
    targets: dict[str, int] = {}
    landed = kafka.Landmarks()
    try:
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]
            producer.begin_transaction()
            counted: dict[str, int] = {}
            try:
                for e in chunk:
                    target = to or str(e.envelope["source_topic"])
                    mark = [(H_REPLAYED, e.coordinates.encode())]
                    headers = e.original_headers() + mark
                    kafka.produce(producer, target, e.value, key=e.key, headers=headers)
                    kafka.produce(
                        producer, dlq_topic, None, key=e.key, headers=mark, on_delivery=landed
                    )
                    counted[target] = counted.get(target, 0) + 1
                producer.commit_transaction(timeout_s)
            except BaseException:
                producer.abort_transaction(timeout_s)  # neither the records nor their markers
                raise
            for target, n in counted.items():
                targets[target] = targets.get(target, 0) + n
            if on_batch is not None:
                on_batch(len(chunk))
    finally:
        producer.flush(timeout_s)
    kafka.wait_visible(settings, landed.last, timeout_s)  # the next replay sees the markers
    return Replayed(len(todo), len(entries) - len(todo), targets)
