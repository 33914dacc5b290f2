"""Fault specs of the crash-test hooks (pure logic; the kills themselves are proved by
tests/connectors/sinks/clickhouse/test_crash.py)."""

from __future__ import annotations

import pytest

from vigil.faults import Faults


def test_fault_specs() -> None:
    fault = Faults.parse("between_tables:2,after_insert:5")
    assert fault.at == {"between_tables": 2, "after_insert": 5}
    assert Faults.parse(None).at == {}
    with pytest.raises(ValueError, match="bad fault spec"):
        Faults.parse("after_commit:1")
