"""The rules file: validation names the field, schedules honour time zones and midnight, and a
bad edit leaves the previous rules active."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streams.alerting.rules import RulesFile, parse_rules
from vigil_app.settings import ConfigError

GOOD = """
rules:
  - id: door
    zone: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
"""


def ms(text: str, tz: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("rules:\n  - id: a\n    zonez: [[0,0],[1,0],[1,1]]\n", "rules.0.zonez"),
        ("rules:\n  - id: a\n    min_score: 2\n", "rules.0.min_score"),
        ("rules:\n  - id: a\n    trigger: dwell\n    zone: [[0,0],[1,0],[1,1]]\n", "dwell_s"),
        ("rules:\n  - id: a\n    trigger: line\n", "line"),
        (
            "rules:\n  - {id: a, schedule: {timezone: Mars/Olympus, "
            "windows: [{start: '1:00', end: '2:00'}]}}\n",
            "timezone",
        ),
        ("rules:\n  - {id: a}\n  - {id: a}\n", "duplicate rule ids"),
        ("poi: {confirm_k: 6, confirm_n: 5}\n", "confirm_k"),
        ("destinations: {webhooks: [{url: 'ftp://x'}]}\n", "destinations.webhooks.0.url"),
        ("destinations: {webhooks: [{url: 'http://[::1/'}]}\n", "does not parse as a URL"),
        ("destinations: {webhooks: [{url: 'https://'}]}\n", "no valid host"),
        ("rules: [\n", "not valid YAML"),
    ],
)
def test_invalid_rules_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_rules(text)


def test_schedule_across_midnight_in_a_timezone() -> None:
    rules = parse_rules(
        "rules:\n  - id: night\n    schedule:\n      timezone: Europe/Paris\n"
        "      windows: [{start: '22:00', end: '06:00', days: [fri]}]\n"
    )
    sched = rules.rules[0].schedule
    assert sched is not None
    tz = "Europe/Paris"
    assert sched.active(ms("2026-01-02T23:30:00", tz))  # Friday night
    assert sched.active(ms("2026-01-03T05:59:00", tz))  # early Saturday: still Friday's night
    assert not sched.active(ms("2026-01-03T06:00:00", tz))
    assert not sched.active(ms("2026-01-02T21:59:00", tz))
    assert not sched.active(ms("2026-01-01T23:30:00", tz))  # Thursday night
    # Paris is UTC+1 in January: 21:30 UTC is 22:30 there (active), 20:30 UTC is not
    assert sched.active(ms("2026-01-02T21:30:00", "UTC"))
    assert not sched.active(ms("2026-01-02T20:30:00", "UTC"))


def test_bad_edit_keeps_previous_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    active = RulesFile(path)
    assert [r.id for r in active.rules.rules] == ["door"]
    path.write_text(GOOD + "    severty: HIGH\n")
    assert active.refresh() is False
    assert active.error is not None
    assert "rules.0.severty" in active.error
    assert [r.id for r in active.rules.rules] == ["door"]
    path.write_text(GOOD.replace("door", "gate") + "    severity: HIGH\n")
    assert active.refresh() is True
    assert active.error is None
    assert [(r.id, r.severity) for r in active.rules.rules] == [("gate", "HIGH")]


def test_bad_file_at_start_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - id: a\n    labels: person\n    cameras: [1, {x: 2}]\n")
    with pytest.raises(ConfigError, match=r"rules\.0\.cameras"):
        RulesFile(path)
    with pytest.raises(ConfigError, match="does-not-exist"):
        RulesFile(tmp_path / "does-not-exist.yaml")


def test_a_bad_webhook_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules("destinations: {webhooks: [{url: 'http://[tok-SECRET-1/'}]}\n")
    assert "tok-SECRET-1" not in str(caught.value)
