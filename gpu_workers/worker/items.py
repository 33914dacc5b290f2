"""What travels through the worker: a consumed message with its decode in flight (or its
reason for the DLQ), the open transaction's bookkeeping, and a batch's way from decodes to
serialized detections, each failure confined to its own frame."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from confluent_kafka import Message

from gpu_workers.worker import intake
from gpu_workers.worker.device import Raw
from gpu_workers.worker.inference import Item
from gpu_workers.worker.intake import Rejected
from gpu_workers.worker.isolate import describe, run_isolating
from schemas.types import DetectionEvent, FrameEvent
from vigil.dlq import DlqReason
from vigil.images import ImageHeader
from vigil.imagestats import image_stats

log = logging.getLogger("vigil.worker")
Encoded = tuple[DetectionEvent, bytes]  # a DetectionEvent and its serialized value


@dataclass(frozen=True)
class WorkItem:
    """One consumed message: a decode in flight (the CPU path), a checked frame to decode with
    its batch (``raw``: the torch path), the reason it goes to the DLQ, or skipped (not
    admitted: its offset is committed, nothing is produced)."""

    message: Message
    future: Future[Item] | None = None
    error: Rejected | None = None
    skipped: bool = False
    raw: Raw | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (str(self.message.topic()), int(self.message.partition() or 0))


@dataclass(frozen=True, eq=False)
class Outgoing:
    """A record that must go out with the worker's next transaction (a SWITCH event on the
    registry): produced into each transaction until one that carries it commits."""

    topic: str
    key: str
    value: bytes


@dataclass
class Txn:
    """The open transaction: what it will commit."""

    started: float
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    frames: int = 0
    captures: list[int] = field(default_factory=list)  # capture_ts_ms of its detections
    reasons: list[DlqReason] = field(default_factory=list)
    carried: list[Outgoing] = field(default_factory=list)  # outgoing records produced into it


def decode_item(event: FrameEvent, data: bytes, header: ImageHeader, scale: int) -> Item:
    """In the decode pool: pixels and image statistics."""
    decoded = intake.decode(data, header, scale)
    return Item(event, decoded, image_stats(decoded.image))


def wait_decodes(
    items: Sequence[WorkItem],
    decode_raw: Callable[[list[Raw]], list[Item | Exception]] | None = None,
) -> tuple[list[tuple[WorkItem, Item]], list[tuple[WorkItem, Rejected]]]:
    """The decoded frames of a batch in the batch's order, and the ones bound for the DLQ with
    their reason (any exception in a decode is that frame's, never the batch's). Frames of the
    torch path (``raw``) are decoded together by ``decode_raw``."""
    raws = [item for item in items if item.raw is not None]
    decoded: dict[int, Item | Exception] = {}
    if raws:
        if decode_raw is None:
            raise RuntimeError("frames for the torch path, but no device decode")
        results = decode_raw([item.raw for item in raws if item.raw is not None])
        decoded = {id(item): result for item, result in zip(raws, results, strict=True)}
    ready: list[tuple[WorkItem, Item]] = []
    dead: list[tuple[WorkItem, Rejected]] = []
    for item in items:
        if item.skipped:
            continue
        if item.error is not None:
            dead.append((item, item.error))
            continue
        try:
            if item.raw is not None:
                result = decoded[id(item)]
                if isinstance(result, Exception):
                    raise result
                ready.append((item, result))
                continue
            if item.future is None:
                raise RuntimeError("a work item has neither a decode nor an error")
            ready.append((item, item.future.result()))
        except Rejected as exc:
            dead.append((item, exc))
        except Exception as exc:
            dead.append((item, Rejected(DlqReason.DECODE_FAILED, describe(exc))))
    return ready, dead


def infer_isolated(
    infer: Callable[[Sequence[Item]], list[Encoded]], ready: list[tuple[WorkItem, Item]]
) -> tuple[list[Encoded], list[tuple[WorkItem, Rejected]]]:
    """``infer`` over the batch; a frame that makes it raise is found by splitting the batch
    (:func:`run_isolating`) and returned for the DLQ with reason ``inference_failed``."""
    encoded, failed = run_isolating(infer, [i for _, i in ready])
    dead: list[tuple[WorkItem, Rejected]] = []
    for index, exc in failed:
        item = ready[index][0]
        log.warning(
            "frame at %s[%d]@%d failed in inference, to the DLQ: %s",
            item.message.topic(),
            item.message.partition() or 0,
            item.message.offset() or 0,
            describe(exc),
        )
        dead.append((item, Rejected(DlqReason.INFERENCE_FAILED, describe(exc))))
    return encoded, dead
