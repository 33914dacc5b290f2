"""``ensure_topics`` against the real broker: create, leave alone, reconcile."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import ConfigResource

from vigil import kafka
from vigil.topics import (
    PERSONAL,
    Action,
    RetentionError,
    Topic,
    ensure_topics,
    prepare_topics,
    retention_problems,
    topic_specs,
)
from vigil_app.settings import VigilSettings

HOUR = 3_600_000


def _config(settings: VigilSettings, topic: str, key: str) -> str:
    client = kafka.admin(settings)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return str(client.describe_configs([res])[res].result(30)[key].value)


def test_ensure_creates_then_is_idempotent_then_reconciles(settings: VigilSettings) -> None:
    client = kafka.admin(settings)
    specs = topic_specs(settings.topics)
    first = ensure_topics(client, specs)
    assert [r.action for r in first] == [Action.CREATED] * len(Topic)
    names = {r.name for r in first}
    assert names == {role.name_in(settings.topics) for role in Topic}

    md = client.list_topics(timeout=10).topics
    frames = Topic.FRAMES.name_in(settings.topics)
    assert len(md[frames].partitions) == 4
    assert len(md[Topic.DRIFT.name_in(settings.topics)].partitions) == 1
    assert _config(settings, frames, "retention.ms") == str(72 * 3_600_000)
    for role in PERSONAL:  # personal data: 72 h, in segments of at most 6 h that can go
        assert _config(settings, role.name_in(settings.topics), "retention.ms") == str(72 * HOUR)
        assert _config(settings, role.name_in(settings.topics), "segment.ms") == str(6 * HOUR)
    poi = Topic.POI.name_in(settings.topics)
    assert _config(settings, poi, "cleanup.policy") == "compact"
    for key in ("segment.ms", "max.compaction.lag.ms", "delete.retention.ms"):
        assert _config(settings, poi, key) == str(15 * 60_000)  # a quarter of the 1 h bound

    second = ensure_topics(client, specs)
    assert [r.action for r in second] == [Action.UNCHANGED] * len(Topic)

    grown = settings.model_copy(
        update={
            "topics": settings.topics.model_copy(
                update={"frames_partitions": 6, "frames_retention_hours": 2}
            )
        }
    )
    third = {r.name: r for r in ensure_topics(client, topic_specs(grown.topics))}
    assert third[frames].action is Action.UPDATED
    assert third[frames].changes == (
        "partitions 4 -> 6",
        f"retention.ms={2 * HOUR}",
        f"segment.ms={2 * HOUR}",
    )
    assert len(client.list_topics(timeout=10).topics[frames].partitions) == 6
    assert _config(settings, frames, "retention.ms") == str(2 * 3_600_000)
    assert sum(r.action is Action.UNCHANGED for r in third.values()) == len(Topic) - 1


def test_components_refuse_topics_that_keep_personal_data_too_long(
    settings: VigilSettings,
) -> None:
    """An existing topic with the broker's 7 days (or a lax POI topic) is not altered by a
    component: it refuses, naming the topic and the fix; `vigil topics ensure` alters it."""
    client = kafka.admin(settings)
    lax = settings.topics.model_copy(
        update={"detections_retention_hours": 168, "poi_erasure_minutes": 24 * 60}
    )
    ensure_topics(client, topic_specs(lax))
    detections = Topic.DETECTIONS.name_in(settings.topics)
    poi = Topic.POI.name_in(settings.topics)

    problems = retention_problems(client, settings.topics)
    assert len(problems) == 3, problems
    assert problems[0].startswith(f"{detections}: keeps records 168 h")
    assert "topics.detections_retention_hours (72 h)" in problems[0]
    assert {p.split(":")[0] for p in problems[1:]} == {poi}
    with pytest.raises(RetentionError, match=r"run `vigil topics ensure`"):
        prepare_topics(client, settings.topics)
    assert _config(settings, detections, "retention.ms") == str(168 * HOUR)  # not altered

    fixed = {r.name: r for r in ensure_topics(client, topic_specs(settings.topics))}
    assert fixed[detections].changes == (f"retention.ms={72 * HOUR}",)
    assert set(fixed[poi].changes) == {
        f"{k}={15 * 60_000}" for k in ("segment.ms", "max.compaction.lag.ms", "delete.retention.ms")
    }
    assert retention_problems(client, settings.topics) == []
    prepare_topics(client, settings.topics)  # now starts


def test_a_shorter_retention_than_the_settings_is_fine(settings: VigilSettings) -> None:
    client = kafka.admin(settings)
    strict = settings.topics.model_copy(update={"frames_retention_hours": 1})
    ensure_topics(client, topic_specs(strict))
    assert retention_problems(client, settings.topics) == []
    assert _config(settings, Topic.FRAMES.name_in(settings.topics), "segment.ms") == str(HOUR)
