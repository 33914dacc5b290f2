"""Records on ``vigil.poi`` whose key is not a person id (not UTF-8, out of pattern)
are skipped with a warning and a counter; the feed goes on and the good records around them
are on the watch-list (real broker; a compacted topic refuses records without a key)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from schemas.contracts import serde_for
from tests.streams.alerting.test_poi_read_committed import enrolment
from vigil import kafka
from vigil.poi import PoiFeed
from vigil.testing import wait_until, write_committed
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.settings import VigilSettings


def skipped() -> float:
    return (
        REGISTRY.get_sample_value("vigil_poi_records_skipped_total", {"reason": "invalid_key"})
        or 0.0
    )


def test_non_utf8_keys_are_skipped_and_the_feed_goes_on(settings: VigilSettings) -> None:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    topic = Topic.POI.name_in(settings.topics)
    serde = serde_for(settings, Topic.POI)

    def value(person: str) -> bytes:
        return serde.serialize(enrolment(person, 1.0), topic=topic)

    before = skipped()
    write_committed(
        settings,
        topic,
        [
            ("alice", value("alice")),
            (b"\xff\xfe-not-utf8", value("mallory")),
            (b"\xc3\x28", None),  # a tombstone with an invalid key forgets no one
            ("has space", value("spacey")),
            ("bob", value("bob")),
        ],
    )
    feed = PoiFeed(settings).start()
    try:
        feed.wait(30)
        assert feed.watchlist.ids() == ["alice", "bob"]
        write_committed(settings, topic, [(b"\x80", value("eve")), ("carol", value("carol"))])
        wait_until(lambda: "carol" in feed.records, 30, "carol enrolled after a bad key")
        assert feed.watchlist.ids() == ["alice", "bob", "carol"]
        assert feed._thread is not None
        assert feed._thread.is_alive()
    finally:
        feed.stop()
    assert skipped() - before == 4
