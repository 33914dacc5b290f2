"""The promotion gate and the registry commands on the real broker: a promotion needs an eval
report of the candidate against production that meets every threshold (each miss is named,
exit code 4); --force promotes anyway and the record says so; rollback pops the last
promotion; history shows who did what and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evaluation.promotion import PromotionRefused, check_gate, promote, recorded, rollback
from evaluation.settings import PromotionSettings
from gpu_workers.models.store import RegistrationError, configured, register_model
from schemas.types import ModelRecord
from vigil import kafka
from vigil.registry import RegistryError, label, read_registry
from vigil.testing.models import derived_model, zoo_spec
from vigil.topics import ensure_topics, topic_specs
from vigil_app.cli import app
from vigil_app.settings import VigilSettings

CFG = PromotionSettings(min_frames=50, min_agreement=0.7, min_recall=0.6, min_label_objects=10)


def report(
    baseline: str,
    candidate: str,
    *,
    frames: int = 120,
    agreement: float = 0.9,
    per_label: dict[str, tuple[int, int]] | None = None,  # label -> (matched, baseline_only)
    labels: tuple[float, float] | None = None,  # mAP@0.5 of baseline, candidate
    alert_changes: int | None = None,
) -> dict[str, Any]:
    """The fields of a ``vigil eval`` report.json the gate reads (evaluation/report.py)."""
    rows = {
        name: {"matched": m, "baseline_only": b, "recall": m / (m + b) if m + b else 0.0}
        for name, (m, b) in (per_label or {"person": (90, 10), "car": (40, 5)}).items()
    }
    return {
        "baseline": {"model": baseline},
        "candidate": {"model": candidate},
        "frames_compared": frames,
        "agreement": agreement,
        "candidate_vs_baseline": {"per_label": rows},
        "labels": None
        if labels is None
        else {"baseline": {"map50": labels[0]}, "candidate": {"map50": labels[1]}},
        "alerts": None if alert_changes is None else {"added": [{}] * alert_changes, "removed": []},
    }


def test_the_gate_names_every_threshold_missed() -> None:
    path = Path("report.json")
    assert check_gate(report("a@1", "b@2"), path, CFG).passed
    bad = report(
        "a@1",
        "b@2",
        frames=30,
        agreement=0.5,
        per_label={"person": (50, 50), "dog": (2, 7)},  # dog: too few to judge
        labels=(0.5, 0.2),
        alert_changes=11,
    )
    gate = check_gate(bad, path, CFG)
    assert not gate.passed
    assert gate.failures == [
        "frames_compared 30 < min_frames 50",
        "agreement 0.500 < min_agreement 0.7",
        "recall of 'person' 0.500 < 0.6 (100 production detections)",
        "mAP@0.5 0.200 < min_map50 0.3",
        "mAP@0.5 0.200 is more than 0.05 below production's 0.500",
        "11 alerts added or removed > 10",
    ]
    strict = CFG.model_copy(update={"label_recall": {"car": 0.95}})
    assert check_gate(report("a@1", "b@2"), path, strict).failures == [
        "recall of 'car' 0.889 < 0.95 (45 production detections)"
    ]
    off = CFG.model_copy(update={"min_agreement": None, "min_recall": None, "min_map50": None})
    assert check_gate(report("a@1", "b@2", agreement=0.1, labels=(0.3, 0.26)), path, off).passed


def _write_report(settings: VigilSettings, folder: str, body: dict[str, Any]) -> Path:
    path = settings.data_dir / "eval" / folder / "report.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(body))
    return path


@pytest.fixture
def registered(settings: VigilSettings, tmp_path: Path) -> tuple[ModelRecord, ModelRecord]:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    zoo = zoo_spec(settings.cache_dir)
    one, _ = register_model(settings, derived_model(zoo, tmp_path / "v2", version="2"))
    two, _ = register_model(settings, derived_model(zoo, tmp_path / "v3", version="3"))
    return one, two


def test_promote_needs_a_passing_report_and_rollback_pops(
    settings: VigilSettings, registered: tuple[ModelRecord, ModelRecord]
) -> None:
    v2, _v3 = registered
    prod = recorded(configured(settings, settings.models.detector))
    with pytest.raises(PromotionRefused, match="no eval report of ssd_mobilenet_v2_coco@2\\+"):
        promote(settings, "ssd_mobilenet_v2_coco", "2", "detector")
    _write_report(settings, "a", report(prod, recorded(v2), agreement=0.4))
    with pytest.raises(PromotionRefused, match=r"agreement 0\.400 < min_agreement 0\.7"):
        promote(settings, "ssd_mobilenet_v2_coco", "2", "detector")
    assert read_registry(settings).current("detector") is None  # nothing written

    good = _write_report(settings, "b", report(prod, recorded(v2)))
    record, gate = promote(settings, "ssd_mobilenet_v2_coco", "2", "detector", reason="better")
    assert gate.passed
    assert gate.report == good
    assert (record["action"], record["forced"], record["replaces"]) == ("PROMOTE", False, prod)
    assert record["eval"] is not None
    assert record["eval"]["report"] == str(good)
    assert (record["sha256"], record["location"]) == (v2["sha256"], v2["location"])
    with pytest.raises(RegistryError, match="already production"):
        promote(settings, "ssd_mobilenet_v2_coco", "2", "detector")

    # v3 against v2 (now production): a report against the old production does not count
    with pytest.raises(PromotionRefused, match="no eval report of ssd_mobilenet_v2_coco@3"):
        promote(settings, "ssd_mobilenet_v2_coco", "3", "detector")
    forced, gate = promote(settings, "ssd_mobilenet_v2_coco", "3", "detector", force=True)
    assert forced["forced"]
    assert not gate.passed
    assert forced["eval"] is not None
    assert forced["eval"]["failures"] == gate.failures
    assert forced["replaces"] == "ssd_mobilenet_v2_coco@2"

    reg = read_registry(settings)
    assert label(reg.current("detector")) == "ssd_mobilenet_v2_coco@3"
    back = rollback(settings, "detector", reason="too many false alarms")
    assert (label(back), back["replaces"], back["sha256"]) == (
        "ssd_mobilenet_v2_coco@2",
        "ssd_mobilenet_v2_coco@3",
        v2["sha256"],
    )
    assert label(read_registry(settings).current("detector")) == "ssd_mobilenet_v2_coco@2"
    rollback(settings, "detector")
    assert read_registry(settings).current("detector") is None  # the settings' model again
    with pytest.raises(RegistryError, match="nothing to roll back"):
        rollback(settings, "detector")
    actions = [e["action"] for e in read_registry(settings).history["detector"]]
    assert actions == ["PROMOTE", "PROMOTE", "ROLLBACK", "ROLLBACK"]
    with pytest.raises(RegistrationError, match="the face_detector role runs centerface models"):
        promote(settings, "ssd_mobilenet_v2_coco", "3", "face_detector", force=True)


def env_of(settings: VigilSettings) -> dict[str, str]:
    return {
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "COLUMNS": "200",
    }


def test_the_commands(settings: VigilSettings, tmp_path: Path) -> None:
    runner = CliRunner()
    env = env_of(settings)
    spec = derived_model(zoo_spec(settings.cache_dir), tmp_path / "m", version="5")
    result = runner.invoke(app, ["models", "register", str(spec), "--reason", "retrained"], env=env)
    assert result.exit_code == 0, result.output
    assert "registered ssd_mobilenet_v2_coco@5 (ssd, sha256" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec.read_text().replace("family: ssd", "family: rcnn"))
    result = runner.invoke(app, ["models", "register", str(bad)], env=env)
    assert result.exit_code == 2, result.output
    assert "family" in result.output

    result = runner.invoke(app, ["models", "promote", "ssd_mobilenet_v2_coco@5"], env=env)
    assert result.exit_code == 4, result.output
    assert "refused: no eval report" in result.output
    result = runner.invoke(
        app,
        ["models", "promote", "ssd_mobilenet_v2_coco@5", "--force", "--reason", "trial"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "forced past the gate" in result.output
    result = runner.invoke(app, ["models", "history"], env=env)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "ssd_mobilenet_v2_coco@5" in line]
    assert [("REGISTER" in line, "PROMOTE" in line) for line in lines] == [
        (True, False),
        (False, True),
    ]
    assert "failed (forced)" in lines[1]
    assert "trial" in lines[1]
    result = runner.invoke(app, ["models", "show"], env=env)
    assert result.exit_code == 0, result.output
    assert "ssd_mobilenet_v2_coco@5" in result.output
    result = runner.invoke(app, ["models", "rollback", "--role", "detector"], env=env)
    assert result.exit_code == 0, result.output
    assert "rolled back ssd_mobilenet_v2_coco@5" in result.output
    result = runner.invoke(app, ["models", "rollback"], env=env)
    assert result.exit_code == 2
    assert "nothing to roll back" in result.output
