"""``vigil api``'s app: the upload API and the dashboard, two routers mounted side by side on
one FastAPI app, with the POI enrolment, the key admin and the ops routes, and the face models
handed in. Neither component imports the other; this is where they meet."""

from __future__ import annotations

from confluent_kafka import Producer
from fastapi import FastAPI

from connectors.api.app import create_app as create_upload_app
from connectors.api.poi import enroll_poi
from connectors.api.poi import router as poi_router
from connectors.blobstore import BlobStore
from dashboards.web.routes import mount as mount_dashboard
from gpu_workers.faces import CascadeFaces
from vigil.faces import FaceModels
from vigil.web.admin import router as admin_router
from vigil.web.ops import mount_ops
from vigil_app.settings import VigilSettings


def create_app(
    settings: VigilSettings,
    *,
    producer: Producer | None = None,
    blobs: BlobStore | None = None,
    faces: FaceModels | None = None,
) -> FastAPI:
    """The app ``vigil api`` serves; ``producer``, ``blobs`` and ``faces`` replace the ones
    built from ``settings`` (tests)."""
    faces = faces if faces is not None else CascadeFaces(settings)
    app = create_upload_app(settings, producer=producer, blobs=blobs)
    app.state.faces = faces
    app.state.enroll_poi = enroll_poi
    app.state.session_ttl_s = settings.dashboard.session_ttl_s
    app.include_router(poi_router)  # POST /v1/poi
    app.include_router(admin_router)  # /v1/admin
    mount_ops(app, settings)  # /metrics, and /docs behind a key
    mount_dashboard(  # /dashboard/
        app, settings, faces, pseudonym_key=settings.alerting.log_pseudonym_key
    )
    return app
