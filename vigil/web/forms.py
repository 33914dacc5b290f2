"""Request bodies read under a byte limit, and multipart forms parsed from them: the upload,
the POI enrolment and the login form all go through here."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData
from starlette.types import Message

from vigil.web.images import Rejection


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Rejection(413, "body_too_large", f"{declared} bytes declared; limit {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejection(413, "body_too_large", f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_form(request: Request, body: bytes, *, max_files: int, max_fields: int) -> FormData:
    """A multipart form parsed from a body already read under a byte limit (Starlette would
    otherwise spool an unbounded body to disk); any parse error is a 400."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=max_files, max_fields=max_fields)
    except Exception as exc:
        raise Rejection(400, "malformed_multipart", str(exc)[:200]) from None
