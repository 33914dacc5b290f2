"""``POST /v1/poi``: enrol a person of interest from one or more face images. Needs a key of
the ``poi`` role (the watch-list permission), and the upload API's per-key rate, decode slots
and input limits (bytes, pixels, formats by magic bytes, all before decoding).
Exactly one good face per image, else a 422 naming the images at fault and nothing published;
201 once Kafka acknowledged the enrolment on ``vigil.poi``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Security
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from connectors.api.app import (
    MULTIPART_OVERHEAD,
    UPLOAD_ERRORS,
    charge_upload,
    documented,
    error,
    parse_form,
    read_limited,
)
from vigil.access import Permission
from vigil.faces import EnrollmentError, FaceModels
from vigil.poi import publish_enrollment
from vigil.web.access import Principal, allow
from vigil.web.images import Rejection, check_image

MAX_IMAGES = 8
router = APIRouter()


async def poi_images(request: Request, max_bytes: int) -> list[tuple[str, bytes]]:
    """The images of the request: raw bytes, or every ``file`` part of a multipart form."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return [("image", await read_limited(request, max_bytes))]
    body = await read_limited(request, max_bytes * MAX_IMAGES + MULTIPART_OVERHEAD)
    form = await parse_form(request, body, max_files=MAX_IMAGES, max_fields=16)
    parts = [p for p in form.getlist("file") if isinstance(p, UploadFile)]
    if not parts:
        raise Rejection(400, "missing_file", "multipart body needs one or more 'file' parts")
    out = []
    for i, part in enumerate(parts):
        data = await part.read()
        if len(data) > max_bytes:
            raise Rejection(
                413, "body_too_large", f"file {i}: {len(data)} bytes; limit {max_bytes}"
            )
        out.append((part.filename or f"file {i}", data))
    return out


def _enrol(
    request: Request,
    person_id: str,
    images: list[tuple[str, bytes]],
    name: str | None,
    threshold: float | None,
) -> dict[str, Any]:
    settings = request.app.state.service.settings
    limits = settings.ingest
    decoded = []
    for label, data in images:
        checked = check_image(
            data, max_pixels=limits.max_upload_pixels, jpeg_quality=limits.upload_jpeg_quality
        )
        decoded.append((label, checked.jpeg))
    faces: FaceModels = request.app.state.faces  # loads its models on the first enrolment
    enrollment = faces.enroll(person_id, decoded, display_name=name, match_threshold=threshold)
    publish_enrollment(settings, enrollment.record, timeout_s=limits.ack_timeout_s)
    return {
        "person_id": person_id,
        "faces": enrollment.faces,
        "embedding_model": enrollment.record["embedding_model"],
    }


@router.post(
    "/v1/poi",
    status_code=201,
    responses={
        **UPLOAD_ERRORS,
        **documented(
            {
                403: "the key's role is not poi",
                422: "an image without exactly one good face, or a query parameter out of "
                "range; nothing published",
            }
        ),
    },
)
async def enroll_poi(
    request: Request,
    who: Annotated[Principal, Security(allow(Permission.WATCHLIST))],
    person_id: Annotated[str, Query(pattern=r"^[A-Za-z0-9._:@-]{1,128}$")],
    name: Annotated[str | None, Query(max_length=256)] = None,
    threshold: Annotated[
        float | None,
        Query(gt=0, le=1, description="cosine similarity a match needs; none: the default"),
    ] = None,
) -> JSONResponse:
    """Enrol (or re-enrol) a person of interest from the posted face images (role ``poi``)."""
    charge_upload(request, who)
    images = await poi_images(request, request.app.state.service.settings.ingest.max_upload_bytes)
    try:
        async with request.app.state.decode_slots.slot():
            body = await run_in_threadpool(_enrol, request, person_id, images, name, threshold)
    except EnrollmentError as exc:
        return error(422, "no_single_face", str(exc))
    except (TimeoutError, RuntimeError) as exc:
        return error(503, "not_acknowledged", str(exc))
    return JSONResponse(body, status_code=201)
