"""``make demo``'s drift step against the session broker: the window table and the alarm."""

from __future__ import annotations

from rich.console import Console

from vigil_app.demo.drift import LOOPS, run_drift_demo
from vigil_app.settings import VigilSettings


def test_drift_demo_raises_the_brightness_alarm(settings: VigilSettings) -> None:
    result = run_drift_demo(settings, Console())
    assert result.windows == LOOPS - 1
    assert result.ok
    assert {a["severity"] for a in result.alarms if a["rule_id"] == "drift:brightness"} == {
        "MEDIUM"
    }
