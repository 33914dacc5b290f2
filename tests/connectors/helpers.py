"""Shared by the connector tests: topics, cameras, and reading frames back (the sample video
is ``vigil.testing.bikes_mp4``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from confluent_kafka import Message

from connectors.sources.camera import CameraState
from connectors.sources.supervisor import Supervisor
from schemas.contracts import serde_for
from vigil.follow import read_to_end
from vigil.testing import poll_until, provision
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def make_topics(settings: VigilSettings) -> str:
    """Every topic provisioned; the frames topic's name."""
    provision(settings)
    return Topic.FRAMES.name_in(settings.topics)


def read_frames(
    settings: VigilSettings, expected: int | None = None, *, max_s: float = 60
) -> list[dict[str, Any]]:
    """Every FrameEvent on the frames topic up to its current end offsets (call after the
    producer flushed), in partition order. ``expected`` only documents the caller's count."""
    serde = serde_for(settings, Topic.FRAMES)
    out: list[dict[str, Any]] = []

    def keep(msg: Message) -> None:
        event = serde.decode(msg)
        event["_key"] = msg.key()
        event["_partition"] = msg.partition()
        out.append(event)

    topic = Topic.FRAMES.name_in(settings.topics)
    try:
        read_to_end(settings, topic, keep, name="test", timeout_s=max_s)
    except TimeoutError:
        raise AssertionError(f"could not read {topic} to its end in {max_s} s") from None
    return out


def camera_finished(sup: Supervisor, cam_id: str) -> bool:
    """The camera's runner read its whole file and every frame was acknowledged."""
    runner = sup.runners.get(cam_id)
    return runner is not None and runner.state is CameraState.FINISHED and runner.done


class IngestProcess:
    """``vigil ingest`` as a real process on the test's broker, topics and data dir."""

    def __init__(self, settings: VigilSettings, cameras: Path) -> None:
        import os
        import subprocess
        import sys

        self.settings = settings
        env = {
            **os.environ,
            "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
            "VIGIL_DATA_DIR": str(settings.data_dir),
            "VIGIL_LOG_LEVEL": "INFO",
        }
        self.log = settings.data_dir.parent / "ingest.log"
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        vigil = Path(sys.executable).parent / "vigil"
        self.proc = subprocess.Popen(
            [str(vigil), "ingest", "--cameras", str(cameras)],
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def status(self) -> dict[str, Any]:
        from vigil.cameras import read_status

        try:
            return read_status(self.settings) or {"cameras": []}
        except ValueError:  # never half-written (atomic rename), but be safe
            return {"cameras": []}

    def camera(self, cam_id: str) -> dict[str, Any] | None:
        return next((c for c in self.status()["cameras"] if c["id"] == cam_id), None)

    def wait(self, cond: Any, what: str, timeout_s: float = 60.0, step_s: float = 0.1) -> None:
        def met() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"vigil ingest exited: {self.log.read_text()[-3000:]}")
            return bool(cond())

        if not poll_until(met, timeout_s, step_s):
            raise AssertionError(f"timed out waiting for {what}; status {self.status()}")

    def stop(self) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except Exception:
            self.proc.kill()
            raise


def write_cameras(path: Path, cameras: list[dict[str, Any]]) -> None:
    import yaml

    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"cameras": cameras}))
    tmp.replace(path)
