"""The client factory: no consumer can be built that reads aborted transactions."""

from __future__ import annotations

import pytest

from vigil import kafka
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
