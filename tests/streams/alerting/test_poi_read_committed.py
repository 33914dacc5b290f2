"""The POI feed reads read_committed: an enrolment (or a removal) written in an aborted
transaction never changes the watch-list; committed ones around it do."""

from __future__ import annotations

from typing import Any

from schemas.contracts import serde_for
from vigil import kafka
from vigil.poi import PoiFeed, read_watchlist
from vigil.testing import wait_until, write_aborted, write_committed
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.settings import VigilSettings


def enrolment(person: str, value: float) -> dict[str, Any]:
    return {
        "person_id": person,
        "display_name": None,
        "embedding_model": "faceres:1",
        "embeddings": [[value, 0.0, 0.0, 0.0]],
        "match_threshold": None,
        "enrolled_ts_ms": 1_795_300_000_000,
        "tags": {},
    }


def test_aborted_enrolments_and_removals_never_reach_the_watchlist(
    settings: VigilSettings,
) -> None:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    topic = Topic.POI.name_in(settings.topics)
    serde = serde_for(settings, Topic.POI)

    def enrol(person: str, value: float = 1.0) -> tuple[str, bytes | None]:
        return person, serde.serialize(enrolment(person, value), topic=topic)

    write_aborted(settings, topic, [enrol("mallory")])
    write_committed(settings, topic, [enrol("alice")])
    write_aborted(settings, topic, [("alice", None), enrol("eve")])  # a removal, aborted

    feed = PoiFeed(settings).start()
    try:
        feed.wait(30)
        assert feed.watchlist.ids() == ["alice"]
        assert sorted(feed.records) == ["alice"]

        # following live: an aborted enrolment, then a committed one behind it
        write_aborted(settings, topic, [enrol("trent")])
        write_committed(settings, topic, [enrol("bob", 2.0)])
        wait_until(lambda: "bob" in feed.records, 30, "bob enrolled in the live feed")
        assert feed.watchlist.ids() == ["alice", "bob"]
    finally:
        feed.stop()

    listed = read_watchlist(settings)
    assert sorted(listed) == ["alice", "bob"]
    assert listed["bob"]["embeddings"] == [[2.0, 0.0, 0.0, 0.0]]
