"""The operator's routes behind keys: ``/openapi.json`` and ``/docs`` (any role's key when
``access.protect_docs``, the default) and ``/metrics`` on the API's port (admin or metrics keys)
when ``access.protect_metrics``. Unprotected, FastAPI serves the documents itself and ``vigil
api`` serves /metrics on ``metrics_port`` as every other command does."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Security
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from vigil.access import Permission
from vigil.settings import CoreSettings
from vigil.web.access import Principal, allow

Docs = Annotated[Principal, Security(allow(Permission.DOCS))]
Metrics = Annotated[Principal, Security(allow(Permission.METRICS))]


def mount_ops(app: FastAPI, settings: CoreSettings) -> None:
    if settings.access.protect_docs:

        @app.get("/openapi.json", include_in_schema=False)
        async def openapi(_who: Docs) -> JSONResponse:
            return JSONResponse(app.openapi())

        @app.get("/docs", include_in_schema=False)
        async def docs(_who: Docs) -> HTMLResponse:
            # the document goes inline: the page's own fetch of /openapi.json carries no key
            return get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{app.title} - docs",
                swagger_ui_parameters={"spec": app.openapi()},
            )

    if settings.access.protect_metrics:

        @app.get("/metrics", include_in_schema=False)
        async def metrics(_who: Metrics) -> Response:
            return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
