"""Persons of interest on the compacted ``vigil.poi`` topic: enrolment from images (the face
cascade), removal by tombstone (right to erasure), and the live feed that keeps a
:class:`Watchlist` equal to the topic."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from confluent_kafka import (
    KafkaError,
    KafkaException,
    Message,
)

from gpu_workers.models.base import Image
from gpu_workers.models.cascade import FaceCascade
from schemas.contracts import serde_for
from schemas.serde import SerdeError
from streams.alerting import metrics
from streams.alerting.pseudonyms import Pseudonyms
from streams.alerting.watchlist import Watchlist
from vigil import kafka
from vigil.follow import Follower, read_to_end
from vigil.settings import VigilSettings
from vigil.topics import ROLL_MARKER, Topic, roll_interval_s

log = logging.getLogger(__name__)
PERSON_ID = r"^[A-Za-z0-9._:@-]{1,128}$"


class EnrollmentError(ValueError):
    """The images cannot enrol the person; nothing was published."""


@dataclass(frozen=True)
class Enrollment:
    record: dict[str, Any]
    faces: int


def decode_image(data: bytes, name: str) -> Image:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if array is None:
        raise EnrollmentError(f"{name}: not a decodable image")
    return np.asarray(array, dtype=np.uint8)


def load_cascade(settings: VigilSettings) -> FaceCascade:
    """The same face cascade (detector, quality gate, embedder) the workers run."""
    from gpu_workers.models.centerface import CenterFaceAdapter
    from gpu_workers.models.embedder import EmbedderAdapter
    from gpu_workers.models.loader import load_model

    m = settings.models
    detector = load_model(m.face_detector, settings.cache_dir, threads=m.threads)
    embedder = load_model(m.embedder, settings.cache_dir, threads=m.threads)
    if not isinstance(detector, CenterFaceAdapter) or not isinstance(embedder, EmbedderAdapter):
        raise EnrollmentError("models.face_detector/embedder must be a face detector/embedder")
    return FaceCascade(detector, embedder, min_face_px=m.min_face_px, min_sharpness=m.min_sharpness)


def build_enrollment(
    cascade: FaceCascade,
    person_id: str,
    images: Sequence[tuple[str, Image]],
    *,
    display_name: str | None = None,
    match_threshold: float | None = None,
) -> Enrollment:
    """Exactly one face passing the quality gate per image, else :class:`EnrollmentError`
    naming every image at fault (a group photo would enrol the wrong person)."""
    if not images:
        raise EnrollmentError("at least one image is needed")
    vectors: list[list[float]] = []
    problems: list[str] = []
    model = ""
    for name, image in images:
        result = cascade(image)
        model = f"{result.embedder.name}:{result.embedder.event_version}"
        if len(result.faces) == 1:
            vectors.append([float(v) for v in result.faces[0].embedding])
        elif not result.faces:
            why = "; ".join(r.reason for r in result.rejected)
            problems.append(f"{name}: no usable face" + (f" ({why})" if why else ""))
        else:
            problems.append(f"{name}: {len(result.faces)} faces, need exactly one")
    if problems:
        raise EnrollmentError("; ".join(problems))
    record: dict[str, Any] = {
        "person_id": person_id,
        "display_name": display_name,
        "embedding_model": model,
        "embeddings": vectors,
        "match_threshold": match_threshold,
        "enrolled_ts_ms": int(time.time() * 1000),
        "tags": {},
    }
    return Enrollment(record, len(vectors))


def _publish(settings: VigilSettings, key: str, value: bytes | None, timeout_s: float) -> None:
    prod = kafka.producer(settings)
    errors: list[KafkaError] = []

    def done(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    kafka.produce(prod, Topic.POI.name_in(settings.topics), value, key=key, on_delivery=done)
    if prod.flush(timeout_s) > 0:
        raise TimeoutError(f"Kafka did not acknowledge {key!r} within {timeout_s:.0f}s")
    if errors:
        raise RuntimeError(f"Kafka refused {key!r}: {errors[0]}")


def publish_enrollment(
    settings: VigilSettings, record: dict[str, Any], timeout_s: float = 30
) -> None:
    topic = Topic.POI.name_in(settings.topics)
    value = serde_for(settings, Topic.POI).serialize(record, topic=topic)
    _publish(settings, str(record["person_id"]), value, timeout_s)


def publish_removal(settings: VigilSettings, person_id: str, timeout_s: float = 30) -> None:
    """A tombstone: compaction erases the person's vectors, every matcher forgets them now."""
    _publish(settings, person_id, None, timeout_s)


def poi_key(msg: Message) -> str | None:
    """The person id a ``vigil.poi`` record is keyed by; None for a missing, non-UTF-8 or
    out-of-pattern key (the record is skipped: guessing a person from mangled bytes could
    forget, or enrol, the wrong one)."""
    raw = msg.key()
    if isinstance(raw, str):
        text = raw
    elif isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        return None
    return text if re.fullmatch(PERSON_ID, text) else None


class PoiFeed:
    """Reads ``vigil.poi`` from the beginning into a watch-list, then follows it live.
    Every instance reads every partition (no consumer group sharing): each needs the whole list."""

    def __init__(
        self,
        settings: VigilSettings,
        watchlist: Watchlist | None = None,
        *,
        roll_markers: bool = False,
    ) -> None:
        self.settings = settings
        self.watchlist = watchlist if watchlist is not None else Watchlist()
        self.roll_markers = roll_markers
        self.pseudonyms = Pseudonyms(settings.alerting.log_pseudonym_key)
        self.records: dict[str, dict[str, Any]] = {}
        self.topic = Topic.POI.name_in(settings.topics)
        self.serde = serde_for(settings, Topic.POI)
        self._marker = _RollMarker(settings) if roll_markers else None
        self._reader = Follower(
            settings,
            self.topic,
            self._apply,
            name="poi-feed",
            tick=None if self._marker is None else self._marker.maybe_send,
        )
        self.caught_up = self._reader.caught_up
        self._thread: threading.Thread | None = None

    def start(self) -> PoiFeed:
        self._thread = self._reader.start().thread
        return self

    def wait(self, timeout_s: float) -> None:
        try:
            self._reader.wait(timeout_s)
        except TimeoutError:
            raise TimeoutError(
                f"watch-list not loaded from {self.topic} in {timeout_s:.0f}s"
            ) from None

    def stop(self) -> None:
        self._reader.stop(timeout_s=10)

    def _apply(self, msg: Message) -> None:
        raw_key = msg.key()
        if raw_key in (ROLL_MARKER, ROLL_MARKER.encode()):  # compaction's clock, not a person
            return
        person = poi_key(msg)
        if person is None:
            metrics.POI_SKIPPED.labels("invalid_key").inc()
            log.warning(
                "poi record at %s[%s]@%s skipped: its key is not a UTF-8 person id",
                msg.topic(),
                msg.partition(),
                msg.offset(),
            )
            return
        if msg.value() is None:
            self.records.pop(person, None)
            self.watchlist.apply(person, None)
            log.info(
                "poi removed: %s; %d on the watch-list",
                self.pseudonyms(person),
                len(self.watchlist),
            )
        else:
            try:
                record = self.serde.decode(msg)
                self.watchlist.apply(person, record)
            except Exception as exc:  # one bad record never stops the feed (or the matcher)
                metrics.POI_SKIPPED.labels(
                    "undecodable" if isinstance(exc, SerdeError) else "invalid_record"
                ).inc()
                log.error("poi record for %s ignored: %s", self.pseudonyms(person), exc)
                return
            self.records[person] = record
            log.info(
                "poi enrolled: %s (%d vectors); %d on the watch-list",
                self.pseudonyms(person),
                len(record["embeddings"]),
                len(self.watchlist),
            )
        metrics.WATCHLIST.set(len(self.watchlist))


class _RollMarker:
    """Appends a tombstone under :data:`ROLL_MARKER` to ``vigil.poi`` every
    :func:`roll_interval_s`: Kafka rolls a segment only on an append, and the active segment is
    never compacted, so without appends a person's tombstone would never erase their embedding.
    Readers skip the key; compaction removes the markers themselves."""

    def __init__(self, settings: VigilSettings) -> None:
        self.settings = settings
        self.interval_s = roll_interval_s(settings.topics)
        self.topic = Topic.POI.name_in(settings.topics)
        self._producer = kafka.producer(settings)
        self._next = time.monotonic()

    def maybe_send(self) -> None:
        self._producer.poll(0)
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.interval_s
        try:
            kafka.produce(self._producer, self.topic, None, key=ROLL_MARKER)
        except (BufferError, KafkaException) as exc:  # the next interval tries again
            log.warning("poi roll marker not sent: %s", exc)

    def flush(self, timeout_s: float = 10) -> None:
        self._producer.flush(timeout_s)


def topic_holds(settings: VigilSettings, person_id: str, timeout_s: float = 30) -> bool:
    """Whether ``vigil.poi`` still holds an enrolment (a value, not a tombstone) of the person,
    read from the start to the current end."""
    key = person_id.encode()
    found = False

    def look(msg: Message) -> None:
        nonlocal found
        if msg.key() == key and msg.value() is not None:
            found = True

    topic = Topic.POI.name_in(settings.topics)
    read_to_end(
        settings, topic, look, name=f"{settings.topics.prefix}-poi-probe", timeout_s=timeout_s
    )
    return found


def wait_compacted(settings: VigilSettings, person_id: str, timeout_s: float) -> float:
    """After a tombstone: append roll markers and read ``vigil.poi`` until no enrolment of the
    person is left (compaction ran); the seconds it took. ``TimeoutError`` past ``timeout_s``."""
    began = time.monotonic()
    marker = _RollMarker(settings)
    marker.interval_s = min(marker.interval_s, 1.0)  # waiting: roll as soon as segment.ms allows
    while True:
        marker.maybe_send()
        marker.flush()
        if not topic_holds(settings, person_id):
            return time.monotonic() - began
        if time.monotonic() - began > timeout_s:
            raise TimeoutError(
                f"{Topic.POI.name_in(settings.topics)} still holds the enrolment after "
                f"{timeout_s:.0f}s: is the topic's compaction configured (`vigil topics ensure`)?"
            )
        time.sleep(1.0)


def read_watchlist(settings: VigilSettings, timeout_s: float = 30) -> dict[str, dict[str, Any]]:
    """The current watch-list (for ``vigil poi list``)."""
    feed = PoiFeed(settings).start()
    try:
        feed.wait(timeout_s)
    finally:
        feed.stop()
    return dict(feed.records)
