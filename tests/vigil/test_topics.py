"""``ensure_topics`` against the real broker: create, leave alone, reconcile."""

from __future__ import annotations

from confluent_kafka.admin import ConfigResource

from vigil import kafka
from vigil.settings import VigilSettings
from vigil.topics import Action, Topic, ensure_topics, topic_specs


def _config(settings: VigilSettings, topic: str, key: str) -> str:
    client = kafka.admin(settings)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return str(client.describe_configs([res])[res].result(30)[key].value)


def test_ensure_creates_then_is_idempotent_then_reconciles(settings: VigilSettings) -> None:
    client = kafka.admin(settings)
    specs = topic_specs(settings.topics)
    first = ensure_topics(client, specs)
    assert [r.action for r in first] == [Action.CREATED] * 6
    names = {r.name for r in first}
    assert names == {role.name_in(settings.topics) for role in Topic}

    md = client.list_topics(timeout=10).topics
    frames = Topic.FRAMES.name_in(settings.topics)
    assert len(md[frames].partitions) == 4
    assert len(md[Topic.DRIFT.name_in(settings.topics)].partitions) == 1
    assert _config(settings, frames, "retention.ms") == str(24 * 3_600_000)
    assert _config(settings, Topic.POI.name_in(settings.topics), "cleanup.policy") == "compact"

    second = ensure_topics(client, specs)
    assert [r.action for r in second] == [Action.UNCHANGED] * 6

    grown = settings.model_copy(
        update={
            "topics": settings.topics.model_copy(
                update={"frames_partitions": 6, "frames_retention_hours": 2}
            )
        }
    )
    third = {r.name: r for r in ensure_topics(client, topic_specs(grown.topics))}
    assert third[frames].action is Action.UPDATED
    assert third[frames].changes == ("partitions 4 -> 6", f"retention.ms={2 * 3_600_000}")
    assert len(client.list_topics(timeout=10).topics[frames].partitions) == 6
    assert _config(settings, frames, "retention.ms") == str(2 * 3_600_000)
    assert sum(r.action is Action.UNCHANGED for r in third.values()) == 5
