"""The dead-letter queue: bad input keeps its original bytes and gains the reason in headers.

Nothing is ever silently dropped: a component that cannot use a record hands it to
:func:`dead_letter`, and tools read it back as a ``vigil.DlqEnvelope`` with :func:`read_envelope`.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from vigil.kafka import DeliveryCallback, Headers, produce

if TYPE_CHECKING:
    from confluent_kafka import Message, Producer

H_ERROR_CLASS = "vigil.error.class"
H_ERROR_MESSAGE = "vigil.error.message"
H_SOURCE_TOPIC = "vigil.source.topic"
H_SOURCE_PARTITION = "vigil.source.partition"
H_SOURCE_OFFSET = "vigil.source.offset"
H_COMPONENT = "vigil.component"
H_FAILED_TS = "vigil.failed.ts_ms"
H_DESTINATION = "vigil.destination"  # where the record could not be delivered (alert delivery)
MAX_MESSAGE_CHARS = 2000


class DlqReason(StrEnum):
    """Why a frame is bad input: the DLQ record's error message starts with the code (and the
    worker counts it per code); the upload API answers with the same code for the same fault,
    so whatever it accepts the worker accepts."""

    # the record itself
    AVRO_UNDECODABLE = "avro_undecodable"
    INVALID_FRAME = "invalid_frame"  # anything else the worker could not admit
    CLAIM_CHECK_UNRESOLVABLE = "claim_check_unresolvable"
    # its fields (vigil.framecheck)
    INVALID_CAMERA_ID = "invalid_camera_id"
    INVALID_FRAME_ID = "invalid_frame_id"
    TOO_MANY_TAGS = "too_many_tags"
    TAGS_TOO_LARGE = "tags_too_large"
    # its image, before decoding (vigil.images)
    EMPTY_IMAGE = "empty_image"
    TOO_MANY_BYTES = "too_many_bytes"
    UNSUPPORTED_FORMAT = "unsupported_format"
    FORMAT_MISMATCH = "format_mismatch"
    TOO_MANY_PIXELS = "too_many_pixels"
    TRUNCATED_IMAGE = "truncated_image"
    RAW_SIZE_MISMATCH = "raw_size_mismatch"
    # decoding and inference
    UNDECODABLE_IMAGE = "undecodable_image"
    DECODE_FAILED = "decode_failed"
    INFERENCE_FAILED = "inference_failed"


def header_pairs(raw: Any) -> list[tuple[str, bytes]]:
    """Headers as a client hands them (a list of pairs, a dict, or None) as (name, bytes)."""
    pairs = raw.items() if isinstance(raw, dict) else (raw or ())
    return [(str(k), v.encode() if isinstance(v, str) else (v or b"")) for k, v in pairs]


def _header_pairs(message: Message) -> list[tuple[str, bytes]]:
    return header_pairs(message.headers())


def reason_headers(
    error: BaseException, component: str, *, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """The reason and the source coordinates, as DLQ headers."""
    reason = {
        H_ERROR_CLASS: type(error).__name__,
        H_ERROR_MESSAGE: str(error)[:MAX_MESSAGE_CHARS],
        H_SOURCE_TOPIC: topic,
        H_SOURCE_PARTITION: str(partition),
        H_SOURCE_OFFSET: str(offset),
        H_COMPONENT: component,
        H_FAILED_TS: str(int(time.time() * 1000)),
    }
    return [(k, v.encode()) for k, v in reason.items()]


def dlq_headers(message: Message, error: BaseException, component: str) -> list[tuple[str, bytes]]:
    """The original headers, then the reason and the source coordinates."""
    partition, offset = message.partition(), message.offset()
    return _header_pairs(message) + reason_headers(
        error,
        component,
        topic=message.topic() or "",
        partition=-1 if partition is None else partition,
        offset=-1 if offset is None else offset,
    )


def dead_letter(
    producer: Producer,
    dlq_topic: str,
    message: Message,
    error: BaseException,
    component: str,
    *,
    extra: Headers = (),
    on_delivery: DeliveryCallback | None = None,
) -> None:
    """Send ``message`` to the DLQ unchanged (same key, same value bytes) with the reason;
    ``extra`` headers follow ours; ``on_delivery`` gets the broker's acknowledgement."""
    produce(
        producer,
        dlq_topic,
        message.value(),
        key=message.key(),
        headers=[*dlq_headers(message, error, component), *extra],
        on_delivery=on_delivery,
    )


def read_envelope(message: Message) -> dict[str, Any]:
    """A DLQ message as a ``vigil.DlqEnvelope`` record."""
    headers = dict(_header_pairs(message))  # the last value wins: ours come after the originals

    def text(name: str) -> str:
        return headers.get(name, b"").decode(errors="replace")

    return {
        "source_topic": text(H_SOURCE_TOPIC),
        "source_partition": int(text(H_SOURCE_PARTITION) or -1),
        "source_offset": int(text(H_SOURCE_OFFSET) or -1),
        "key": message.key(),
        "value": message.value(),
        "error_class": text(H_ERROR_CLASS),
        "error_message": text(H_ERROR_MESSAGE),
        "component": text(H_COMPONENT),
        "failed_ts_ms": int(text(H_FAILED_TS) or 0),
    }
