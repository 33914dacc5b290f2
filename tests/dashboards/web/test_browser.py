"""The dashboard in real headless Chromium (Debian's ``chromium``, driven by Playwright through
``executable_path``; ``playwright install`` is never used): log in, a camera with its rendered
frame, an alert appearing live after it is produced, charts with points, POI enrol and remove.
Screenshots go to the test's folder, and to ``docs/images/`` with ``VIGIL_SCREENSHOTS=1``."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from tests.conftest import IN_CI
from tests.dashboards.web.helpers import (
    POI_KEY,
    VIEWER_KEY,
    dashboard_settings,
    fill_clickhouse,
    publish,
    seed,
    serve,
)
from tests.gpu_workers.conftest import zoo_cache
from vigil.testing import poll_until, samples
from vigil.testing.media import frames
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

__all__ = ["zoo_cache"]
DOCS = Path(__file__).resolve().parents[3] / "docs" / "images"
TIMEOUT_MS = 30_000


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if IN_CI:
        pytest.fail("CI must run the browser tests: apt-get install chromium")
    pytest.skip("no chromium (apt-get install chromium)")


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def shot(page: Any, tmp_path: Path, name: str) -> None:
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
    if os.environ.get("VIGIL_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(target, DOCS / f"dashboard-{name}.png")


def wait_js(page: Any, expression: str, timeout_s: float = 30) -> None:
    """Poll ``expression`` through page.evaluate: Playwright's wait_for_function evaluates
    strings with eval, which the dashboard's Content-Security-Policy rightly forbids."""
    if not poll_until(lambda: page.evaluate(expression), timeout_s, 0.2):
        raise AssertionError(f"still false after {timeout_s:.0f}s: {expression}")


def log_in(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/dashboard/")
    assert page.url.endswith("/dashboard/login")  # refused, sent to the login form
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard/")


@pytest.mark.timeout(240)
def test_operator_sees_cameras_live_alerts_and_charts(
    browser: Any, settings: VigilSettings, tmp_path: Path
) -> None:
    s = dashboard_settings(settings)
    fill_clickhouse(s, camera="gate", minutes=6)
    seeded = seed(s, camera="gate")
    with serve(s) as base:
        # a fresh browser has no session: API routes answer 401, pages go to the login form
        anonymous = browser.new_page()
        assert anonymous.goto(f"{base}/dashboard/api/cameras").status == 401
        assert anonymous.goto(f"{base}/dashboard/static/app.js").url.endswith("/login")
        wrong = browser.new_page()
        wrong.goto(f"{base}/dashboard/login")
        wrong.fill("#key", "not-a-key")
        wrong.click("button[type=submit]")
        assert "not valid" in wrong.inner_text("#login-error")

        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        log_in(page, base, VIEWER_KEY)
        assert "viewer: faces blurred" in page.inner_text("#role")
        camera = page.locator('figure[data-camera="gate"]')
        assert camera.locator(".state").inner_text() == "streaming"
        wait_js(
            page,
            "document.querySelector('figure[data-camera=\"gate\"] img').naturalWidth >= 320",
        )
        assert "person\u00d71" in camera.locator(".labels").inner_text()
        # the seeded alert is listed, its POI identity hidden from a viewer
        first = page.locator(f'tr[data-incident="{seeded["alert"]["incident_id"]}"]')
        assert "lobby-after-hours" in first.inner_text()
        assert "(hidden)" in first.inner_text()

        # charts from ClickHouse (chDB here): points drawn, the drift alarm marked
        for chart in ("detections", "alerts", "drift"):
            wait_js(page, f"Number(document.querySelector('#chart-{chart}').dataset.points) > 0")
        assert page.locator("#chart-detections circle.point").count() >= 6
        assert page.locator("#chart-drift path.alarm").count() == 1
        assert "person" in page.inner_text("#chart-detections .legend")

        # a new alert appears without a reload (server-sent events)
        wait_js(page, "document.querySelector('#live-status').textContent === 'live'")
        incident = f"i-live-{uuid.uuid4().hex[:6]}"
        alert = {
            **samples.alert(),
            "camera_id": "gate",
            "frame_id": seeded["frame"]["frame_id"],
            "rule_id": "gate-intrusion",
            "incident_id": incident,
            "alert_id": f"a-{incident}",
            "severity": "CRITICAL",
            "poi_id": None,
            "poi_similarity": None,
            "alert_ts_ms": int(time.time() * 1000),
        }
        publish(s, Topic.ALERTS, [alert])
        row = page.locator(f'tr[data-incident="{incident}"]')
        row.wait_for(timeout=TIMEOUT_MS)
        assert "gate-intrusion" in row.inner_text()
        assert "CRITICAL" in row.inner_text()
        assert page.locator("#incidents tr").first.get_attribute("data-incident") == incident
        wait_js(
            page,
            f"document.querySelector('tr[data-incident=\"{incident}\"] img.snap')"
            "?.naturalWidth > 0",
        )
        shot(page, tmp_path, "overview")
        assert page.locator('a[href="/dashboard/poi"]').count() == 0  # not for viewers
        page.click("#logout")
        page.wait_for_url(f"{base}/dashboard/login")
        assert page.goto(f"{base}/dashboard/api/alerts").status == 401


@pytest.mark.timeout(240)
def test_poi_role_enrols_and_removes_a_person(
    browser: Any, settings: VigilSettings, zoo_cache: Path, tmp_path: Path
) -> None:
    s = dashboard_settings(settings).model_copy(update={"cache_dir": zoo_cache})
    seed(s, camera="gate")
    face = tmp_path / "carphone.png"
    cv2.imwrite(str(face), frames("carphone_pristine.mp4", [0])[0])
    with serve(s) as base:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        log_in(page, base, POI_KEY)
        assert "POI role: faces shown" in page.inner_text("#role")
        page.click('a[href="/dashboard/poi"]')
        page.wait_for_url(f"{base}/dashboard/poi")
        assert "Nobody is on the watch-list" in page.inner_text("#poi-list")
        page.fill("#person-id", "carphone-man")
        page.fill("#person-name", "Carphone")
        page.set_input_files("#person-files", str(face))
        page.click("#enrol button[type=submit]")
        row = page.locator('tr[data-person="carphone-man"]')
        row.wait_for(timeout=90_000)  # the face models load on the first enrolment
        assert "Carphone" in row.inner_text()
        assert row.locator("td").nth(2).inner_text() == "1"  # one face
        shot(page, tmp_path, "poi")
        row.locator("button.remove").click()
        row.wait_for(state="detached", timeout=TIMEOUT_MS)
        assert "Nobody is on the watch-list" in page.inner_text("#poi-list")
