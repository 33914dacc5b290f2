"""The FrameEvent fields every component may rely on, checked where frames enter (the upload
API refuses with a 400) and again where they are used (the worker dead-letters): one camera id
pattern, bounded tags, a bounded frame id. Whatever the API accepts the worker accepts, so an
upload answered 202 is never dead-lettered for its fields.

The limits are part of the contract, not settings: a producer and a consumer configured
differently would lose frames silently."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vigil.dlq import DlqReason
from vigil.errors import VigilError

CAMERA_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"  # the same as a camera config's id
CAMERA_ID = re.compile(CAMERA_ID_PATTERN)
MAX_FRAME_ID = 256
MAX_TAGS = 64
MAX_TAG_BYTES = 16 * 1024  # keys and values together, UTF-8


class FieldError(VigilError, ValueError):
    """A FrameEvent field out of contract; ``reason`` is the DLQ header / HTTP error code."""

    def __init__(self, reason: DlqReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def check_camera_id(camera_id: object) -> str:
    if not isinstance(camera_id, str) or CAMERA_ID.fullmatch(camera_id) is None:
        shown = repr(camera_id)[:40] if isinstance(camera_id, str) else type(camera_id).__name__
        size = len(camera_id) if isinstance(camera_id, str) else 0
        raise FieldError(
            DlqReason.INVALID_CAMERA_ID,
            f"camera id {shown} ({size} characters) must be 1-128 of A-Z a-z 0-9 . _ : -",
        )
    return camera_id


def tag_bytes(tags: Mapping[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in tags.items())


def check_tag_counts(count: int, size: int) -> None:
    if count > MAX_TAGS:
        raise FieldError(DlqReason.TOO_MANY_TAGS, f"{count} tags; limit {MAX_TAGS}")
    if size > MAX_TAG_BYTES:
        raise FieldError(DlqReason.TAGS_TOO_LARGE, f"{size} bytes of tags; limit {MAX_TAG_BYTES}")


def check_event(event: Mapping[str, Any]) -> None:
    """Raises :class:`FieldError` for a FrameEvent whose ids or tags are out of contract."""
    check_camera_id(event.get("camera_id"))
    frame_id = event.get("frame_id")
    if not isinstance(frame_id, str) or not 1 <= len(frame_id) <= MAX_FRAME_ID:
        size = len(frame_id) if isinstance(frame_id, str) else 0
        raise FieldError(
            DlqReason.INVALID_FRAME_ID, f"frame id of {size} characters; 1-{MAX_FRAME_ID}"
        )
    tags = event.get("tags") or {}
    check_tag_counts(len(tags), tag_bytes(tags))
