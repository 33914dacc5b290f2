"""`vigil alerts` refuses a bad rules file at start, naming the field (before touching Kafka)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.streams.alerting.helpers import VIGIL


def test_invalid_rules_refused_at_start(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: a\n    trigger: dwell\n    zone: [[0, 0], [1, 0], [1, 1]]\n")
    out = subprocess.run(
        [VIGIL, "alerts", "--rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "rules.0" in out.stderr
    assert "dwell_s: required by trigger 'dwell'" in " ".join(out.stderr.split())
