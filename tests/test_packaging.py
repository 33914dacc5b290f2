"""The repository's user-facing files: the compose file validates, the README's commands hold."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_has_exactly_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:sh|bash)?\n(.*?)```", readme, re.S)
    assert first_block is not None
    assert first_block.group(1).split("\n")[:2] == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec make test" in ci


def test_top_level_layout_names_the_architecture() -> None:
    for folder in (
        "schemas",
        "connectors",
        "gpu_workers",
        "streams",
        "dashboards",
        "tests",
        "bench",
        "vigil",
    ):
        assert (ROOT / folder).is_dir(), folder
