"""Runs every camera of the cameras file, each isolated; restarts crashed readers (rate-limited,
counted); re-reads the file every second so a camera added, changed or removed takes effect
without touching the others; rewrites the status file ``vigil cameras status`` reads."""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from connectors.blobstore import default_store
from connectors.frames import now_ms
from connectors.sources import metrics as m
from connectors.sources.camera import CameraRunner, CameraState
from connectors.sources.config import CameraConfig, load_cameras
from connectors.sources.publisher import FramePublisher, SequenceCounter, make_publisher
from vigil.cameras import write_status
from vigil.settings import ConfigError, CoreSettings

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(
        self,
        settings: CoreSettings,
        cameras_file: Path,
        *,
        publisher: FramePublisher | None = None,
        interval_s: float = 1.0,
        max_restarts: int = 5,
        restart_window_s: float = 60.0,
    ) -> None:
        self.settings = settings
        self.cameras_file = cameras_file
        self.publisher = publisher or make_publisher(settings, default_store(settings))
        self.interval_s = interval_s
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self.runners: dict[str, CameraRunner] = {}
        self.restarts: collections.Counter[str] = collections.Counter()
        self._restart_times: dict[str, collections.deque[float]] = {}
        self._sequences: dict[str, SequenceCounter] = {}
        self._file_stamp: tuple[int, int] | None = None
        self.config_error: str | None = None
        self.started_ms = now_ms()

    # one step of the control loop ------------------------------------------------------------
    def step(self) -> None:
        self._maybe_reload()
        self._restart_crashed()
        self.write_status()

    def run(self, stop: threading.Event) -> None:
        """The control loop, until ``stop`` is set; then stop every camera and flush."""
        try:
            while not stop.is_set():
                self.step()
                stop.wait(self.interval_s)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop every camera (its buffer is sent first), flush, and leave a final status."""
        for runner in self.runners.values():
            runner.stop()
        left = self.publisher.close()
        if left:
            log.error("%d frames still unacknowledged by Kafka at shutdown", left)
        self.write_status()

    # reconciliation --------------------------------------------------------------------------
    def _maybe_reload(self) -> None:
        try:
            st = self.cameras_file.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError as exc:
            self.config_error = f"cannot read {self.cameras_file}: {exc}"
            return
        if stamp == self._file_stamp:
            return
        self._file_stamp = stamp
        try:
            wanted = load_cameras(self.cameras_file)
        except ConfigError as exc:
            self.config_error = str(exc)
            log.error("%s; keeping the cameras that run", exc)
            return
        self.config_error = None
        self.reconcile(wanted)

    def reconcile(self, wanted: dict[str, CameraConfig]) -> None:
        for cam_id in [c for c in self.runners if c not in wanted]:
            log.info("camera %s removed from %s", cam_id, self.cameras_file)
            self._stop_camera(cam_id)
        for cam_id, cfg in wanted.items():
            current = self.runners.get(cam_id)
            if current is not None and current.cfg == cfg:
                continue
            if current is not None:
                log.info("camera %s changed; restarting it", cam_id)
                self._stop_camera(cam_id)
            self._start_camera(cfg)

    def _sequence(self, cam_id: str) -> SequenceCounter:
        if cam_id not in self._sequences:
            path = self.settings.data_dir / "ingest" / "sequences" / f"{cam_id}.next"
            self._sequences[cam_id] = SequenceCounter(path)
        return self._sequences[cam_id]

    def _start_camera(self, cfg: CameraConfig) -> None:
        runner = CameraRunner(cfg, self.publisher, self._sequence(cfg.id))
        self.runners[cfg.id] = runner
        runner.start()
        log.info("camera %s started (%s)", cfg.id, cfg.source_kind.value)

    def _stop_camera(self, cam_id: str) -> None:
        runner = self.runners.pop(cam_id)
        runner.stop()
        m.CAMERA_STATE.labels(cam_id).state(CameraState.STOPPED.value)

    def _restart_crashed(self) -> None:
        now = time.monotonic()
        for cam_id, runner in list(self.runners.items()):
            if not runner.needs_restart:
                continue
            times = self._restart_times.setdefault(cam_id, collections.deque())
            while times and now - times[0] > self.restart_window_s:
                times.popleft()
            if len(times) >= self.max_restarts:
                continue  # rate limit: stays failed until the window slides
            times.append(now)
            self.restarts[cam_id] += 1
            m.RESTARTS.labels(cam_id).inc()
            log.warning(
                "camera %s crashed (%s); restart %d",
                cam_id,
                runner.last_error,
                self.restarts[cam_id],
            )
            runner.stop(timeout_s=5)
            self._start_camera(runner.cfg)

    # status ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        cams = []
        for cam_id, runner in sorted(self.runners.items()):
            cams.append({**runner.status(), "restarts": self.restarts[cam_id]})
        return {
            "pid": os.getpid(),
            "started_ts_ms": self.started_ms,
            "updated_ts_ms": now_ms(),
            "cameras_file": str(self.cameras_file),
            "config_error": self.config_error,
            "topic": self.publisher.topic,
            "cameras": cams,
        }

    def write_status(self) -> None:
        write_status(self.settings, self.status())
