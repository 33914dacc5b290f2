"""The one route anyone may call, made cheap: ``POST /dashboard/login`` is rate-limited per
client address before anything else, and its body is read with a byte cap (413 past it) and
only then parsed, so an unauthenticated caller can neither guess keys quickly nor make the
server spool a large multipart body."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request
from starlette.datastructures import UploadFile

from dashboards.web.settings import DashboardSettings
from vigil.web.forms import parse_form, read_limited
from vigil.web.images import Rejection
from vigil.web.limits import Limited, TokenBuckets

MAX_KEY_CHARS = 512


def login_limiter(cfg: DashboardSettings) -> TokenBuckets:
    return TokenBuckets(cfg.login_per_minute / 60.0, cfg.login_burst)


def client_address(request: Request) -> str:
    """The peer's address (uvicorn puts the forwarded one here only for trusted proxies)."""
    return request.client.host if request.client else "unknown"


def charge_login(request: Request, limiter: TokenBuckets) -> None:
    wait = limiter.take(client_address(request))
    if wait > 0:
        raise Limited(429, "rate_limited", "too many login attempts from this address", wait)


async def login_key(request: Request, max_bytes: int) -> str:
    """The ``key`` field of a urlencoded or multipart form of at most ``max_bytes``."""
    body = await read_limited(request, max_bytes)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        key = await _multipart_key(request, body)
    else:
        try:
            fields = parse_qs(body.decode(), max_num_fields=8, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError) as exc:
            raise Rejection(400, "malformed_form", str(exc)[:200]) from None
        key = (fields.get("key") or [""])[0]
    key = key.strip()
    if not key:
        raise Rejection(400, "missing_key", "the form needs a 'key' field")
    if len(key) > MAX_KEY_CHARS:
        raise Rejection(400, "invalid_key", f"a key has at most {MAX_KEY_CHARS} characters")
    return key


async def _multipart_key(request: Request, body: bytes) -> str:
    form = await parse_form(request, body, max_files=0, max_fields=8)
    value = form.get("key")
    if isinstance(value, UploadFile) or value is None:
        return ""
    return str(value)
