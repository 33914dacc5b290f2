"""``vigil demo`` end to end against the session broker."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.stack import KafkaBroker
from vigil.testing import user_cache_dir
from vigil_app.cli import app
from vigil_app.demo import run_demo
from vigil_app.settings import KafkaSettings, TopicSettings, VigilSettings


@pytest.mark.timeout(600)  # the whole demo twice: ingest, worker, drift, alerting, sink
def test_demo_sends_every_event_once_in_order(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    settings = VigilSettings(
        kafka=KafkaSettings(bootstrap_servers=kafka_broker.bootstrap),
        topics=TopicSettings(prefix=f"demo{uuid.uuid4().hex[:6]}"),
        data_dir=tmp_path,
        cache_dir=user_cache_dir(),
    )
    first = run_demo(settings, events=120, cameras=3)
    assert (first.frames_produced, first.detections_committed, first.in_order) == (120, 120, True)
    assert first.frame_bytes > 120 * 64 * 48  # the raw frames really travelled
    # a second run on the same topics reads only its own events
    second = run_demo(settings, events=40, cameras=2)
    assert (second.frames_produced, second.detections_committed) == (40, 40)
    for run in (first, second):  # each run's own retrained candidate, promoted and rolled back
        assert "promoted by the gate, rolled back to (configured model)" in run.lifecycle
    assert first.lifecycle != second.lifecycle


@pytest.mark.timeout(600)
def test_demo_cli_prints_its_summary(
    kafka_broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_KAFKA__BOOTSTRAP_SERVERS", kafka_broker.bootstrap)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VIGIL_TOPICS__PREFIX", f"demo{uuid.uuid4().hex[:6]}")
    monkeypatch.setenv("COLUMNS", "250")  # the summary's lines unwrapped
    result = CliRunner().invoke(app, ["demo", "--events", "30"])
    assert result.exit_code == 0, result.output
    assert "Vigil demo" in result.output
    assert "per-camera order kept" in result.output
    assert "HTML report:" in result.output  # issue 9: the replay + eval walk-through
    assert (tmp_path / "eval" / "demo" / "report.html").is_file()
    # issue 18: one turn of the loop, from the drift alarm to the rollback
    assert "promoted by the gate, rolled back to (configured model)" in result.output
    assert "Retraining: promoted:" in result.output
    assert (tmp_path / "demo" / "dataset-coco" / "annotations" / "instances_default.json").is_file()
