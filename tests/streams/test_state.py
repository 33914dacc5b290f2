"""The write-behind table: values change locally at once, the changelog gets each dirty key once
per commit, with the partition of the event that changed it."""

from __future__ import annotations

from typing import Any

from streams.state import FlushBeforeCommit, WriteBehindTable


class FakeTable:
    """Stands in for a faust table's two members the write-behind uses: its store and its
    changelog sender (the real table is exercised by the app tests)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sent: list[tuple[int, str, Any]] = []

    def send_changelog(self, partition: int, key: str, value: Any, **kw: Any) -> None:
        self.sent.append((partition, key, value))


def test_dirty_keys_are_sent_once_per_flush_with_their_latest_value() -> None:
    table = FakeTable()
    state = WriteBehindTable(table)
    state.partition = 2
    for i in range(100):
        state["a"] = {"n": i}
    state.partition = 3
    state["b"] = {"n": 0}
    assert state["a"] == {"n": 99}
    assert table.sent == []
    assert state.flush() == 2
    assert table.sent == [(2, "a", {"n": 99}), (3, "b", {"n": 0})]
    assert state.flush() == 0
    del state["b"]
    FlushBeforeCommit(state).on_commit_initiated(consumer=None)
    assert table.sent[-1] == (3, "b", None)
    assert dict(state) == {"a": {"n": 99}}
