"""User-written model specs fail fast with the offending field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_workers.models.spec import SpecError, load_spec, parse_spec

GOOD = {"name": "mine", "family": "yolo", "input_size": [640, 640], "labels": ["a", "b"]}


def test_a_good_spec_loads(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("name: mine\nfamily: yolo\ninput_size: [640, 640]\nlabels: [a, b]\n")
    spec = load_spec(path)
    assert spec.num_classes == 2
    assert spec.input_size == (640, 640)
    assert spec.layout == "nchw"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"famly": "yolo"}, "famly"),  # a typo is an error, not a silent default
        ({"family": "rcnn"}, "family"),
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"labels": []}, "labels"),
        ({"input_size": None}, "input_size"),
        ({"colour_order": "grb"}, "colour_order"),
        ({"std": [1, 0, 1]}, "std"),
        ({"name": "has space"}, "name"),
    ],
)
def test_invalid_specs_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(SpecError, match=field):
        parse_spec({**GOOD, **change})


def test_ssd_needs_anchors() -> None:
    with pytest.raises(SpecError, match="anchors"):
        parse_spec({**GOOD, "family": "ssd"})


def test_unreadable_spec_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match=r"bad\.yaml"):
        load_spec(path)
