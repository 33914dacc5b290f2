"""Replay and eval end to end on the real broker, real models and embedded ClickHouse:
production's worker over real video frames, then three candidates replayed over the same
range and sunk through the ClickHouse sink; ``vigil eval`` compares each with production."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from connectors.sinks.clickhouse.catchup import sink_until_caught_up
from evaluation.report import EvalRequest, build_report
from evaluation.source import Window, load_frames, resolve
from gpu_workers.replay.candidate import candidates_topics
from gpu_workers.replay.run import ReplayRequest, run_replay, runs_dir
from tests.evaluation.candidates import (
    ZOO,
    input_size_candidate,
    run_production,
    threshold_candidate,
)
from vigil.clickhouse import connect
from vigil.stack import KafkaBroker
from vigil.testing import bikes_jpegs, now_ms, produce_timed, provision, user_cache_dir
from vigil.topics import Topic
from vigil_app.cli import app
from vigil_app.settings import KafkaSettings, TopicSettings, VigilSettings, candidates_settings

FRAMES = 16
THRESHOLD = 0.7


@pytest.fixture(scope="module")
def replayed(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Production's detections and three replays of the same frames, all in ClickHouse."""
    tmp = tmp_path_factory.mktemp("eval")
    settings = VigilSettings(
        kafka=KafkaSettings(bootstrap_servers=kafka_broker.bootstrap),
        topics=TopicSettings(prefix=f"t{uuid.uuid4().hex[:10]}", frames_partitions=2),
        data_dir=tmp / "data",
        cache_dir=user_cache_dir(),
    )
    provision(settings)
    jpegs = bikes_jpegs(FRAMES, size=(320, 240), step=7)
    base = now_ms() - 30_000
    half = FRAMES // 2
    produce_timed(settings, "cam-a", jpegs[:half], base, 500)
    produce_timed(settings, "cam-b", jpegs[half:], base, 500, stamp=False)
    run_production(settings, FRAMES)
    models = {
        "same": ZOO,
        "threshold": str(threshold_candidate(settings, tmp / "thr", THRESHOLD)),
        "input": str(input_size_candidate(settings, tmp / "in224", 224)),
    }
    results = {
        key: run_replay(settings, ReplayRequest(base, base + 500 * half, model))
        for key, model in models.items()
    }
    client = connect(settings)
    try:
        sink_until_caught_up(settings, client)
        sink_until_caught_up(candidates_settings(settings), client)
    finally:
        client.close()
    return {"settings": settings, "results": results, "base": base, "tmp": tmp}


def _report(data: dict[str, Any], key: str, **kw: Any) -> dict[str, Any]:
    settings: VigilSettings = data["settings"]
    prod = Topic.DETECTIONS.name_in(settings.topics)
    cands = Topic.DETECTIONS.name_in(candidates_topics(settings))
    req = EvalRequest(
        ZOO, data["results"][key].model, (prod, cands), (cands, prod),
        runs_dir=runs_dir(settings), **kw,
    )  # fmt: skip
    client = connect(settings)
    try:
        return build_report(client, settings.clickhouse.database, req)
    finally:
        client.close()


def _baseline(data: dict[str, Any]) -> dict[str, Any]:
    settings: VigilSettings = data["settings"]
    client = connect(settings)
    try:
        db = settings.clickhouse.database
        ref = resolve(client, db, ZOO, [Topic.DETECTIONS.name_in(settings.topics)])
        return load_frames(client, db, ref, Window())
    finally:
        client.close()


def test_every_replay_covers_the_same_frames(replayed: dict[str, Any]) -> None:
    for result in replayed["results"].values():
        assert result.replayed == FRAMES
    assert len(_baseline(replayed)) == FRAMES


def test_the_production_model_replayed_agrees_with_production(replayed: dict[str, Any]) -> None:
    report = _report(replayed, "same")
    assert report["frames_compared"] == FRAMES
    assert report["candidate_vs_baseline"]["overall"]["matched"] > 0
    assert report["agreement"] >= 0.999
    assert report["frame_agreement"] >= 0.999
    assert report["matched_pairs"]["max_score_diff"] < 1e-3  # the stated float tolerance
    assert report["matched_pairs"]["max_box_diff"] < 1e-3
    assert report["baseline"]["topic"] != report["candidate"]["topic"]
    assert report["speed"]["candidate"]["replay_runs"][0]["replayed"] == FRAMES


def test_a_higher_threshold_loses_recall_by_exactly_the_low_scores(
    replayed: dict[str, Any],
) -> None:
    base = _baseline(replayed)
    low = Counter(d.label for f in base.values() for d in f.detections if d.score < THRESHOLD)
    total = Counter(d.label for f in base.values() for d in f.detections)
    assert sum(low.values()) > 0  # the frames have detections between 0.5 and THRESHOLD
    report = _report(replayed, "threshold")
    overall = report["candidate_vs_baseline"]["overall"]
    assert overall["precision"] == 1.0
    assert overall["baseline_only"] == sum(low.values())
    assert overall["recall"] == pytest.approx(1 - sum(low.values()) / sum(total.values()))
    deltas = {d["label"]: d["count_delta"] for d in report["deltas"]["per_label"]}
    assert deltas == {label: -low[label] for label in total}


def test_a_smaller_input_size_gives_a_report_with_differences(
    replayed: dict[str, Any], tmp_path: Path
) -> None:
    from evaluation.report import write_report

    report = _report(replayed, "input")
    assert report["frames_compared"] == FRAMES
    assert 0 < report["agreement"] < 1 or report["matched_pairs"]["max_score_diff"] > 1e-3
    json_path, html_path = write_report(report, tmp_path / "report")
    assert json.loads(json_path.read_text())["candidate"]["version"].startswith("2018_03_29-in224")
    html = html_path.read_text()
    assert html.count("<svg") >= 2
    assert "<script" not in html  # self-contained: no scripts, no links
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_eval_cli_with_labels_and_rules(
    replayed: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ground truth = production's own detections on three frames with a person, plus one
    person nobody detects: every AP is 1 but the person's, whose recall tops at n / (n + 1),
    so its 101-point AP is (floor(100 n / (n + 1)) + 1) / 101."""
    base = _baseline(replayed)
    chosen = sorted(
        (f for f in base.values() if any(d.label == "person" for d in f.detections)),
        key=lambda f: f.frame_id,
    )[:3]
    assert chosen
    labels = sorted({d.label for f in chosen for d in f.detections})
    cats = {name: i + 1 for i, name in enumerate(labels)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i, frame in enumerate(chosen):
        w, h = frame.width, frame.height
        images.append({"id": i, "file_name": f"{frame.frame_id}.jpg", "width": w, "height": h})
        for d in frame.detections:
            x0, y0, x1, y1 = d.box
            annotations.append(
                {
                    "id": len(annotations),
                    "image_id": i,
                    "category_id": cats[d.label],
                    "bbox": [x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h],
                }
            )
    annotations.append(  # a person in a corner no model sees
        {"id": len(annotations), "image_id": 0, "category_id": cats["person"], "bbox": [0, 0, 4, 4]}
    )
    coco = tmp_path / "labels.json"
    coco.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": annotations,
                "categories": [{"id": i, "name": n} for n, i in cats.items()],
            }
        )
    )
    n = sum(1 for f in chosen for d in f.detections if d.label == "person")
    person_ap = (int(100 * n / (n + 1)) + 1) / 101
    expected = (person_ap + (len(labels) - 1) * 1.0) / len(labels)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump({"rules": [{"id": "any-person", "labels": ["person"], "min_score": 0.5}]})
    )

    settings: VigilSettings = replayed["settings"]
    monkeypatch.setenv("VIGIL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("VIGIL_TOPICS__PREFIX", settings.topics.prefix)
    monkeypatch.setenv("VIGIL_CACHE_DIR", str(settings.cache_dir))
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "eval", "--baseline", ZOO, "--candidate", replayed["results"]["same"].model,
            "--labels", str(coco), "--rules", str(rules), "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["labels"]["baseline"]["map50"] == pytest.approx(expected, abs=1e-9)
    assert report["labels"]["candidate"]["map50"] == pytest.approx(expected, abs=1e-9)
    per = report["labels"]["baseline"]["per_label"]["person"]
    assert (per["objects"], per["recall"], per["precision"]) == (n + 1, n / (n + 1), 1.0)
    alerts = report["alerts"]
    assert alerts["baseline_alerts"] > 0
    assert (alerts["added"], alerts["removed"]) == ([], [])
    assert (out / "report.html").read_text().startswith("<!doctype html>")
