"""One camera, isolated in its own two threads: a reader (open, sample, encode, reconnect with
backoff forever) and a sender (buffer -> Kafka). Its state machine is a Prometheus enum and part
of the status file.

Threads, not processes: OpenCV releases the GIL while FFmpeg demuxes/decodes and while
resizing/encoding, every blocking read has a timeout (``stall_timeout_s``), and all cameras share
one librdkafka producer (one connection set, batching across cameras). A reader that raises is
caught, marked ``failed`` and restarted by the supervisor; a camera cannot stall another because
each has its own buffer and its own cap on unacknowledged frames in the shared producer."""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from typing import Any

import cv2

from connectors.frames import EncodedFrame, now_ms
from connectors.sources import metrics as m
from connectors.sources.config import CameraConfig
from connectors.sources.publisher import FrameBuffer, FramePublisher, SequenceCounter
from connectors.sources.reader import Sampler, SourceError, encode, is_live, open_capture

log = logging.getLogger(__name__)


class CameraState(enum.StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKING_OFF = "backing_off"
    FAILED = "failed"  # the reader crashed; the supervisor restarts it (rate-limited)
    FINISHED = "finished"  # a file without ``loop`` reached its end
    STOPPED = "stopped"


def backoff_delay(cfg: CameraConfig, attempt: int, rng: random.Random) -> float:
    """Exponential backoff with jitter: uniform in [d/2, d], d = initial * multiplier**attempt."""
    b = cfg.backoff
    delay = min(b.max_s, b.initial_s * b.multiplier ** min(attempt, 64))
    return rng.uniform(delay / 2, delay)


class CameraRunner:
    def __init__(
        self,
        cfg: CameraConfig,
        publisher: FramePublisher,
        sequence: SequenceCounter,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.publisher = publisher
        self.sequence = sequence
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        self.buffer = FrameBuffer(cfg.id, cfg.buffer_frames, cfg.policy)
        self.state = CameraState.STOPPED
        self.frames_captured = 0
        self.reconnects = 0
        self.last_sequence: int | None = None
        self.last_frame_mono: float | None = None
        self.last_error: str | None = None
        self.crashed: BaseException | None = None
        self.started_ts_ms: int | None = None
        self._stop = threading.Event()
        self._hard_stop = threading.Event()
        self._reader = threading.Thread(target=self._run_reader, name=f"cam-{cfg.id}", daemon=True)
        self._sender = threading.Thread(target=self._run_sender, name=f"send-{cfg.id}", daemon=True)

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.started_ts_ms = now_ms()
        self._set(CameraState.CONNECTING)
        self._reader.start()
        self._sender.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop reading, send what is buffered, then end; threads joined with a timeout."""
        self._stop.set()
        self._reader.join(timeout=timeout_s)
        self._sender.join(timeout=timeout_s)
        self._hard_stop.set()
        self._sender.join(timeout=2)
        if self.state is not CameraState.FINISHED:
            self._set(CameraState.STOPPED)

    @property
    def needs_restart(self) -> bool:
        return self.crashed is not None

    @property
    def done(self) -> bool:
        """Reader ended and everything it captured was handed to the producer."""
        return not self._reader.is_alive() and not self._sender.is_alive()

    def _set(self, state: CameraState) -> None:
        self.state = state
        m.CAMERA_STATE.labels(self.cfg.id).state(state.value)

    def status(self) -> dict[str, Any]:
        age = None if self.last_frame_mono is None else time.monotonic() - self.last_frame_mono
        acknowledged, failed = self.publisher.delivery_counts(self.cfg.id)
        return {
            "id": self.cfg.id,
            "kind": self.cfg.source_kind.value,
            "state": self.state.value,
            "started_ts_ms": self.started_ts_ms,
            "frames_captured": self.frames_captured,
            "frames_dropped": self.buffer.dropped,
            "buffered": len(self.buffer),
            "in_flight": self.publisher.in_flight(self.cfg.id),
            "frames_acknowledged": acknowledged,  # by Kafka (acks=all): in vigil.frames
            "frames_failed": failed,  # refused for good after librdkafka's retries
            "reconnects": self.reconnects,
            "last_sequence": self.last_sequence,
            "last_frame_age_s": None if age is None else round(age, 3),
            "last_error": self.last_error,
        }

    # reader ----------------------------------------------------------------------------------
    def _run_reader(self) -> None:
        try:
            self._read_loop()
        except Exception as exc:
            self.crashed = exc
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._set(CameraState.FAILED)
            log.exception("camera %s reader crashed", self.cfg.id)

    def _read_loop(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._set(CameraState.CONNECTING)
            try:
                cap = open_capture(self.cfg)
            except SourceError as exc:
                self.last_error = str(exc)
                self._back_off(attempt)
                attempt += 1
                continue
            try:
                got = self._stream(cap)
            finally:
                cap.release()
            if self._stop.is_set():
                return
            if got:
                attempt = 0
            if not is_live(self.cfg) and got:
                if not self.cfg.loop:
                    self._set(CameraState.FINISHED)
                    return
                continue  # loop the file at once
            self.last_error = "end of stream" if got else "no frames after opening"
            self._back_off(attempt)
            attempt += 1

    def _back_off(self, attempt: int) -> None:
        delay = backoff_delay(self.cfg, attempt, self.rng)
        self._set(CameraState.BACKING_OFF)
        self.reconnects += 1
        m.RECONNECTS.labels(self.cfg.id).inc()
        log.warning(
            "camera %s: %s; reconnecting in %.1f s (attempt %d)",
            self.cfg.id,
            self.last_error,
            delay,
            attempt + 1,
        )
        self._stop.wait(delay)

    def _stream(self, cap: cv2.VideoCapture) -> bool:
        """Read until end of stream, stall or stop; True if any frame arrived."""
        live = is_live(self.cfg)
        sampler = Sampler.for_fps(self.cfg.fps)
        open_wall_ms, open_mono = now_ms(), time.monotonic()
        got = False
        while not self._stop.is_set():
            if not cap.grab():
                return got
            if not got:
                got = True
                self._set(CameraState.STREAMING)
            self.last_frame_mono = time.monotonic()
            if live:
                t_ms = (self.last_frame_mono - open_mono) * 1000
                capture_ms = now_ms()
            else:
                t_ms = float(cap.get(cv2.CAP_PROP_POS_MSEC))
                capture_ms = open_wall_ms + round(t_ms)
                if self.cfg.realtime:
                    self._stop.wait(max(0.0, open_mono + t_ms / 1000 - time.monotonic()))
            if not sampler.due(t_ms):
                continue
            ok, image = cap.retrieve()
            if not ok:
                return got
            jpeg, w, h = encode(image, self.cfg)
            seq = self.sequence.next()
            frame = EncodedFrame(
                self.cfg.id,
                seq,
                capture_ms,
                w,
                h,
                jpeg,
                self.cfg.source_kind.avro_symbol,
                self.cfg.tags,
            )
            self.frames_captured += 1
            self.last_sequence = seq
            m.FRAMES_CAPTURED.labels(self.cfg.id).inc()
            self.buffer.put(frame, self._stop)
        return got

    # sender ----------------------------------------------------------------------------------
    def _run_sender(self) -> None:
        try:
            while True:
                frame = self.buffer.get(0.2)
                if frame is None:
                    if not self._reader.is_alive() and len(self.buffer) == 0:
                        return
                    continue
                if not self.publisher.publish(frame, self.cfg.max_in_flight, self._hard_stop):
                    return
        except Exception as exc:
            self.crashed = exc
            self.last_error = f"sender: {type(exc).__name__}: {exc}"
            self._set(CameraState.FAILED)
            log.exception("camera %s sender crashed", self.cfg.id)
