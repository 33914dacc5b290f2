"""The bench documents' goals: a figure beside its goal, gathered by path, and the README
table made from them (pure logic; the benches themselves run in ``make bench``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.goals import goal, goals_of
from bench.table import END, START, render, rewrite


def test_a_goal_is_met_only_by_a_measured_value_on_the_right_side() -> None:
    assert goal(0.91, ">=", 0.9)["met"] is True
    assert goal(0.89, ">=", 0.9, why="decode")["met"] is False
    assert goal(0.89, ">=", 0.9, why="decode")["why"] == "decode"
    assert "why" not in goal(0.95, ">=", 0.9, why="not shown when met")
    assert goal(None, "<", 100, unit="ms") == {"value": None, "goal": "< 100 ms", "met": False}
    assert goal(99.9, "<", 100)["met"] is True
    assert goal(100, "<", 100)["met"] is False


def test_goals_are_gathered_by_their_path_and_rendered_between_the_markers(
    tmp_path: Path,
) -> None:
    benches = {
        "latency": {
            "by_load": {"50%": {"p99_ms": 80.0}},
            "goal_p99": goal(80.0, "<", 100, unit="ms"),
            "load_before": [1.0, 1.0, 1.0],
            "load_after": [1.5, 1.0, 1.0],
        },
        "sink": {"chdb": {"ratio": goal(0.5, ">=", 0.8, why="row mapping")}},
        "motion": {"error": "RuntimeError: boom"},
    }
    goals = goals_of(benches)
    assert list(goals) == ["latency.goal_p99", "sink.chdb.ratio"]
    document = {
        "started": "2026-12-02T00:00:00+00:00",
        "machine": {"cpus": 2, "processor": "x86_64", "python": "3.11.7"},
        "goals": goals,
        "benches": benches,
    }
    table = render(document)
    assert "| `latency` (1 → 1.5) | goal_p99 | 80 | < 100 ms | yes |" in table
    assert "| `sink` | chdb.ratio | 0.5 | >= 0.8 | **no**: row mapping |" in table
    assert "Failed to run: `motion`." in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{START}\nold\n{END}\nafter\n")
    rewrite(readme, table)
    text = readme.read_text()
    assert "old" not in text
    assert table in text
    assert text.endswith(f"{END}\nafter\n")
    readme.write_text("no markers")
    with pytest.raises(SystemExit, match="markers"):
        rewrite(readme, table)
