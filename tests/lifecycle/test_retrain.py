"""The retraining loop end to end on the real broker, real models and both ClickHouse backends:
production's worker over real video frames; the training command is a small script that writes
a real, different ONNX (the production detector marked, with a looser score threshold) and
checks it was handed the exported dataset; the loop registers it, replays the frames through
it, evaluates it, and promotes it through the gate (or leaves it registered). The command's
failure, timeout and bad output change nothing and are alerts; triggers read ClickHouse."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.sinks.clickhouse.accuracy_tables import ACCURACY_COLUMNS
from connectors.sinks.clickhouse.catchup import sink_until_caught_up
from connectors.sinks.clickhouse.sink import ClickHouseSink
from connectors.sinks.dataset.copier import store_of
from evaluation.label_store import store_labels
from evaluation.labels import read_labels
from gpu_workers.models.store import configured
from lifecycle.retrain import run_once
from lifecycle.settings import RetrainSettings, RetrainTriggers
from lifecycle.triggers import State, check_triggers
from schemas.contracts import serde_for
from tests.connectors.sinks.clickhouse.support import create_topics
from tests.connectors.sinks.dataset import support
from tests.evaluation.candidates import run_production
from vigil import kafka
from vigil.clickhouse import connect
from vigil.registry import label, read_registry
from vigil.testing import bikes_jpegs, now_ms, produce_timed, read_topic
from vigil.testing.samples import drift_stat
from vigil.topics import Topic
from vigil_app.demo.labels import frames_for, shipped
from vigil_app.settings import PromotionSettings, VigilSettings

FRAMES = 16
TRAIN = """
import pathlib, sys
from vigil.testing.models import derived_model
dataset, output, spec = (pathlib.Path(a) for a in sys.argv[1:4])
if not (dataset / "annotations" / "instances_default.json").is_file():
    sys.exit(f"no COCO export in {dataset}")
derived_model(spec, output, version="retrained-" + sys.argv[4], score_threshold=0.45)
print("trained on", dataset)
"""


def _command(tmp: Path, body: str = TRAIN) -> str:
    script = tmp / "train.py"
    script.write_text(body)
    return f"{sys.executable} {script} {{dataset}} {{output}} {{production_spec}} {{run}}"


def _with(
    settings: VigilSettings, drift_alarms: int | None = None, **retrain: Any
) -> VigilSettings:
    gate = PromotionSettings(min_frames=FRAMES, min_agreement=0.6, min_recall=0.6)
    triggers = RetrainTriggers(drift_alarms=drift_alarms)
    cfg = RetrainSettings(replay_hours=1.0, triggers=triggers, **retrain)
    return settings.model_copy(update={"retrain": cfg, "promotion": gate})


def _samples(settings: VigilSettings) -> None:
    """Two frames chosen for labelling in the dataset store (as ``vigil sample`` copies them)."""
    store = store_of(settings)
    for i, jpeg in enumerate(support.jpegs(2)):
        frame = {"frame_id": f"cam-a-{i}", "camera_id": "cam-a", "sequence": i, "capture_ts_ms": i}
        rec = {**support.sample(frame, faces_searched=True, detections=[]), "status": "copied"}
        rec |= {"width": 320, "height": 240, "privacy": "faces-blurred"}
        rec["image"] = store.write_image(rec["frame_id"], jpeg)
        store.write_record(rec)


def _production(settings: VigilSettings) -> None:
    """Real frames through production's worker, its detections sunk into ClickHouse."""
    produce_timed(
        settings, "cam-a", bikes_jpegs(FRAMES, size=(320, 240), step=7), now_ms() - 60_000, 500
    )
    run_production(settings, FRAMES)
    client = connect(settings)
    try:
        sink_until_caught_up(settings, client)
    finally:
        client.close()


def _alerts(settings: VigilSettings) -> list[dict[str, Any]]:
    found = [a for a in read_topic(settings, Topic.ALERTS) if a["rule_id"].startswith("retrain:")]
    return sorted(found, key=lambda a: a["alert_ts_ms"])


def test_a_turn_registers_evaluates_and_promotes(
    sink_settings: VigilSettings, tmp_path: Path
) -> None:
    _production(sink_settings)
    _samples(sink_settings)
    settings = _with(sink_settings, command=_command(tmp_path), auto_promote=False)
    left = run_once(settings, force=True)
    assert left.status == "candidate", left.message
    assert left.gate is not None
    assert left.gate.passed, left.gate.failures
    assert "auto_promote is off" in left.message
    assert read_registry(settings).current("detector") is None  # production unchanged
    assert left.candidate is not None
    assert left.candidate["version"] == f"retrained-{left.run}"
    assert "trained on" in (left.folder / "command.log").read_text()  # type: ignore[operator]
    assert left.report is not None
    assert left.report.parent.name == f"retrain-{left.run}"

    settings = _with(sink_settings, command=_command(tmp_path), auto_promote=True)
    done = run_once(settings, force=True)
    assert done.status == "promoted", done.message
    reg = read_registry(settings)
    current = reg.current("detector")
    assert current is not None
    assert done.candidate is not None
    assert label(current) == label(done.candidate) == f"ssd_mobilenet_v2_coco@retrained-{done.run}"
    assert current["actor"] == "vigil retrain"
    assert current["eval"] is not None
    assert current["eval"]["passed"]
    assert current["eval"]["frames_compared"] == FRAMES
    assert current["eval"]["report"] == str(done.report)
    assert current["sha256"] != left.candidate["sha256"]  # each run's model is its own file
    alerts = _alerts(settings)
    assert [(a["rule_id"], a["severity"]) for a in alerts] == [
        ("retrain:candidate", "MEDIUM"),
        ("retrain:promoted", "INFO"),
    ]
    assert alerts[1]["details"]["candidate"].startswith(
        f"ssd_mobilenet_v2_coco@retrained-{done.run}+"
    )


@pytest.mark.parametrize(
    ("body", "timeout_s", "message"),
    [
        (
            "import sys; print('out of memory'); sys.exit(3)",
            60.0,
            "exited with 3; its log .* ends:\nout of memory",
        ),
        ("import time; time.sleep(60)", 1.0, "ran past its timeout \\(1 s\\) and was killed"),
        (
            "import pathlib, sys; (pathlib.Path(sys.argv[2]) / 'model.onnx').write_bytes(b'x')",
            60.0,
            "does not run as a ssd model",
        ),
        ("pass", 60.0, "wrote no model.onnx \\(nor one \\*.onnx\\)"),
    ],
    ids=["exit", "timeout", "bad-onnx", "no-output"],
)
def test_a_failed_command_changes_nothing_and_is_an_alert(
    settings: VigilSettings, tmp_path: Path, body: str, timeout_s: float, message: str
) -> None:
    sink_settings = settings  # embedded ClickHouse: the loop's failures are the backend's none
    create_topics(sink_settings)
    client = connect(sink_settings)
    try:
        ClickHouseSink(sink_settings, client).prepare()  # the tables the triggers read
    finally:
        client.close()
    _samples(sink_settings)
    settings = _with(sink_settings, command=_command(tmp_path, body), timeout_s=timeout_s)
    outcome = run_once(settings, force=True)
    assert outcome.status == "failed"
    assert outcome.candidate is None
    assert re.search(message, outcome.message), outcome.message
    reg = read_registry(settings)
    assert reg.models == {}
    assert reg.current("detector") is None
    [alert] = _alerts(settings)
    assert (alert["rule_id"], alert["severity"]) == ("retrain:failed", "HIGH")
    assert alert["alert_id"] == f"retrain:failed:{outcome.run}"
    assert re.search(message, alert["details"]["message"])


def test_triggers_read_drift_alarms_from_clickhouse(
    sink_settings: VigilSettings, tmp_path: Path
) -> None:
    settings = _with(sink_settings, command=_command(tmp_path), drift_alarms=2)
    _samples(settings)
    client = connect(settings)
    try:
        ClickHouseSink(settings, client).prepare()
    finally:
        client.close()
    assert run_once(settings).status == "not_due"
    _drift(settings, (True, False, True))
    outcome = run_once(settings)  # due now: 2 alarms; the turn itself fails (no frames)
    assert outcome.due is not None
    assert outcome.due.fired == ["2 drift alarms (>= 2)"]
    assert outcome.status == "failed"
    assert "could not be evaluated" in outcome.message
    again = run_once(settings)  # alarms count since the last run
    assert again.status == "not_due"
    assert again.message == "not due: no trigger fired"
    _drift(settings, (True, True))
    third = run_once(settings)
    assert third.status == "not_due"
    assert third.due is not None
    assert third.due.fired == ["2 drift alarms (>= 2)"]
    assert third.message == "not due: the last run was less than 6 h ago"


def _drift(settings: VigilSettings, alarms: tuple[bool, ...]) -> None:
    """DriftStats of the production model on vigil.drift, sunk into ClickHouse."""
    prod = configured(settings, settings.models.detector)
    topic = Topic.DRIFT.name_in(settings.topics)
    serde = serde_for(settings, Topic.DRIFT)
    producer = kafka.producer(settings)
    for i, alarm in enumerate(alarms):
        stat = drift_stat() | {
            "window_start_ms": now_ms() - 60_000 + i,
            "window_end_ms": now_ms(),
            "model_name": prod["name"],
            "model_version": prod["model_version"],
            "alarm": alarm,
        }
        kafka.produce(producer, topic, serde.serialize(stat, topic=topic), key="cam-1")
    assert producer.flush(30) == 0
    client = connect(settings)
    try:
        sink_until_caught_up(settings, client, topics=(Topic.DRIFT,))
    finally:
        client.close()


def test_triggers_read_new_labels_and_accuracy(
    sink_settings: VigilSettings, tmp_path: Path
) -> None:
    settings = sink_settings.model_copy(
        update={
            "retrain": RetrainSettings(
                command="true",
                triggers=RetrainTriggers(drift_alarms=None, accuracy_below=0.5, new_labels=40),
            )
        }
    )
    db = settings.clickhouse.database
    prod = configured(settings, settings.models.detector)
    client = connect(settings)
    try:
        ClickHouseSink(settings, client).prepare()
        assert check_triggers(settings, client, prod, State()).fired == []
        labels = frames_for(shipped(), "cam-a", 0, tmp_path / "labels.json")  # 50 frames
        store_labels(client, db, settings.accuracy.dataset, read_labels(labels))
        row = (settings.accuracy.dataset, datetime.now(UTC).date(), "*", prod["name"],
               prod["model_version"], Topic.DETECTIONS.name_in(settings.topics), 30, 60, 70,
               40, 30, 20, 0.57, 0.67, 0.42, now_ms())  # fmt: skip
        client.insert(f"{db}.accuracy", [n for n, _ in ACCURACY_COLUMNS], [row])
        due = check_triggers(settings, client, prod, State())
        assert due.fired == ["mAP@0.5 0.420 < 0.5", "50 frames labelled (>= 40)"]
        assert due.due
        # labels count since the last run; accuracy is what it is now
        later = check_triggers(settings, client, prod, State(last_run_ms=now_ms() + 1))
        assert later.fired == ["mAP@0.5 0.420 < 0.5"]
        assert not later.due  # min_interval_h: the last run was just now
    finally:
        client.close()
