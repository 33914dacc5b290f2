"""Which schema each topic carries, and the serde the settings ask for."""

from __future__ import annotations

from functools import lru_cache

from confluent_kafka.schema_registry import SchemaRegistryClient

from schemas.serde import AvroSerde, ConfluentSerde, SingleObjectSerde
from schemas.store import SchemaStore
from vigil.settings import CoreSettings
from vigil.topics import Topic

FRAME_EVENT = "vigil.FrameEvent"
DETECTION_EVENT = "vigil.DetectionEvent"
ALERT = "vigil.Alert"
DRIFT_STAT = "vigil.DriftStat"
POI_ENROLLMENT = "vigil.PoiEnrollment"
DLQ_ENVELOPE = "vigil.DlqEnvelope"
MODEL_RECORD = "vigil.ModelRecord"
SAMPLE = "vigil.Sample"

# vigil.dlq carries the original bytes untouched; DlqEnvelope is how tools read it back.
TOPIC_SCHEMAS: dict[Topic, str] = {
    Topic.FRAMES: FRAME_EVENT,
    Topic.DETECTIONS: DETECTION_EVENT,
    Topic.ALERTS: ALERT,
    Topic.DRIFT: DRIFT_STAT,
    Topic.POI: POI_ENROLLMENT,
    Topic.MODELS: MODEL_RECORD,
    Topic.SAMPLES: SAMPLE,
}


@lru_cache(maxsize=1)
def default_store() -> SchemaStore:
    return SchemaStore.default()


def make_serde(settings: CoreSettings, schema_name: str) -> AvroSerde:
    """Single-object encoding by default; Confluent framing when a registry URL is set."""
    store = default_store()
    if not settings.schema_registry_url:
        return SingleObjectSerde(store, schema_name)
    conf = {"url": settings.schema_registry_url}
    if settings.schema_registry_basic_auth is not None:
        conf["basic.auth.user.info"] = settings.schema_registry_basic_auth.get_secret_value()
    return ConfluentSerde(store, schema_name, SchemaRegistryClient.new_client(conf))  # type: ignore[attr-defined]  # stubs predate it


def serde_for(settings: CoreSettings, topic: Topic) -> AvroSerde:
    return make_serde(settings, TOPIC_SCHEMAS[topic])
