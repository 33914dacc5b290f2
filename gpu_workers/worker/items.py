"""What travels through the worker: a consumed message with its decode in flight (or its
reason for the DLQ), and the open transaction's bookkeeping."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from gpu_workers.worker import intake
from gpu_workers.worker.inference import Item
from gpu_workers.worker.intake import Rejected
from vigil.imagestats import image_stats


@dataclass(frozen=True)
class WorkItem:
    """One consumed message: a decode in flight, the reason it goes to the DLQ, or skipped
    (not admitted: its offset is committed, nothing is produced)."""

    message: Message
    future: Future[Item] | None = None
    error: Rejected | None = None
    skipped: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return (str(self.message.topic()), int(self.message.partition() or 0))


@dataclass
class Txn:
    """The open transaction: what it will commit."""

    started: float
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    frames: int = 0
    captures: list[int] = field(default_factory=list)  # capture_ts_ms of its detections
    reasons: list[str] = field(default_factory=list)  # DLQ reasons


def decode_item(event: dict[str, Any], data: bytes, header: Any, scale: int) -> Item:
    """In the decode pool: pixels and image statistics."""
    decoded = intake.decode(data, header, scale)
    return Item(event, decoded, image_stats(decoded.image))
