"""The client factory: no consumer can be built that reads aborted transactions."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from vigil import kafka
from vigil.testing import read_to_end
from vigil_app.settings import KafkaSettings, VigilSettings


def _unreachable() -> VigilSettings:
    # no broker is needed: a consumer connects lazily and the refusals come before it exists
    return VigilSettings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"))


@pytest.mark.parametrize("level", ["read_uncommitted", "READ_UNCOMMITTED", "", "committed"])
def test_consumer_refuses_an_isolation_override(level: str) -> None:
    with pytest.raises(ValueError, match=r"isolation\.level") as info:
        kafka.consumer(_unreachable(), "g", **{"isolation.level": level})
    assert repr(level) in str(info.value)
    assert "a consumer override" in str(info.value)


def test_consumer_refuses_client_options_that_skipped_validation() -> None:
    # model_construct skips validators: the factory still refuses, naming where it came from
    sneaked = KafkaSettings.model_construct(
        bootstrap_servers="127.0.0.1:1",
        security_protocol="PLAINTEXT",
        sasl_mechanism=None,
        client_options={"isolation.level": "read_uncommitted"},
    )
    settings = VigilSettings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1")).model_copy(
        update={"kafka": sneaked}
    )
    with pytest.raises(ValueError, match=r"isolation\.level='read_uncommitted' from kafka\.client"):
        kafka.consumer(settings, "g")


def test_wait_visible_holds_until_the_transaction_is_committed(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    """A read_committed reader's end (the last stable offset) stays before an open
    transaction's records; wait_visible waits for it to pass them."""
    topic = new_topic()
    producer = kafka.transactional_producer(settings, f"t-{uuid.uuid4().hex[:8]}")
    landed = kafka.Landmarks()
    producer.begin_transaction()
    for i in range(3):
        kafka.produce(producer, topic, b"v%d" % i, key=b"k", on_delivery=landed)
    assert producer.flush(30) == 0
    assert landed.last == {(topic, 0): 2}
    with pytest.raises(TimeoutError):
        kafka.wait_visible(settings, landed.last, timeout_s=1.0)
    producer.commit_transaction(30)
    kafka.wait_visible(settings, landed.last, timeout_s=30.0)
    assert [m.value() for m in read_to_end(settings, topic)] == [b"v0", b"v1", b"v2"]
