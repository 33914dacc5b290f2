"""Labels back and accuracy over time, on chDB and on the ClickHouse server with the real
broker: labels stored and replaced on re-import, bad files refused with nothing stored,
precision / recall / mAP@0.5 per model version x camera x day checked by hand
(tests/evaluation/accuracy_data.py), the named query's view, and a drop alerted exactly once
on vigil.alerts across runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evaluation.accuracy import (
    ALL_CAMERAS,
    accuracy_rows,
    compute_accuracy,
    latest_accuracy,
    write_accuracy,
)
from evaluation.accuracy_check import check_accuracy
from evaluation.label_store import datasets, store_labels, stored_labels
from evaluation.labels import read_labels
from tests.evaluation.accuracy_data import D1, D2, EXPECTED, LABELS, coco_file, record_detections
from tests.evaluation.test_labels import TASKS
from vigil.clickhouse import ClickHouseClient, connect
from vigil.testing import read_topic
from vigil.topics import Topic
from vigil_app.cli import app
from vigil_app.settings import AccuracySettings, VigilSettings

FIGURES = ("frames", "objects", "detections", "tp", "fp", "fn", "precision", "recall", "map50")
THRESHOLDS = {"min_frames": 2, "min_map50": 0.6, "min_recall": 0.5}


def prod_topic(settings: VigilSettings) -> str:
    return Topic.DETECTIONS.name_in(settings.topics)


def cand_topic(settings: VigilSettings) -> str:
    return f"{settings.topics.prefix}.candidates.detections"


@pytest.fixture
def client(sink_settings: VigilSettings) -> Iterator[ClickHouseClient]:
    ch = connect(sink_settings)
    db = sink_settings.clickhouse.database
    record_detections(ch, db, prod_topic(sink_settings), cand_topic(sink_settings))
    yield ch
    ch.close()


def figures(row: Any) -> tuple[Any, ...]:
    return tuple(
        round(v, 6) if isinstance(v, float) else v for v in (getattr(row, f) for f in FIGURES)
    )


def test_labels_stored_and_replaced_on_reimport(
    client: ClickHouseClient, sink_settings: VigilSettings, tmp_path: Path
) -> None:
    db = sink_settings.clickhouse.database
    labels = read_labels(coco_file(tmp_path / "coco.json"))
    first = store_labels(client, db, "default", labels, now_ms=1_000)
    assert (first.frames, first.objects, first.categories) == (6, 5, ("car", "person"))
    store_labels(client, db, "default", labels, now_ms=2_000)  # the same file again
    truth = stored_labels(client, db, "default")
    assert sorted(truth.frames) == sorted(LABELS)
    assert sum(len(v) for v in truth.frames.values()) == 5
    assert truth.frames["a-4"] == []
    assert truth.frames["x-9"] == []
    x0, y0, x1, y1 = truth.frames["a-0"][1].box
    assert truth.frames["a-0"][1].label == "car"
    assert (round(x0, 5), round(y0, 5), round(x1, 5), round(y1, 5)) == (0.5, 0.5, 0.9, 0.9)
    assert datasets(client, db) == [("default", 6)]
    # a corrected export: a-1 has nothing after all, a-0 only its car
    fixed = {**LABELS, "a-1": (*LABELS["a-1"][:2], []), "a-0": (*LABELS["a-0"][:2], [])}
    fixed["a-0"] = ("a", 0, [("car", (0.5, 0.5, 0.9, 0.9))])
    store_labels(client, db, "default", read_labels(coco_file(tmp_path / "f.json", fixed)), 3_000)
    truth = stored_labels(client, db, "default")
    assert truth.frames["a-1"] == []
    assert [d.label for d in truth.frames["a-0"]] == ["car"]
    assert sum(len(v) for v in truth.frames.values()) == 3
    # Label Studio into another dataset
    ls = tmp_path / "ls.json"
    ls.write_text(json.dumps(TASKS))
    done = store_labels(client, db, "night", read_labels(ls))
    assert (done.frames, done.objects, done.skipped) == (3, 3, 2)
    assert sorted(stored_labels(client, db, "night").frames) == ["f-1", "f-2", "f-5"]
    assert datasets(client, db) == [("default", 6), ("night", 3)]


def test_accuracy_per_version_camera_and_day(
    client: ClickHouseClient, sink_settings: VigilSettings, tmp_path: Path
) -> None:
    db = sink_settings.clickhouse.database
    prod, cand = prod_topic(sink_settings), cand_topic(sink_settings)
    store_labels(client, db, "default", read_labels(coco_file(tmp_path / "coco.json")))
    run = compute_accuracy(client, db, "default", now_ms=5_000)
    assert run.labelled == 6
    assert run.unrecorded == ("x-9",)  # labelled, never recorded: reported, not an error
    got = {
        (r.model_version, r.camera_id, r.day): figures(r) for r in run.rows if r.kafka_topic == prod
    }
    want = {
        k: tuple(round(v, 6) if isinstance(v, float) else v for v in e) for k, e in EXPECTED.items()
    }
    assert got == want  # fmt: skip
    (replayed,) = [r for r in run.rows if r.kafka_topic == cand and r.camera_id == "a"]
    assert (replayed.model_version, replayed.day, replayed.recall) == ("3", D2, 0.0)

    write_accuracy(client, db, run.rows)
    write_accuracy(client, db, compute_accuracy(client, db, "default", now_ms=6_000).rows)
    stored = accuracy_rows(client, db, dataset="default", topic=prod)
    assert len(stored) == len(EXPECTED)  # computed twice, stored once per key
    assert {r.computed_ms for r in stored} == {6_000}
    assert {(r.model_version, r.camera_id, r.day): figures(r) for r in stored} == got

    latest = latest_accuracy(client, db, "ssd", "2", topic=prod)
    assert latest is not None
    assert (latest.camera_id, latest.day, latest.recall, latest.map50) == (ALL_CAMERAS, D2, 0, 0)
    on_b = latest_accuracy(client, db, "ssd", "1", camera="b", topic=prod)
    assert on_b is not None
    assert (on_b.day, on_b.map50) == (D1, 1.0)
    assert latest_accuracy(client, db, "ssd", "1", camera="b", min_frames=2) is None
    assert latest_accuracy(client, db, "ssd", "9") is None

    view = client.query(
        f"SELECT day, model_version, camera_id, map50 FROM {db}.q_accuracy_over_time"
    )
    assert len(view) == len(run.rows)  # fmt: skip
    assert str(view[0][0]) == D2.isoformat()  # newest first


def flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines


def cli_env(settings: VigilSettings) -> dict[str, str]:
    return {
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_CLICKHOUSE__URL": settings.clickhouse.url,
        "VIGIL_CLICKHOUSE__DATABASE": settings.clickhouse.database,
        **{f"VIGIL_ACCURACY__{k.upper()}": str(v) for k, v in THRESHOLDS.items()},
    }


def test_import_command_refuses_bad_files_and_alerts_once(
    client: ClickHouseClient, sink_settings: VigilSettings, tmp_path: Path
) -> None:
    db = sink_settings.clickhouse.database
    runner = CliRunner()
    env = cli_env(sink_settings)
    client.close()  # chDB: one process (here: one session) per directory at a time
    bad = json.loads(coco_file(tmp_path / "coco.json").read_text())
    bad["annotations"][-1]["bbox"] = [10, 10, -5, 20]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    result = runner.invoke(app, ["dataset", "import", str(tmp_path / "bad.json")], env=env)
    assert result.exit_code == 2, result.output
    assert "is empty; nothing was stored" in flat(result.output)

    result = runner.invoke(app, ["dataset", "import", str(tmp_path / "coco.json")], env=env)
    assert result.exit_code == 0, result.output
    assert "imported 6 labelled frames (5 objects" in flat(result.output)
    assert "1 of 6 labelled frames have no records" in flat(result.output)
    assert result.output.count("(alert raised)") == 2  # ssd@2 on camera a today: mAP, recall
    again = runner.invoke(app, ["accuracy"], env=env)
    assert again.exit_code == 0, again.output
    assert again.output.count("(alerted before)") == 2
    assert "(alert raised)" not in again.output

    alerts = read_topic(sink_settings, Topic.ALERTS, idle_s=2.0)
    assert sorted(a["alert_id"] for a in alerts) == [
        f"accuracy:map50:default:a:ssd@2:{D2.isoformat()}",
        f"accuracy:recall:default:a:ssd@2:{D2.isoformat()}",
    ]
    assert {(a["rule_id"], a["severity"], a["camera_id"]) for a in alerts} == {
        ("accuracy:map50", "MEDIUM", "a"),
        ("accuracy:recall", "MEDIUM", "a"),
    }
    assert {a["details"]["model_version"] for a in alerts} == {"2"}
    ch = connect(sink_settings)
    try:
        # one import stored (the bad file left nothing)
        assert int(ch.query(f"SELECT count() FROM {db}.labels")[0][0]) == 6
        # the check itself, a third time: the record keeps it quiet
        settings = sink_settings.model_copy(update={"accuracy": AccuracySettings(**THRESHOLDS)})
        third = check_accuracy(settings, ch)
        assert len(third.breaches) == 2
        assert third.raised == []
    finally:
        ch.close()
    assert len(read_topic(sink_settings, Topic.ALERTS, idle_s=1.0)) == 2
