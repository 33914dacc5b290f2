"""The upload's query parameters, checked before the body is read: the camera id and the tags
follow the FrameEvent contract (``vigil.framecheck``) and are refused with a 400 naming the
reason, so nothing the API accepts is dead-lettered later for its fields."""

from __future__ import annotations

import re

from vigil.framecheck import FieldError, check_camera_id, check_tag_counts
from vigil.web.images import Rejection

TAG = re.compile(r"^([A-Za-z0-9._-]{1,64})[:=](.{0,256})$")


def camera_id(value: str) -> str:
    try:
        return check_camera_id(value)
    except FieldError as exc:
        raise Rejection(400, exc.reason, exc.detail) from None


def parse_tags(items: list[str]) -> dict[str, str]:
    """``key:value`` (or ``key=value``) items; the count and total size are checked before
    any item is parsed."""
    try:
        check_tag_counts(len(items), sum(len(i.encode()) for i in items))
    except FieldError as exc:
        raise Rejection(400, exc.reason, exc.detail) from None
    tags = {}
    for item in items:
        match = TAG.match(item)
        if match is None:
            raise Rejection(400, "invalid_tag", f"tag {item[:80]!r} is not key:value")
        tags[match.group(1)] = match.group(2)
    return tags
