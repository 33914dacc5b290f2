"""Serde without a broker: framing, evolution, and every kind of bad input."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import pytest

from schemas import contracts as c
from schemas.contracts import make_serde
from schemas.serde import ConfluentSerde, SerdeError, SingleObjectSerde
from schemas.store import AVRO_DIR, SchemaStore
from vigil.testing.samples import SAMPLES, detection_event, evolved, frame_event
from vigil_app.settings import VigilSettings

STORE = SchemaStore.default()


def _source(name: str) -> dict[str, Any]:
    return STORE.current(name).source


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_single_object_round_trip(name: str) -> None:
    serde = SingleObjectSerde(STORE, name)
    record = SAMPLES[name]()
    data = serde.serialize(record, topic="t")
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == STORE.current(name).fingerprint
    decoded = serde.deserialize(data, topic="t")
    # floats are 32-bit in several schemas; the samples use exactly representable values
    assert decoded == record
    assert serde.serialize(decoded, topic="t") == data


def test_every_avsc_file_is_loaded_and_fingerprints_are_distinct() -> None:
    files = sorted(AVRO_DIR.glob("*.avsc"))
    assert len(files) == len(SAMPLES)
    assert sorted(STORE.names()) == sorted(SAMPLES)
    fps = {STORE.current(n).fingerprint for n in STORE.names()}
    assert len(fps) == len(SAMPLES)


def test_fingerprint_matches_the_avro_spec_rabin_for_a_known_schema() -> None:
    # Avro spec: CRC-64-AVRO of the canonical form '"int"' is 0x7275d51a3f395c8f
    store = SchemaStore()
    schema = store.add({"type": "record", "name": "x.R", "fields": [{"name": "a", "type": "int"}]})
    assert len(schema.fingerprint) == 8
    from fastavro.schema import fingerprint

    assert fingerprint('"int"', "CRC-64-AVRO") == struct.pack("<Q", 0x7275D51A3F395C8F).hex()


def test_new_writer_old_reader() -> None:
    new_source = evolved(_source(c.FRAME_EVENT))
    writer_store = SchemaStore()
    writer_store.add(new_source)
    reader_store = SchemaStore.default()
    reader_store.add(new_source, current=False)  # what avro/history/ gives a reader

    record = {**frame_event(), "lens": "wide"}
    data = SingleObjectSerde(writer_store, c.FRAME_EVENT).serialize(record, topic="t")
    decoded = SingleObjectSerde(reader_store, c.FRAME_EVENT).deserialize(data, topic="t")
    assert decoded == frame_event()


def test_old_writer_new_reader_fills_the_default() -> None:
    reader_store = SchemaStore()
    reader_store.add(_source(c.FRAME_EVENT), current=False)
    reader_store.add(evolved(_source(c.FRAME_EVENT)))

    data = SingleObjectSerde(STORE, c.FRAME_EVENT).serialize(frame_event(), topic="t")
    decoded = SingleObjectSerde(reader_store, c.FRAME_EVENT).deserialize(data, topic="t")
    assert decoded == {**frame_event(), "lens": None}


def test_incompatible_writer_is_a_serde_error() -> None:
    # A writer that dropped a field the reader requires (no default): not resolvable.
    source = _source(c.DRIFT_STAT)
    broken = {**source, "fields": [f for f in source["fields"] if f["name"] != "alarm"]}
    writer_store = SchemaStore()
    writer_store.add(broken)
    reader_store = SchemaStore.default()
    reader_store.add(broken, current=False)
    record = {k: v for k, v in SAMPLES[c.DRIFT_STAT]().items() if k != "alarm"}
    data = SingleObjectSerde(writer_store, c.DRIFT_STAT).serialize(record, topic="t")
    with pytest.raises(SerdeError, match="alarm"):
        SingleObjectSerde(reader_store, c.DRIFT_STAT).deserialize(data, topic="t")


def _good() -> bytes:
    return SingleObjectSerde(STORE, c.DETECTION_EVENT).serialize(detection_event(), topic="t")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_good()[:-7], "cannot decode"),
        (
            _good()[:2] + b"\x01" * 8 + _good()[10:],
            "unknown writer schema fingerprint 0101010101010101",
        ),
        (bytes(random.Random(1).getrandbits(8) for _ in range(64)), "missing C3 01"),
        (b"", "missing C3 01"),
        (_good() + b"\x00\x00", "2 trailing bytes"),
        (
            SingleObjectSerde(STORE, c.ALERT).serialize(SAMPLES[c.ALERT](), topic="t"),
            "is a vigil.Alert",
        ),
    ],
    ids=["truncated", "wrong-fingerprint", "random", "empty", "trailing", "other-schema"],
)
def test_bad_payload_raises_typed_error_naming_where(payload: bytes, reason: str) -> None:
    serde = SingleObjectSerde(STORE, c.DETECTION_EVENT)
    with pytest.raises(SerdeError, match=reason) as info:
        serde.deserialize(payload, topic="vigil.detections", partition=3, offset=1234)
    err = info.value
    assert (err.topic, err.partition, err.offset) == ("vigil.detections", 3, 1234)
    assert str(err).startswith("vigil.detections[3]@1234: ")


def test_tombstone_is_a_serde_error() -> None:
    with pytest.raises(SerdeError, match="tombstone"):
        SingleObjectSerde(STORE, c.POI_ENROLLMENT).deserialize(
            None, topic="p", partition=0, offset=0
        )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("camera_id"),
        lambda r: r.update(sequence="seven"),
        lambda r: r.update(encoding="GIF"),
        lambda r: r.update(unknown_field=1),
    ],
    ids=["missing-field", "wrong-type", "bad-enum", "extra-field"],
)
def test_invalid_record_is_refused_on_write(mutate) -> None:
    record = frame_event()
    mutate(record)
    with pytest.raises(SerdeError, match=r"not a valid vigil\.FrameEvent"):
        SingleObjectSerde(STORE, c.FRAME_EVENT).serialize(record, topic="vigil.frames")


def test_random_inputs_never_crash_with_anything_but_serde_error() -> None:
    rng = random.Random(7)
    serde = SingleObjectSerde(STORE, c.FRAME_EVENT)
    good = serde.serialize(frame_event(), topic="t")
    decoded_ok = 0
    for _ in range(500):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(10, len(data))] = rng.getrandbits(8)
        try:
            serde.deserialize(bytes(data), topic="t")
            decoded_ok += 1
        except SerdeError:
            pass
    assert decoded_ok < 500  # corruptions were really exercised


def test_confluent_framing_with_a_registry(tmp_path) -> None:
    # confluent-kafka's in-memory registry (mock://): pure logic, no Kafka or ClickHouse involved
    settings = VigilSettings(schema_registry_url="mock://vigil-test", data_dir=tmp_path)
    writer = make_serde(settings, c.FRAME_EVENT)
    assert isinstance(writer, ConfluentSerde)
    client = writer.client
    data = writer.serialize(frame_event(), topic="vigil.frames")
    assert data[0] == 0
    (schema_id,) = struct.unpack(">I", data[1:5])
    registered = client.get_latest_version("vigil.frames-value")
    assert registered.schema_id == schema_id
    assert json.loads(registered.schema.schema_str or "{}")["name"] == "FrameEvent"
    # a fresh reader resolves the writer schema from the registry by id
    reader = ConfluentSerde(STORE, c.FRAME_EVENT, client)
    assert reader.deserialize(data, topic="vigil.frames") == frame_event()
    with pytest.raises(SerdeError, match="missing 00 magic"):
        reader.deserialize(b"\xc3\x01" + data[1:], topic="vigil.frames", partition=0, offset=9)


def test_v1_detection_events_still_resolve_and_optional_fields_may_be_omitted() -> None:
    from vigil.testing.samples import detection_event

    v1 = SchemaStore()
    v1.add(json.loads((AVRO_DIR / "history" / "detection_event.v1.avsc").read_text()))
    old = {
        k: v for k, v in detection_event().items() if k not in ("faces_searched", "carried_from")
    }
    old["image_stats"] = {k: v for k, v in old["image_stats"].items() if k != "dhash"}
    data = SingleObjectSerde(v1, c.DETECTION_EVENT).serialize(old, topic="t")
    decoded = SingleObjectSerde(STORE, c.DETECTION_EVENT).deserialize(data, topic="t")
    assert decoded["image_stats"]["dhash"] is None
    assert decoded["faces_searched"] is False
    # writers may leave out fields that have defaults
    current = SingleObjectSerde(STORE, c.DETECTION_EVENT)
    assert current.deserialize(current.serialize(old, topic="t"), topic="t") == decoded


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_detection_events_written_before_faces_searched_read_as_not_searched(
    version: str,
) -> None:
    """A record from before the field says nothing about faces: it must read as false, so the
    dashboard treats its frame as unchecked (blurred whole for a viewer), never as checked."""
    old = SchemaStore()
    old.add(json.loads((AVRO_DIR / "history" / f"detection_event.{version}.avsc").read_text()))
    fields = {f["name"] for f in old.current(c.DETECTION_EVENT).source["fields"]}
    assert "faces_searched" not in fields
    dropped = ("faces_searched", "carried_from")
    record = {k: v for k, v in detection_event().items() if k not in dropped}
    if version == "v1":
        record["image_stats"] = {k: v for k, v in record["image_stats"].items() if k != "dhash"}
    data = SingleObjectSerde(old, c.DETECTION_EVENT).serialize(record, topic="t")
    decoded = SingleObjectSerde(STORE, c.DETECTION_EVENT).deserialize(data, topic="t")
    assert decoded["faces_searched"] is False
    assert decoded["frame_id"] == record["frame_id"]
    # the current writer keeps it both ways
    current = SingleObjectSerde(STORE, c.DETECTION_EVENT)
    searched = {**detection_event(), "faces_searched": True}
    assert current.deserialize(current.serialize(searched, topic="t"), topic="t") == searched


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_detection_events_written_before_carried_from_read_as_detected(version: str) -> None:
    """A record from before the motion gate was detected on its own frame: ``carried_from``
    reads as null, so alert rules and analysts count it as inferred."""
    old = SchemaStore()
    old.add(json.loads((AVRO_DIR / "history" / f"detection_event.{version}.avsc").read_text()))
    fields = {f["name"] for f in old.current(c.DETECTION_EVENT).source["fields"]}
    assert "carried_from" not in fields
    record = {k: v for k, v in detection_event().items() if k != "carried_from"}
    if version == "v1":
        record["image_stats"] = {k: v for k, v in record["image_stats"].items() if k != "dhash"}
    if version in ("v1", "v2"):
        del record["faces_searched"]
    data = SingleObjectSerde(old, c.DETECTION_EVENT).serialize(record, topic="t")
    decoded = SingleObjectSerde(STORE, c.DETECTION_EVENT).deserialize(data, topic="t")
    assert decoded["carried_from"] is None
    assert decoded["detections"] == record["detections"]


def test_a_carried_event_keeps_its_source_frame_and_old_readers_ignore_it() -> None:
    carried = {**detection_event(), "frame_id": "cam-1-8", "carried_from": "cam-1-7"}
    current = SingleObjectSerde(STORE, c.DETECTION_EVENT)
    data = current.serialize(carried, topic="t")
    assert current.deserialize(data, topic="t") == carried
    # a reader still on v3 (before the field) resolves the new writer and drops the field
    v3 = json.loads((AVRO_DIR / "history" / "detection_event.v3.avsc").read_text())
    old_reader = SchemaStore()
    old_reader.add(v3)
    old_reader.add(STORE.current(c.DETECTION_EVENT).source, current=False)
    decoded = SingleObjectSerde(old_reader, c.DETECTION_EVENT).deserialize(data, topic="t")
    assert "carried_from" not in decoded
    assert decoded["frame_id"] == "cam-1-8"
    assert decoded["detections"] == carried["detections"]
