"""Avro serde for every topic.

Default framing is Avro single-object encoding (``C3 01`` + 8-byte CRC-64-AVRO fingerprint +
body): self-describing, no registry needed. With a Schema Registry URL configured, Confluent
framing (``00`` + 4-byte schema id + body) is used instead. Either way the reader resolves the
writer's schema against its own, so old and new versions interoperate, and any payload that
does not decode raises :class:`SerdeError` naming topic, partition and offset.
"""

from __future__ import annotations

import io
import json
import struct
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka.schema_registry import Schema
from fastavro import schemaless_reader, schemaless_writer

from schemas.store import AvroSchema, SchemaStore
from vigil.errors import VigilError

if TYPE_CHECKING:
    from confluent_kafka import Message
    from confluent_kafka.schema_registry import SchemaRegistryClient

Record = dict[str, Any]


class SerdeError(VigilError, ValueError):
    """A payload that is not a valid event of its topic's schema (or a record that is not)."""

    def __init__(
        self,
        reason: str,
        *,
        topic: str,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.topic = topic
        self.partition = partition
        self.offset = offset
        where = topic if partition is None else f"{topic}[{partition}]"
        if offset is not None:
            where += f"@{offset}"
        super().__init__(f"{where}: {reason}")


class AvroSerde(ABC):
    """Writes the current version of one schema; reads any known version of it."""

    def __init__(self, store: SchemaStore, schema_name: str) -> None:
        self.store = store
        self.schema = store.current(schema_name)

    @abstractmethod
    def _header(self, topic: str) -> bytes:
        """The framing bytes that name the writer schema."""

    @abstractmethod
    def _writer_schema(self, view: memoryview) -> tuple[AvroSchema, int]:
        """The writer schema named by the framing, and the body's start; raises ValueError."""

    def serialize(self, record: Mapping[str, Any], *, topic: str) -> bytes:
        buf = io.BytesIO()
        buf.write(self._header(topic))
        try:
            schemaless_writer(buf, self.schema.parsed, dict(record), strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise SerdeError(
                f"record is not a valid {self.schema.name}: {exc}", topic=topic
            ) from exc
        return buf.getvalue()

    def deserialize(
        self,
        data: bytes | None,
        *,
        topic: str,
        partition: int | None = None,
        offset: int | None = None,
    ) -> Record:
        if data is None:
            raise SerdeError(
                "empty value (tombstone)", topic=topic, partition=partition, offset=offset
            )
        view = memoryview(data)
        try:
            writer, start = self._writer_schema(view)
            body = io.BytesIO(view[start:])
            reader = None if writer is self.schema else self.schema.parsed
            record = schemaless_reader(body, writer.parsed, reader)
            if body.tell() != len(view) - start:
                raise ValueError(
                    f"{len(view) - start - body.tell()} trailing bytes after the record"
                )
        except SerdeError:
            raise
        except Exception as exc:  # fastavro raises many types on corrupt input: all mean "invalid"
            reason = f"cannot decode as {self.schema.name}: {type(exc).__name__}: {exc}"
            raise SerdeError(reason, topic=topic, partition=partition, offset=offset) from exc
        if not isinstance(record, dict):
            raise SerdeError(
                "payload is not a record", topic=topic, partition=partition, offset=offset
            )
        return record

    def decode(self, message: Message) -> Record:
        """Deserialize a consumed message, naming its topic, partition and offset on error."""
        value = message.value()
        return self.deserialize(
            value if isinstance(value, bytes) or value is None else bytes(value),
            topic=message.topic() or "?",
            partition=message.partition(),
            offset=message.offset(),
        )


class SingleObjectSerde(AvroSerde):
    """Avro single-object encoding: the schema travels as its fingerprint."""

    MAGIC = b"\xc3\x01"
    HEADER_LEN = 10

    def _header(self, topic: str) -> bytes:
        return self.MAGIC + self.schema.fingerprint

    def _writer_schema(self, view: memoryview) -> tuple[AvroSchema, int]:
        if len(view) < self.HEADER_LEN or bytes(view[:2]) != self.MAGIC:
            raise ValueError("not Avro single-object encoding (missing C3 01 marker)")
        fp = bytes(view[2 : self.HEADER_LEN])
        writer = self.store.by_fingerprint(fp)
        if writer is None:
            raise ValueError(f"unknown writer schema fingerprint {fp.hex()}")
        if writer.name != self.schema.name:
            raise ValueError(f"payload is a {writer.name}, expected {self.schema.name}")
        return writer, self.HEADER_LEN


class ConfluentSerde(AvroSerde):
    """Confluent Schema Registry framing; schemas registered under ``<topic>-value``."""

    MAGIC = b"\x00"
    HEADER_LEN = 5

    def __init__(self, store: SchemaStore, schema_name: str, client: SchemaRegistryClient) -> None:
        super().__init__(store, schema_name)
        self.client = client
        self._ids: dict[str, int] = {}
        self._by_id: dict[int, AvroSchema] = {}

    def _header(self, topic: str) -> bytes:
        schema_id = self._ids.get(topic)
        if schema_id is None:
            schema_id = self.client.register_schema(
                f"{topic}-value", Schema(self.schema.json, "AVRO")
            )
            self._ids[topic] = schema_id
            self._by_id[schema_id] = self.schema
        return self.MAGIC + struct.pack(">I", schema_id)

    def _writer_schema(self, view: memoryview) -> tuple[AvroSchema, int]:
        if len(view) < self.HEADER_LEN or bytes(view[:1]) != self.MAGIC:
            raise ValueError("not Confluent Schema Registry framing (missing 00 magic byte)")
        (schema_id,) = struct.unpack(">I", view[1 : self.HEADER_LEN])
        writer = self._by_id.get(schema_id)
        if writer is None:
            registered = self.client.get_schema(schema_id)
            writer = AvroSchema.from_json(json.loads(registered.schema_str or "null"))
            self._by_id[schema_id] = writer
        return writer, self.HEADER_LEN
