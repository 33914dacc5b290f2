"""The dashboard's routes under ``/dashboard``. Every route but the login form states its
permission (``vigil.access``): ``view`` for the pages and feeds, ``watchlist`` for the POI pages
and changes. Without a valid key or session pages redirect to the login form and
``/dashboard/api/*`` answers 401; changes also need the ``X-Vigil-Request`` header (a cross-site
form cannot send it). Images are served only through the signed URLs the pages are given, as the
viewer's role may see them (dashboards/web/frames.py)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Security
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
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from dashboards.web.accuracy import MODEL_ACCURACY
from dashboards.web.auth import COOKIE, Auth, Forbidden, NotAuthenticated, Viewer
from dashboards.web.charts import CAMERA, CHARTS, ChartReader, ChartsUnavailable
from dashboards.web.frames import FrameViews
from dashboards.web.live import LiveState, incidents
from dashboards.web.login import charge_login, login_key, login_limiter
from dashboards.web.settings import DashboardProcessSettings
from vigil.access import Permission
from vigil.faces import FaceModels
from vigil.poi import PERSON_ID, PoiFeed, publish_removal
from vigil.web.access import EnrollPoi, Gate, allow

log = logging.getLogger(__name__)

LOGINS = Counter("vigil_dashboard_logins", "Dashboard logins by outcome", ["outcome"])
LIVE_CLIENTS = Gauge("vigil_dashboard_live_clients", "Open live-alert feeds (server-sent events)")
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
STATIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
PERSON = PERSON_ID
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

    def __init__(
        self,
        settings: DashboardProcessSettings,
        gate: Gate | None,
        faces: FaceModels,
        pseudonym_key: SecretStr | None = None,
    ) -> None:
        self.settings = settings
        self.pseudonym_key = pseudonym_key
        self.auth = Auth(settings, gate)
        self.login_rate = login_limiter(settings.dashboard)
        self.live = LiveState(settings)
        self.charts = ChartReader(settings)
        MODEL_ACCURACY.attach(self.charts, settings.dashboard.accuracy_refresh_s)
        self.frames = FrameViews(settings, self.live, faces)
        self._poi: PoiFeed | None = None

    def poi_feed(self) -> PoiFeed:
        if self._poi is None:
            self._poi = PoiFeed(self.settings, pseudonym_key=self.pseudonym_key).start()
        return self._poi

    def close(self) -> None:
        MODEL_ACCURACY.attach(None)
        self.live.stop()
        if self._poi is not None:
            self._poi.stop()


def state(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


def viewer(request: Request, who: Annotated[Viewer, Security(allow(Permission.VIEW))]) -> Viewer:
    state(request).live.start()
    return who


def poi_viewer(
    request: Request, who: Annotated[Viewer, Security(allow(Permission.WATCHLIST))]
) -> Viewer:
    if request.method not in ("GET", "HEAD") and request.headers.get("x-vigil-request") != "1":
        raise Forbidden("a change needs the X-Vigil-Request: 1 header")
    return who


Who = Annotated[Viewer, Security(viewer)]
PoiWho = Annotated[Viewer, Security(poi_viewer)]


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
async def login(request: Request) -> Response:
    """Rate-limited per address (429), body capped before parsing (413); a viewer or POI key,
    or a one-time key, gets a session cookie."""
    dash = state(request)
    charge_login(request, dash.login_rate)
    key = await login_key(request, dash.settings.dashboard.login_max_bytes)
    session = dash.auth.open_session(key)
    if session is None:
        LOGINS.labels("refused").inc()
        return page(
            "login.html", inline_style=True, error="That key is not valid (or was already used)."
        )
    LOGINS.labels("ok").inc()
    who = session.who
    log.info(
        "dashboard login: role=%s key=%s%s session=%s",
        who.role,
        who.key_id,
        " (one-time)" if session.one_time else "",
        who.session_id,
    )
    resp = RedirectResponse("/dashboard/", status_code=303)
    auth = dash.auth
    resp.set_cookie(
        COOKIE,
        session.cookie,
        max_age=int(auth.ttl_s),
        httponly=True,
        samesite="strict",
        secure=auth.cookie_secure,
        path="/dashboard",
    )
    return resp


@router.post("/logout")
async def logout(request: Request, who: Who) -> Response:
    state(request).auth.end_session(who)
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
    who: PoiWho,
    person_id: Annotated[str, Query(pattern=PERSON)],
    name: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """The upload API's enrolment (same limits, same face checks) behind the session: the
    composition root hands it in as ``app.state.enroll_poi``."""
    enroll: EnrollPoi = request.app.state.enroll_poi
    resp = await enroll(request, who, person_id, name, None)
    if resp.status_code == 201:
        await _await_person(request, person_id, present=True)
    return resp


@router.delete("/api/poi/{person_id}")
async def poi_remove(request: Request, person_id: str, _who: PoiWho) -> JSONResponse:
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
def mount(
    app: FastAPI,
    settings: DashboardProcessSettings,
    faces: FaceModels,
    *,
    pseudonym_key: SecretStr | None = None,
) -> None:
    """Add the dashboard to the app the upload API built (``vigil api``): the composition root
    mounts the two side by side. ``app.state`` must hold the key ``gate`` and ``enroll_poi``."""
    if not settings.dashboard.enabled:
        return
    dash = app.state.dashboard = Dashboard(settings, app.state.gate, faces, pseudonym_key)
    app.state.gate.sessions = dash.auth.from_request
    app.include_router(router)

    api_handler = app.exception_handlers[NotAuthenticated]

    @app.exception_handler(NotAuthenticated)
    async def _unauthenticated(request: Request, exc: NotAuthenticated) -> Response:
        """Dashboard pages redirect to the login form; everything else answers 401."""
        path = request.url.path
        if not path.startswith("/dashboard/"):
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        if path.startswith("/dashboard/api/") or request.method != "GET":
            return JSONResponse(
                {"error": "unauthorized", "detail": "log in or send X-API-Key"}, 401
            )
        return RedirectResponse("/dashboard/login", status_code=303)
