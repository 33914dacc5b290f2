"""Persons of interest on the compacted ``vigil.poi`` topic: publishing an enrolment (built by
the face models, ``vigil.faces``), removal by tombstone (right to erasure), and the live feed
that keeps a :class:`Watchlist` equal to the topic. Alerting matches against that feed; the
upload API, the dashboard and the CLI enrol and erase through it."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from confluent_kafka import (
    KafkaError,
    KafkaException,
    Message,
)
from prometheus_client import Counter, Gauge
from pydantic import SecretStr

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from vigil import kafka
from vigil.follow import Follower, read_to_end
from vigil.pseudonyms import Pseudonyms
from vigil.settings import CoreSettings
from vigil.topics import ROLL_MARKER, Topic, roll_interval_s
from vigil.watchlist import Watchlist

log = logging.getLogger(__name__)
WATCHLIST = Gauge("vigil_poi_watchlist_size", "Persons on the watch-list")
POI_SKIPPED = Counter(
    "vigil_poi_records_skipped", "vigil.poi records the watch-list could not use", ["reason"]
)
PERSON_ID = r"^[A-Za-z0-9._:@-]{1,128}$"


def _publish(settings: CoreSettings, key: str, value: bytes | None, timeout_s: float) -> None:
    prod = kafka.producer(settings)
    errors: list[KafkaError] = []

    def done(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    kafka.produce(prod, Topic.POI.name_in(settings.topics), value, key=key, on_delivery=done)
    if prod.flush(timeout_s) > 0:
        raise TimeoutError(f"Kafka did not acknowledge {key!r} within {timeout_s:.0f}s")
    if errors:
        raise RuntimeError(f"Kafka refused {key!r}: {errors[0]}")


def publish_enrollment(
    settings: CoreSettings, record: dict[str, Any], timeout_s: float = 30
) -> None:
    topic = Topic.POI.name_in(settings.topics)
    value = serde_for(settings, Topic.POI).serialize(record, topic=topic)
    _publish(settings, str(record["person_id"]), value, timeout_s)


def publish_removal(settings: CoreSettings, person_id: str, timeout_s: float = 30) -> None:
    """A tombstone: compaction erases the person's vectors, every matcher forgets them now."""
    _publish(settings, person_id, None, timeout_s)


def poi_key(msg: Message) -> str | None:
    """The person id a ``vigil.poi`` record is keyed by; None for a missing, non-UTF-8 or
    out-of-pattern key (the record is skipped: guessing a person from mangled bytes could
    forget, or enrol, the wrong one)."""
    raw = msg.key()
    if isinstance(raw, str):
        text = raw
    elif isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        return None
    return text if re.fullmatch(PERSON_ID, text) else None


class PoiFeed:
    """Reads ``vigil.poi`` from the beginning into a watch-list, then follows it live.
    Every instance reads every partition (no consumer group sharing): each needs the whole list."""

    def __init__(
        self,
        settings: CoreSettings,
        watchlist: Watchlist | None = None,
        *,
        roll_markers: bool = False,
        pseudonym_key: SecretStr | None = None,
    ) -> None:
        self.settings = settings
        self.watchlist = watchlist if watchlist is not None else Watchlist()
        self.roll_markers = roll_markers
        self.pseudonyms = Pseudonyms(pseudonym_key)
        self.records: dict[str, dict[str, Any]] = {}
        self.topic = Topic.POI.name_in(settings.topics)
        self.serde = serde_for(settings, Topic.POI)
        self._marker = _RollMarker(settings) if roll_markers else None
        self._reader = Follower(
            settings,
            self.topic,
            self._apply,
            name="poi-feed",
            tick=None if self._marker is None else self._marker.maybe_send,
        )
        self.caught_up = self._reader.caught_up
        self._thread: threading.Thread | None = None

    def start(self) -> PoiFeed:
        self._thread = self._reader.start().thread
        return self

    def wait(self, timeout_s: float) -> None:
        try:
            self._reader.wait(timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"watch-list not loaded from {self.topic} in {timeout_s:.0f}s"
            ) from None

    def stop(self) -> None:
        self._reader.stop(timeout_s=10)

    def _apply(self, msg: Message) -> None:
        raw_key = msg.key()
        if raw_key in (ROLL_MARKER, ROLL_MARKER.encode()):  # compaction's clock, not a person
            return
        person = poi_key(msg)
        if person is None:
            POI_SKIPPED.labels("invalid_key").inc()
            log.warning(
                "poi record at %s[%s]@%s skipped: its key is not a UTF-8 person id",
                msg.topic(),
                msg.partition(),
                msg.offset(),
            )
            return
        if msg.value() is None:
            self.records.pop(person, None)
            self.watchlist.apply(person, None)
            log.info(
                "poi removed: %s; %d on the watch-list",
                self.pseudonyms(person),
                len(self.watchlist),
            )
        else:
            try:
                record = self.serde.decode(msg)
                self.watchlist.apply(person, record)
            except Exception as exc:  # one bad record never stops the feed (or the matcher)
                POI_SKIPPED.labels(
                    "undecodable" if isinstance(exc, SerdeError) else "invalid_record"
                ).inc()
                log.error("poi record for %s ignored: %s", self.pseudonyms(person), exc)
                return
            self.records[person] = record
            log.info(
                "poi enrolled: %s (%d vectors); %d on the watch-list",
                self.pseudonyms(person),
                len(record["embeddings"]),
                len(self.watchlist),
            )
        WATCHLIST.set(len(self.watchlist))


class _RollMarker:
    """Appends a tombstone under :data:`ROLL_MARKER` to ``vigil.poi`` every
    :func:`roll_interval_s`: Kafka rolls a segment only on an append, and the active segment is
    never compacted, so without appends a person's tombstone would never erase their embedding.
    Readers skip the key; compaction removes the markers themselves."""

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.interval_s = roll_interval_s(settings.topics)
        self.topic = Topic.POI.name_in(settings.topics)
        self._producer = kafka.producer(settings)
        self._next = time.monotonic()

    def maybe_send(self) -> None:
        self._producer.poll(0)
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.interval_s
        try:
            kafka.produce(self._producer, self.topic, None, key=ROLL_MARKER)
        except (BufferError, KafkaException) as exc:  # the next interval tries again
            log.warning("poi roll marker not sent: %s", exc)

    def flush(self, timeout_s: float = 10) -> None:
        self._producer.flush(timeout_s)


def topic_holds(settings: CoreSettings, person_id: str, timeout_s: float = 30) -> bool:
    """Whether ``vigil.poi`` still holds an enrolment (a value, not a tombstone) of the person,
    read from the start to the current end."""
    key = person_id.encode()
    found = False

    def look(msg: Message) -> None:
        nonlocal found
        if msg.key() == key and msg.value() is not None:
            found = True

    topic = Topic.POI.name_in(settings.topics)
    read_to_end(
        settings, topic, look, name=f"{settings.topics.prefix}-poi-probe", timeout_s=timeout_s
    )
    return found


def wait_compacted(settings: CoreSettings, person_id: str, timeout_s: float) -> float:
    """After a tombstone: append roll markers and read ``vigil.poi`` until no enrolment of the
    person is left (compaction ran); the seconds it took. ``TimeoutError`` past ``timeout_s``."""
    began = time.monotonic()
    marker = _RollMarker(settings)
    marker.interval_s = min(marker.interval_s, 1.0)  # waiting: roll as soon as segment.ms allows
    while True:
        marker.maybe_send()
        marker.flush()
        if not topic_holds(settings, person_id):
            return time.monotonic() - began
        if time.monotonic() - began > timeout_s:
            raise TimeoutError(
                f"{Topic.POI.name_in(settings.topics)} still holds the enrolment after "
                f"{timeout_s:.0f}s: is the topic's compaction configured (`vigil topics ensure`)?"
            )
        time.sleep(1.0)


def read_watchlist(settings: CoreSettings, timeout_s: float = 30) -> dict[str, dict[str, Any]]:
    """The current watch-list (for ``vigil poi list``)."""
    feed = PoiFeed(settings).start()
    try:
        feed.wait(timeout_s)
    finally:
        feed.stop()
    return dict(feed.records)
