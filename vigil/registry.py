"""The model registry: the compacted ``vigil.models`` topic (DESIGN.md, "Topics and contracts").

Three kinds of key share the topic, each value a ``vigil.ModelRecord``:

- ``role:<role>``: the production model of a role, what every worker follows and hot-swaps to;
  a tombstone means "the model the settings name" (``models.detector`` and so on);
- ``history:<role>:<ts>``: every promotion and rollback ever made, one key each, never
  overwritten, so compaction keeps them all;
- ``model:<name>@<version>``: a registered model (``vigil models register``);
- ``event:<role>:<instance>:<ts>``: a worker's SWITCH to a new production model (the first
  offset per frames partition it processed with it) or its REFUSE of one that failed to load.

A promotion or rollback writes its ``role:`` and ``history:`` records in one transaction, so a
reader sees both or neither. The topic has one partition: one order of promotions, and a
reader that has read to the end has the whole registry.

Rollback undoes the last promotion: promotions push onto a role's chain, rollbacks pop it, and
the model before is production again (the settings' model when the chain empties)."""

from __future__ import annotations

import getpass
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast, get_args

from confluent_kafka import Message

from schemas.contracts import serde_for
from schemas.types import ModelRecord
from vigil import follow, kafka
from vigil.errors import VigilError
from vigil.settings import CoreSettings
from vigil.topics import Topic

log = logging.getLogger(__name__)

Role = Literal["detector", "face_detector", "embedder"]
ROLES: tuple[Role, ...] = get_args(Role)
OnChange = Callable[[str, ModelRecord | None], None]  # role, production record (None: settings)


class RegistryError(VigilError, RuntimeError):
    """The registry cannot do what was asked; the message says why."""


def production_key(role: str) -> str:
    return f"role:{role}"


def history_key(role: str, ts_ms: int) -> str:
    return f"history:{role}:{ts_ms:015d}"


def model_key(name: str, version: str) -> str:
    return f"model:{name}@{version}"


def event_key(role: str, instance: str, ts_ms: int) -> str:
    return f"event:{role}:{instance}:{ts_ms:015d}"


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise RegistryError(f"unknown model role {role!r}; roles: {', '.join(ROLES)}")


def actor() -> str:
    """Who is acting, as records name them: ``user@host``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def label(record: ModelRecord | None) -> str:
    """``NAME@VERSION`` of a record; the settings' model for None (or a rollback to it)."""
    if record is None or not record["name"]:
        return "(configured model)"
    return f"{record['name']}@{record['version']}"


@dataclass
class Registry:
    """A snapshot of the registry, built by applying the topic's records in order."""

    production: dict[str, ModelRecord] = field(default_factory=dict)
    history: dict[str, list[ModelRecord]] = field(default_factory=dict)
    models: dict[str, ModelRecord] = field(default_factory=dict)
    events: list[ModelRecord] = field(default_factory=list)  # workers' SWITCH and REFUSE

    def apply(self, key: str, record: ModelRecord | None) -> str | None:
        """Apply one record; the role whose production changed, if any."""
        kind, _, rest = key.partition(":")
        if kind == "role":
            if record is None:
                self.production.pop(rest, None)
            else:
                self.production[rest] = record
            return rest
        if kind == "history" and record is not None:
            role = rest.rsplit(":", 1)[0]
            entries = self.history.setdefault(role, [])
            if not any(e["ts_ms"] == record["ts_ms"] for e in entries):  # a re-read
                entries.append(record)
                entries.sort(key=lambda e: e["ts_ms"])
        elif kind == "event" and record is not None:
            self.events.append(record)
        elif kind == "model":
            if record is None:
                self.models.pop(rest, None)
            else:
                self.models[rest] = record
        return None

    def current(self, role: str) -> ModelRecord | None:
        """The production model of ``role``; None: the model the settings name."""
        return self.production.get(role)

    def model(self, name: str, version: str) -> ModelRecord | None:
        return self.models.get(f"{name}@{version}")

    def chain(self, role: str) -> list[ModelRecord]:
        """The promotions still in force, oldest first: each PROMOTE pushes, each ROLLBACK
        pops. Its last entry is production (none: the settings' model)."""
        stack: list[ModelRecord] = []
        for entry in self.history.get(role, []):
            if entry["action"] == "PROMOTE":
                stack.append(entry)
            elif entry["action"] == "ROLLBACK" and stack:
                stack.pop()
        return stack


def _key_of(msg: Message) -> str:
    key = msg.key()
    return key.decode() if isinstance(key, bytes) else str(key or "")


class _Applier:
    """Decodes ``vigil.models`` records into a :class:`Registry`; a record that does not
    decode is logged and skipped (the registry is written by Vigil's commands only)."""

    def __init__(self, settings: CoreSettings, registry: Registry) -> None:
        self.serde = serde_for(settings, Topic.MODELS)
        self.registry = registry

    def __call__(self, msg: Message) -> None:
        self.apply(msg)

    def apply(self, msg: Message) -> str | None:
        """Apply one record; the role whose production changed, if any."""
        value = msg.value()
        record: ModelRecord | None = None
        if value is not None:
            try:
                record = cast(ModelRecord, self.serde.decode(msg))
            except Exception as exc:  # never stop a reader for one record
                log.warning("vigil.models offset %s does not decode: %s", msg.offset(), exc)
                return None
        return self.registry.apply(_key_of(msg), record)


def read_registry(settings: CoreSettings, timeout_s: float = 30.0) -> Registry:
    """The whole registry as the topic holds it now (``read_committed``, to its end)."""
    registry = Registry()
    apply = _Applier(settings, registry)
    follow.read_to_end(
        settings,
        Topic.MODELS.name_in(settings.topics),
        apply,
        name="vigil-registry-reader",
        timeout_s=timeout_s,
    )
    return registry


def publish(
    settings: CoreSettings,
    records: Sequence[tuple[str, ModelRecord | None]],
    timeout_s: float = 30.0,
) -> None:
    """Write ``records`` (key, value or tombstone) in one transaction: all or none, and
    visible to a reader of the registry when this returns."""
    topic = Topic.MODELS.name_in(settings.topics)
    serde = serde_for(settings, Topic.MODELS)
    producer = kafka.transactional_producer(settings, f"vigil-models-{uuid.uuid4().hex[:12]}")
    landed = kafka.Landmarks()
    try:
        producer.begin_transaction()
        for key, record in records:
            value = None if record is None else serde.serialize(record, topic=topic)
            kafka.produce(producer, topic, value, key=key, on_delivery=landed)
        producer.commit_transaction(timeout_s)
    finally:
        producer.flush(timeout_s)
    # a read of the registry right after (a rollback after a promotion) sees these records
    kafka.wait_visible(settings, landed.last, timeout_s)


def new_record(**fields: object) -> ModelRecord:
    """A ModelRecord with the optional fields defaulted and ``ts_ms`` now."""
    base: dict[str, object] = {
        "action": "UNKNOWN",
        "role": "",
        "name": "",
        "version": "",
        "model_version": "",
        "family": "",
        "sha256": "",
        "size_bytes": 0,
        "location": "",
        "actor": actor(),
        "reason": "",
        "ts_ms": time.time_ns() // 1_000_000,
        "forced": False,
        "replaces": None,
        "eval": None,
        "details": {},
    }
    unknown = set(fields) - set(base)
    if unknown:
        raise TypeError(f"not ModelRecord fields: {sorted(unknown)}")
    return cast(ModelRecord, base | fields)


class RegistryFollower:
    """The registry, kept current in a thread of its own: ``on_change(role, record)`` hears
    every change of a role's production model after the first catch-up (the state at start is
    read with :meth:`wait`, then :meth:`current`)."""

    def __init__(self, settings: CoreSettings, on_change: OnChange | None = None) -> None:
        self.registry = Registry()
        self._lock = threading.Lock()
        self._apply = _Applier(settings, self.registry)
        self.on_change = on_change
        self.follower = follow.Follower(
            settings,
            Topic.MODELS.name_in(settings.topics),
            self._record,
            name="vigil-registry-follower",
        )

    def start(self) -> RegistryFollower:
        self.follower.start()
        return self

    def wait(self, timeout_s: float = 30.0) -> None:
        """Until the registry as it was at start has been read (raises the reader's error)."""
        self.follower.wait(timeout_s)

    def current(self, role: str) -> ModelRecord | None:
        with self._lock:
            return self.registry.current(role)

    def stop(self, timeout_s: float = 10.0) -> bool:
        return self.follower.stop(timeout_s)

    def _record(self, msg: Message) -> None:
        with self._lock:
            role = self._apply.apply(msg)
            record = self.registry.current(role) if role else None
        if role and self.on_change is not None and self.follower.caught_up.is_set():
            self.on_change(role, record)
