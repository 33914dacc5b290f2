"""``POST /v1/frames``, ``GET /v1/health`` and the OpenAPI document (``/openapi.json``,
``/docs``). Every rejection is a 4xx JSON body ``{"error": reason, "detail": ...}``; limits are
checked before decoding and nothing rejected reaches the topic."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from confluent_kafka import Producer
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from prometheus_client import Counter
from pydantic import BaseModel, Field, SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import Message

from connectors.api.images import Rejection, check_image
from connectors.api.service import NotAcknowledged, UploadService, as_json
from connectors.api.validation import camera_id as checked_camera_id
from connectors.api.validation import parse_tags
from connectors.blobstore import BlobStore
from vigil import __version__
from vigil.settings import VigilSettings

log = logging.getLogger(__name__)

UPLOADS = Counter("vigil_api_uploads", "Upload requests by outcome", ["outcome"])
MULTIPART_OVERHEAD = 64 * 1024
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of ingest.api_keys")

BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The image: a multipart form with a `file` part, or the raw bytes.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class ApiError(BaseModel):
    """The one error body of the API: a stable reason to switch on, and a human detail."""

    error: str = Field(description="machine-readable reason, e.g. body_too_large")
    detail: Any = Field(description="what was wrong, for a person")


def documented(answers: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for error answers, each with the ``ApiError`` body."""
    return {code: {"description": text, "model": ApiError} for code, text in answers.items()}


# The error answers every image-upload route shares (frames here, POI enrolment in poi.py).
UPLOAD_ERRORS = documented(
    {
        400: "empty, truncated or undecodable image; malformed multipart",
        401: "missing or wrong API key",
        413: "body or pixel count over the limit",
        415: "not JPEG, PNG or WebP (by magic bytes)",
        422: "a query parameter out of its documented range",
        503: "Kafka did not acknowledge; nothing was accepted",
    }
)


def key_matches(given: str | None, keys: Sequence[SecretStr]) -> bool:
    """Constant-time comparison against every configured key (no early exit)."""
    if not given:
        return False
    raw = given.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(raw, key.get_secret_value().encode())
    return found


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


async def image_bytes(request: Request, max_bytes: int) -> bytes:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return await read_limited(request, max_bytes)
    body = await read_limited(request, max_bytes + MULTIPART_OVERHEAD)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=16)
    except Exception as exc:
        raise Rejection(400, "malformed_multipart", str(exc)[:200]) from None
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise Rejection(400, "missing_file", "multipart body needs a 'file' part")
    data = await part.read()
    if len(data) > max_bytes:
        raise Rejection(413, "body_too_large", f"{len(data)} bytes; limit {max_bytes}")
    return data


def authorised(request: Request, key: Annotated[str | None, Security(API_KEY)]) -> None:
    """Runs before the body is read, so unauthenticated uploads cost nothing."""
    if not key_matches(key, request.app.state.api_keys):
        raise Rejection(401, "unauthorized", "missing or wrong X-API-Key")


def known_query_only(request: Request) -> None:
    """A query parameter the route does not take is refused, not ignored: ``?camera=x`` for
    ``?camera_id=x`` would otherwise upload to the default camera without a word."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.url.path.startswith("/v1/"):  # the documented API
        return
    known = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        known |= {p.alias for p in sub.query_params}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise Rejection(400, "unknown_parameter", f"not a parameter of this route: {unknown[:5]}")


def error(status: int, reason: str, detail: Any) -> JSONResponse:
    return JSONResponse({"error": reason, "detail": detail}, status_code=status)


def create_app(
    settings: VigilSettings,
    *,
    producer: Producer | None = None,
    blobs: BlobStore | None = None,
) -> FastAPI:
    service = UploadService(settings, producer, blobs)
    limits = settings.ingest

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="Vigil upload API",
        version=__version__,
        summary="Images in, FrameEvents on vigil.frames out; 202 means Kafka acknowledged.",
        lifespan=lifespan,
        dependencies=[Depends(known_query_only)],
    )
    app.state.service = service
    app.state.api_keys = limits.api_keys

    @app.exception_handler(Rejection)
    async def _rejected(_req: Request, exc: Rejection) -> JSONResponse:
        UPLOADS.labels(exc.reason).inc()
        return error(exc.status, exc.reason, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        UPLOADS.labels("invalid_request").inc()
        return error(422, "invalid_request", [e.get("msg") for e in exc.errors()])

    @app.exception_handler(HTTPException)
    async def _http(_req: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, "http_error", exc.detail)

    @app.get("/v1/health", responses=documented({503: "Kafka unreachable: uploads would fail"}))
    async def health() -> JSONResponse:
        ok = await run_in_threadpool(service.healthy)
        body: dict[str, Any] = {"status": "ok" if ok else "degraded", "kafka": ok}
        body["topic"] = service.topic
        if not ok:  # the API's one error shape, so clients handle it like any other error
            body |= {"error": "kafka_unavailable", "detail": "the broker did not answer"}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.post(
        "/v1/frames",
        status_code=202,
        openapi_extra=BODY_DOC,
        dependencies=[Security(authorised)],
        responses={
            **UPLOAD_ERRORS,
            **documented({400: "empty, truncated or undecodable image; bad tag or camera id"}),
        },
    )
    async def post_frame(
        request: Request,
        camera_id: Annotated[
            str, Query(description="camera or source id: 1-128 of A-Z a-z 0-9 . _ : -")
        ] = "upload",
        tag: Annotated[
            list[str] | None, Query(description="key:value, repeatable (at most 64, 16 KiB)")
        ] = None,
    ) -> JSONResponse:
        """Accept one image; 202 with its frame id once Kafka has acknowledged the event."""
        camera_id = checked_camera_id(camera_id)
        tags = parse_tags(tag or [])
        data = await image_bytes(request, limits.max_upload_bytes)
        checked = await run_in_threadpool(
            check_image,
            data,
            max_pixels=limits.max_upload_pixels,
            jpeg_quality=limits.upload_jpeg_quality,
        )
        if checked.transcoded:
            tags.setdefault("vigil.original_format", checked.original_format.lower())
        try:
            accepted = await service.accept(checked, camera_id, tags)
        except NotAcknowledged as exc:
            UPLOADS.labels("not_acknowledged").inc()
            return error(503, "not_acknowledged", str(exc))
        UPLOADS.labels("accepted").inc()
        return JSONResponse(as_json(accepted), status_code=202)

    from connectors.api.poi import router as poi_router  # POST /v1/poi (issue 7)

    app.include_router(poi_router)
    from dashboards.web.routes import mount as mount_dashboard  # /dashboard/ (issue 10)

    mount_dashboard(app, settings)
    return app
