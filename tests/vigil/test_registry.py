"""The model registry on the real broker: records round-trip, a promotion's two records land
together, the chain of promotions and rollbacks, and a follower hears changes after its
catch-up."""

from __future__ import annotations

import threading

import pytest

from schemas.types import ModelRecord
from vigil import kafka
from vigil.registry import (
    Registry,
    RegistryError,
    RegistryFollower,
    check_role,
    history_key,
    label,
    model_key,
    new_record,
    production_key,
    publish,
    read_registry,
)
from vigil.testing import poll_until
from vigil.topics import ensure_topics, topic_specs
from vigil_app.settings import VigilSettings


def _promotion(name: str, version: str, ts: int, action: str = "PROMOTE") -> ModelRecord:
    return new_record(
        action=action, role="detector", name=name, version=version, ts_ms=ts, sha256="ab" * 32
    )


def _promote(settings: VigilSettings, record: ModelRecord) -> None:
    publish(
        settings,
        [
            (production_key(record["role"]), record),
            (history_key(record["role"], record["ts_ms"]), record),
        ],
    )


def test_records_round_trip_and_the_chain_undoes_the_last_promotion(
    settings: VigilSettings,
) -> None:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    reg = new_record(action="REGISTER", name="ssd", version="2", location="file:///m/spec.yaml")
    publish(settings, [(model_key("ssd", "2"), reg)])
    _promote(settings, _promotion("ssd", "1", 1000))
    _promote(settings, _promotion("ssd", "2", 2000))
    registry = read_registry(settings)
    assert registry.model("ssd", "2") == reg
    assert label(registry.current("detector")) == "ssd@2"
    assert [label(e) for e in registry.chain("detector")] == ["ssd@1", "ssd@2"]

    # a rollback: production back to ssd@1, and a second one to the configured model
    back = _promotion("ssd", "1", 3000, "ROLLBACK")
    _promote(settings, back)
    publish(
        settings,
        [(production_key("detector"), None), (history_key("detector", 4000), _empty_rollback())],
    )
    registry = read_registry(settings)
    assert registry.current("detector") is None
    assert label(None) == "(configured model)"
    assert registry.chain("detector") == []
    assert [e["action"] for e in registry.history["detector"]] == [
        "PROMOTE",
        "PROMOTE",
        "ROLLBACK",
        "ROLLBACK",
    ]


def _empty_rollback() -> ModelRecord:
    return new_record(action="ROLLBACK", role="detector", ts_ms=4000)


def test_a_follower_reads_the_state_then_hears_each_change(settings: VigilSettings) -> None:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    _promote(settings, _promotion("ssd", "1", 1000))
    heard: list[tuple[str, str]] = []
    lock = threading.Lock()

    def on_change(role: str, record: ModelRecord | None) -> None:
        with lock:
            heard.append((role, label(record)))

    follower = RegistryFollower(settings, on_change).start()
    try:
        follower.wait(30)
        assert label(follower.current("detector")) == "ssd@1"
        _promote(settings, _promotion("yolo", "3", 2000))
        assert poll_until(lambda: len(heard) == 1, 30)
        assert heard == [("detector", "yolo@3")]
        assert label(follower.current("detector")) == "yolo@3"
    finally:
        assert follower.stop()


def test_unknown_roles_and_fields_are_refused() -> None:
    with pytest.raises(RegistryError, match="unknown model role 'detektor'"):
        check_role("detektor")
    with pytest.raises(TypeError, match="colour"):
        new_record(colour="red")
    registry = Registry()
    assert registry.apply("role:detector", _promotion("a", "1", 1)) == "detector"
    assert registry.apply("model:a@1", None) is None
