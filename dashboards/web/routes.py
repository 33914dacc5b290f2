"""The dashboard's routes under ``/dashboard``. Every route but the login form needs a valid key
or session (pages redirect to the login form, ``/dashboard/api/*`` answers 401); changes need the
POI role and the ``X-Vigil-Request`` header (a cross-site form cannot send it). Images are served
only through the signed URLs the pages are given, as the viewer's role may see them
(dashboards/web/frames.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import Counter, Gauge
from starlette.concurrency import run_in_threadpool

from dashboards.web.auth import COOKIE, Auth, Forbidden, NotAuthenticated, Viewer
from dashboards.web.charts import CAMERA, CHARTS, ChartReader, ChartsUnavailable
from dashboards.web.frames import FrameViews
from dashboards.web.live import LiveState, incidents
from vigil.settings import VigilSettings

log = logging.getLogger(__name__)

LOGINS = Counter("vigil_dashboard_logins", "Dashboard logins by outcome", ["outcome"])
LIVE_CLIENTS = Gauge("vigil_dashboard_live_clients", "Open live-alert feeds (server-sent events)")
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
STATIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
PERSON = r"^[A-Za-z0-9._:@-]{1,128}$"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/dashboard", include_in_schema=False)
templates = Environment(
    loader=PackageLoader("dashboards.web", "templates"), autoescape=select_autoescape()
)


class Dashboard:
    """Per-app state: auth, the live reader (started on first use), charts, the POI feed."""

    def __init__(self, settings: VigilSettings) -> None:
        self.settings = settings
        self.auth = Auth(settings)
        self.live = LiveState(settings)
        self.charts = ChartReader(settings)
        self.frames = FrameViews(settings, self.live)
        self._poi: Any = None

    def poi_feed(self) -> Any:
        if self._poi is None:
            from streams.alerting.poi import PoiFeed

            self._poi = PoiFeed(self.settings).start()
        return self._poi

    def close(self) -> None:
        self.live.stop()
        if self._poi is not None:
            self._poi.stop()


def state(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


def viewer(request: Request) -> Viewer:
    found = state(request).auth.viewer_of(request)
    if found is None:
        raise NotAuthenticated()
    state(request).live.start()
    return found


def poi_viewer(request: Request, who: Annotated[Viewer, Depends(viewer)]) -> Viewer:
    if not who.poi:
        raise Forbidden()
    if request.method not in ("GET", "HEAD") and request.headers.get("x-vigil-request") != "1":
        raise Forbidden()
    return who


Who = Annotated[Viewer, Depends(viewer)]
PoiWho = Annotated[Viewer, Depends(poi_viewer)]


def page(name: str, inline_style: bool = False, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    headers = dict(SECURITY_HEADERS)
    if inline_style:  # the login page: no session yet, so no static files either
        headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'"
        )
    return HTMLResponse(html, headers=headers)


# pages -------------------------------------------------------------------------------------------
@router.get("/login")
async def login_form(error: str = "") -> HTMLResponse:
    return page("login.html", inline_style=True, error=error[:80])


@router.post("/login")
async def login(request: Request, key: Annotated[str, Form(max_length=512)]) -> Response:
    cookie = state(request).auth.login(key.strip())
    if cookie is None:
        LOGINS.labels("refused").inc()
        return page(
            "login.html", inline_style=True, error="That key is not valid (or was already used)."
        )
    LOGINS.labels("ok").inc()
    resp = RedirectResponse("/dashboard/", status_code=303)
    auth = state(request).auth
    resp.set_cookie(
        COOKIE,
        cookie,
        max_age=int(auth.ttl_s),
        httponly=True,
        samesite="strict",
        secure=auth.cookie_secure,
        path="/dashboard",
    )
    return resp


@router.post("/logout")
async def logout(_who: Who) -> Response:
    resp = RedirectResponse("/dashboard/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/dashboard")
    return resp


@router.get("/")
async def overview(request: Request, who: Who) -> HTMLResponse:
    dash = state(request)
    await run_in_threadpool(dash.live.caught_up.wait, 5.0)
    alerts = [dash.frames.alert(a, who) for a in dash.live.recent_alerts()]
    return page(
        "overview.html",
        who=who,
        cameras=dash.frames.camera_rows(who),
        incidents=incidents(alerts)[:50],
        live_error=dash.live.error,
        backend=dash.charts.backend,
        charts=CHARTS,
    )


@router.get("/poi")
async def poi_page(request: Request, who: PoiWho) -> HTMLResponse:
    feed = state(request).poi_feed()
    await run_in_threadpool(_wait_quietly, feed, 10.0)
    return page("poi.html", who=who, persons=_persons(feed))


def _wait_quietly(feed: Any, timeout_s: float) -> None:
    try:
        feed.wait(timeout_s)
    except TimeoutError:
        log.warning("POI list not loaded within %.0fs; showing what arrived", timeout_s)


def _persons(feed: Any) -> list[dict[str, Any]]:
    return [
        {
            "person_id": pid,
            "display_name": rec.get("display_name") or "",
            "faces": len(rec["embeddings"]),
            "embedding_model": rec["embedding_model"],
            "enrolled_ts_ms": rec["enrolled_ts_ms"],
        }
        for pid, rec in sorted(dict(feed.records).items())
    ]


@router.get("/static/{name:path}")
async def static(name: str, _who: Who) -> Response:
    """Only files directly in ``static/`` with a known type: ``..``, absolute paths, encoded
    separators and symlinks out of the folder all end in 404."""
    if not STATIC_NAME.match(name):
        return JSONResponse({"error": "not_found", "detail": "no such file"}, status_code=404)
    root = STATIC.resolve()
    candidate = (root / name).resolve()
    if candidate.parent != root or not candidate.is_file() or candidate.suffix not in STATIC_TYPES:
        return JSONResponse({"error": "not_found", "detail": "no such file"}, status_code=404)
    return FileResponse(candidate, media_type=STATIC_TYPES[candidate.suffix])


# API ---------------------------------------------------------------------------------------------
@router.get("/api/cameras")
async def cameras(request: Request, who: Who) -> JSONResponse:
    return JSONResponse({"cameras": state(request).frames.camera_rows(who)})


@router.get("/api/cameras/{camera_id}/frame.jpg")
async def camera_frame(request: Request, camera_id: str, who: Who) -> Response:
    views = state(request).frames
    refused = views.refusal("camera", camera_id, who, request.query_params)
    if refused is not None:
        return refused
    return await run_in_threadpool(views.jpeg, views.live.display_frame(camera_id), who)


@router.get("/api/frames/{frame_id}.jpg")
async def frame_snapshot(request: Request, frame_id: str, who: Who) -> Response:
    views = state(request).frames
    refused = views.refusal("frame", frame_id, who, request.query_params)
    if refused is not None:
        return refused
    return await run_in_threadpool(views.jpeg, views.live.frame(frame_id), who)


@router.get("/api/alerts")
async def alerts(request: Request, who: Who) -> JSONResponse:
    dash = state(request)
    recent = [dash.frames.alert(a, who) for a in dash.live.recent_alerts()]
    return JSONResponse({"incidents": incidents(recent), "alerts": recent})


@router.get("/api/alerts/stream")
async def alert_stream(request: Request, who: Who) -> StreamingResponse:
    dash = state(request)
    live = dash.live
    queue = live.subscribe()

    async def events() -> AsyncIterator[str]:
        LIVE_CLIENTS.inc()
        try:
            yield "retry: 3000\n\n"
            while not await request.is_disconnected():
                try:
                    alert = await asyncio.wait_for(queue.get(), timeout=10)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                body = json.dumps(dash.frames.alert(alert, who), default=str)
                yield f"event: alert\ndata: {body}\n\n"
        finally:
            live.unsubscribe(queue)
            LIVE_CLIENTS.dec()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.get("/api/charts/{name}")
async def chart(
    request: Request,
    name: str,
    _who: Who,
    camera: Annotated[str, Query(pattern=CAMERA.pattern)] = "",
    minutes: Annotated[int, Query(ge=1, le=43_200)] = 60,
) -> JSONResponse:
    if name not in CHARTS:
        return JSONResponse({"error": "not_found", "detail": f"charts: {CHARTS}"}, 404)
    try:
        body = await run_in_threadpool(state(request).charts.chart, name, camera, minutes)
    except ChartsUnavailable as exc:
        return JSONResponse({"error": "clickhouse_unavailable", "detail": str(exc)}, 503)
    return JSONResponse(body)


@router.get("/api/poi")
async def poi_list(request: Request, _who: PoiWho) -> JSONResponse:
    feed = state(request).poi_feed()
    await run_in_threadpool(_wait_quietly, feed, 10.0)
    return JSONResponse({"persons": _persons(feed)})


@router.post("/api/poi")
async def poi_enrol(
    request: Request,
    _who: PoiWho,
    person_id: Annotated[str, Query(pattern=PERSON)],
    name: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """The upload API's enrolment (same limits, same face checks) behind the session."""
    from connectors.api.poi import enroll_poi

    resp = await enroll_poi(request, person_id, name, None)
    if resp.status_code == 201:
        await _await_person(request, person_id, present=True)
    return resp


@router.delete("/api/poi/{person_id}")
async def poi_remove(request: Request, person_id: str, _who: PoiWho) -> JSONResponse:
    from streams.alerting.poi import publish_removal

    if not re.match(PERSON, person_id):
        return JSONResponse({"error": "invalid_person_id", "detail": PERSON}, 422)
    try:
        await run_in_threadpool(publish_removal, state(request).settings, person_id, 30)
    except (TimeoutError, RuntimeError) as exc:
        return JSONResponse({"error": "not_acknowledged", "detail": str(exc)}, 503)
    await _await_person(request, person_id, present=False)
    return JSONResponse({"person_id": person_id, "removed": True})


async def _await_person(request: Request, person_id: str, *, present: bool) -> None:
    """Until the feed has seen the change, so the list the browser reloads shows it."""
    feed = state(request).poi_feed()
    deadline = time.monotonic() + 10
    while (person_id in feed.records) != present and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


# wiring ------------------------------------------------------------------------------------------
def mount(app: FastAPI, settings: VigilSettings) -> None:
    """Add the dashboard to the upload API's app (``vigil api``)."""
    if not settings.dashboard.enabled:
        return
    app.state.dashboard = Dashboard(settings)
    app.include_router(router)

    @app.exception_handler(NotAuthenticated)
    async def _unauthenticated(request: Request, _exc: NotAuthenticated) -> Response:
        if request.url.path.startswith("/dashboard/api/") or request.method != "GET":
            return JSONResponse(
                {"error": "unauthorized", "detail": "log in or send X-API-Key"}, 401
            )
        return RedirectResponse("/dashboard/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(_request: Request, _exc: Forbidden) -> Response:
        return JSONResponse(
            {"error": "forbidden", "detail": "needs the POI role (and X-Vigil-Request: 1)"}, 403
        )
