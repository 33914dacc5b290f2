"""``POST /v1/frames``, ``GET /v1/health`` and the OpenAPI document (``/openapi.json``,
``/docs``, behind a key by default). Every rejection is a 4xx JSON body ``{"error": reason,
"detail": ...}``; the key, the per-key rate and the tags are checked before the body is read,
limits before decoding, and nothing rejected reaches the topic."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from confluent_kafka import Producer
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from connectors.api.service import NotAcknowledged, StorageFull, UploadService, as_json
from connectors.api.validation import camera_id as checked_camera_id
from connectors.api.validation import parse_tags
from connectors.blobstore import BlobStore
from vigil import __version__
from vigil.access import Permission
from vigil.access import key_matches as key_matches  # re-exported for older imports
from vigil.settings import CoreSettings
from vigil.web.access import (
    AUTH_ERRORS,
    Forbidden,
    Gate,
    GateUnavailable,
    NotAuthenticated,
    Principal,
    allow,
)
from vigil.web.errors import ApiError as ApiError
from vigil.web.errors import documented as documented
from vigil.web.errors import error as error
from vigil.web.forms import parse_form as parse_form
from vigil.web.forms import read_limited as read_limited
from vigil.web.images import HttpRejection, check_image
from vigil.web.limits import DecodeSlots, Limited, TokenBuckets

log = logging.getLogger(__name__)

UPLOADS = Counter("vigil_api_uploads", "Upload requests by outcome", ["outcome"])
MULTIPART_OVERHEAD = 64 * 1024

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


# The error answers every image-upload route shares (frames here, POI enrolment in poi.py).
UPLOAD_ERRORS = {
    **AUTH_ERRORS,
    **documented(
        {
            400: "empty, truncated or undecodable image; malformed multipart",
            413: "body or pixel count over the limit",
            415: "not JPEG, PNG or WebP (by magic bytes)",
            422: "a query parameter out of its documented range",
            429: "this key's upload rate is spent; see Retry-After",
            503: "Kafka did not acknowledge, the decoders are busy (Retry-After) or the "
            "revocation list cannot be read; nothing was accepted",
        }
    ),
}


def reserved(tag: str) -> bool:
    """Tags that steer the pipeline (``faces`` forces the face cascade; ``vigil.*`` are
    Vigil's own): only trusted uploaders may set them."""
    return tag == "faces" or tag.startswith("vigil.")


def check_tags(request: Request, who: Principal, tags: dict[str, str]) -> None:
    taken = sorted(t for t in tags if reserved(t))
    trusted = request.app.state.service.settings.access.trusted_uploaders
    if taken and who.key_id not in trusted:
        raise HttpRejection(
            403,
            "reserved_tag",
            f"tags {taken} are reserved (faces, vigil.*); this key is not in "
            "access.trusted_uploaders",
        )


def charge_upload(request: Request, who: Principal) -> None:
    """One token of the key's upload rate, before the body is read."""
    wait = request.app.state.upload_rate.take(who.key_id)
    if wait > 0:
        raise Limited(429, "rate_limited", "this key's upload rate is spent", wait)


async def image_bytes(request: Request, max_bytes: int) -> bytes:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return await read_limited(request, max_bytes)
    body = await read_limited(request, max_bytes + MULTIPART_OVERHEAD)
    form = await parse_form(request, body, max_files=1, max_fields=16)
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise HttpRejection(400, "missing_file", "multipart body needs a 'file' part")
    data = await part.read()
    if len(data) > max_bytes:
        raise HttpRejection(413, "body_too_large", f"{len(data)} bytes; limit {max_bytes}")
    return data


def known_query_only(request: Request) -> None:
    """A query parameter the route does not take is refused, not ignored: ``?camera=x`` for
    ``?camera_id=x`` would otherwise upload to the default camera without a word."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.url.path.startswith("/v1/"):  # the documented API
        return
    known: set[str] = set()
    todo = [dependant]
    while todo:  # the route's own parameters and those of every dependency it has
        dep = todo.pop()
        known |= {p.alias for p in dep.query_params}
        todo.extend(dep.dependencies)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise HttpRejection(
            400, "unknown_parameter", f"not a parameter of this route: {unknown[:5]}"
        )


def create_app(
    settings: CoreSettings,
    *,
    producer: Producer | None = None,
    blobs: BlobStore | None = None,
) -> FastAPI:
    service = UploadService(settings, producer, blobs)
    limits = settings.ingest
    protect_docs = settings.access.protect_docs

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
        # every route's 422 is the API's error body, not FastAPI's HTTPValidationError
        responses=documented(
            {
                400: "a query parameter the route does not take (unknown_parameter)",
                422: "a parameter out of its documented range",
            }
        ),
        docs_url=None if protect_docs else "/docs",
        redoc_url=None if protect_docs else "/redoc",
        openapi_url=None if protect_docs else "/openapi.json",
    )
    app.state.service = service
    app.state.gate = Gate(settings)
    app.state.upload_rate = TokenBuckets(limits.uploads_per_s, limits.upload_burst)
    app.state.decode_slots = DecodeSlots(limits.max_decodes, limits.decode_wait_s)

    @app.exception_handler(HttpRejection)
    async def _rejected(_req: Request, exc: HttpRejection) -> JSONResponse:
        UPLOADS.labels(exc.reason).inc()
        retry = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry)} if retry is not None else None
        return error(exc.status, exc.reason, exc.detail, headers)

    @app.exception_handler(NotAuthenticated)
    async def _unauthenticated(_req: Request, _exc: NotAuthenticated) -> JSONResponse:
        UPLOADS.labels("unauthorized").inc()
        return error(401, "unauthorized", "missing, wrong or revoked key (X-API-Key)")

    @app.exception_handler(Forbidden)
    async def _forbidden(_req: Request, exc: Forbidden) -> JSONResponse:
        return error(403, "forbidden", exc.detail)

    @app.exception_handler(GateUnavailable)
    async def _gate_down(_req: Request, exc: GateUnavailable) -> JSONResponse:
        log.error("refusing every key: %s", exc)
        return error(503, "access_unavailable", "the revocation list cannot be read")

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
        responses={
            **UPLOAD_ERRORS,
            **documented(
                {
                    400: "empty, truncated or undecodable image; bad tag or camera id",
                    403: "the key is not an ingest key, or sets a reserved tag",
                    507: "the blob store (images over the inline limit) has no space left; "
                    "nothing was accepted: retry once space is freed",
                }
            ),
        },
    )
    async def post_frame(
        request: Request,
        who: Annotated[Principal, Security(allow(Permission.UPLOAD))],
        camera_id: Annotated[
            str, Query(description="camera or source id: 1-128 of A-Z a-z 0-9 . _ : -")
        ] = "upload",
        tag: Annotated[
            list[str] | None, Query(description="key:value, repeatable (at most 64, 16 KiB)")
        ] = None,
    ) -> JSONResponse:
        """Accept one image (role ``ingest``); 202 with its frame id once Kafka has acknowledged
        the event. Tags ``faces`` and ``vigil.*`` need a key in ``access.trusted_uploaders``."""
        camera_id = checked_camera_id(camera_id)
        charge_upload(request, who)
        tags = parse_tags(tag or [])
        check_tags(request, who, tags)
        data = await image_bytes(request, limits.max_upload_bytes)
        async with app.state.decode_slots.slot():
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
        except StorageFull as exc:
            UPLOADS.labels("storage_full").inc()
            log.error("upload refused: %s", exc)
            return error(507, "insufficient_storage", str(exc))
        UPLOADS.labels("accepted").inc()
        return JSONResponse(as_json(accepted), status_code=202)

    return app
