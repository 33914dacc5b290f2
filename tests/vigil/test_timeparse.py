"""One time parser for every command line (replay, eval, drift baseline): the union of the
forms each accepted before."""

from __future__ import annotations

import pytest

from vigil.timeparse import parse_time

NOW = 1_763_800_000_000


def test_parse_time_forms() -> None:  # the replay and eval forms
    assert parse_time("1763800000123") == 1_763_800_000_123
    assert parse_time("now", NOW) == NOW
    assert parse_time("-15m", NOW) == NOW - 15 * 60_000
    assert parse_time("-1.5h", NOW) == NOW - 5_400_000
    assert parse_time("2025-11-22T08:26:40Z") == 1_763_800_000_000
    assert parse_time("2025-11-22T09:26:40+01:00") == 1_763_800_000_000
    assert parse_time("2025-11-22T08:26:40") == 1_763_800_000_000  # no zone: UTC
    with pytest.raises(ValueError, match="cannot read time 'yesterday'"):
        parse_time("yesterday")


@pytest.mark.parametrize("text", ["1234", "2026-11-22T00:00:00+00:00", "2026-11-22T00:00:00"])
def test_times_are_epoch_ms_or_iso(text: str) -> None:  # the drift baseline forms
    value = parse_time(text)
    assert value == 1234 or value == 1_795_305_600_000


def test_negative_epoch_ms_relative_units_and_whitespace() -> None:
    assert parse_time("-1234") == -1234  # epoch ms before 1970 (drift's form), not relative
    assert parse_time("-30s", NOW) == NOW - 30_000
    assert parse_time("-2d", NOW) == NOW - 2 * 86_400_000
    assert parse_time("  now \n", NOW) == NOW
    assert parse_time(" 1763800000123 ") == 1_763_800_000_123


def test_iso_times_are_exact_to_the_millisecond() -> None:
    # int(timestamp() * 1000) says 4272623423 here: float seconds lose the last millisecond
    assert parse_time("1970-02-19T10:50:23.424Z") == 4_272_623_424
    assert parse_time("2286-11-20T17:46:39.999Z") == 9_999_999_999_999
    assert parse_time("2025-11-22T08:26:40.1234Z") == 1_763_800_000_123
    assert parse_time("2025-11-22T08:26:40.1235Z") == 1_763_800_000_124  # nearest ms
    assert parse_time("2025-11-22") == 1_763_769_600_000


@pytest.mark.parametrize("text", ["", "-15x", "15m", "--5", "2025-13-01"])
def test_what_is_not_a_time_names_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="use ISO 8601"):
        parse_time(text)
