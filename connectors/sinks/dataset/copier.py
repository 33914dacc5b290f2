"""The copier: ``vigil.samples`` in (its own group, ``read_committed``), each chosen frame's
image out of ``vigil.frames`` into the dataset store, offsets committed only once the files are
written. A restart re-reads what was not committed and finds its files already there (named by
sample id): nothing is copied twice, nothing is skipped.

A sample whose frame cannot be copied (retention removed it, its claim-check blob is gone, it
does not decode) is recorded as missed, with the reason, in the store, the log and
``vigil_dataset_missed_total``; an undecodable sample goes to ``vigil.dlq``. A broker that does
not answer is backpressure: intake pauses and the sample is tried again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Message, TopicPartition

from connectors.sinks.dataset import metrics
from connectors.sinks.dataset.locate import Found, FrameLocator
from connectors.sinks.dataset.privacy import FaceFinder, UndecodableFrame, protect
from connectors.sinks.dataset.settings import DatasetProcessSettings
from connectors.sinks.dataset.store import COPIED, MISSED, DatasetStore, datasets_root
from schemas.contracts import serde_for
from schemas.serde import SerdeError
from vigil import kafka
from vigil.blobs import BlobResolver
from vigil.dlq import dead_letter
from vigil.faces import FaceModels
from vigil.runtime.loop import ConsumerLoop
from vigil.runtime.processor import Backpressure, Processor
from vigil.topics import Topic

log = logging.getLogger(__name__)
COMPONENT = "dataset-copier"
RETRY_S = 2.0
SAMPLE_FIELDS = (
    "sample_id",
    "frame_id",
    "camera_id",
    "sequence",
    "capture_ts_ms",
    "model_name",
    "model_version",
    "frame_width",
    "frame_height",
    "reasons",
    "detections",
    "faces_searched",
    "chosen_ts_ms",
)


def store_of(settings: DatasetProcessSettings, name: str | None = None) -> DatasetStore:
    cfg = settings.dataset
    return DatasetStore(datasets_root(settings, cfg.root) / (name or cfg.name))


def group_of(settings: DatasetProcessSettings) -> str:
    return f"{settings.topics.prefix}-{settings.dataset.group_id}"


def _merged(old: list[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [dict(r) for r in old]
    for r in new:
        if dict(r) not in out:
            out.append(dict(r))
    return out


class Copier(Processor):
    """The copier's consumer hooks: samples are held in arrival order, copied in :meth:`step`,
    then their offsets committed."""

    def __init__(
        self,
        settings: DatasetProcessSettings,
        consumer: Any,
        faces: FaceModels | None = None,
        *,
        store: DatasetStore | None = None,
    ) -> None:
        cfg = settings.dataset
        self.cfg = cfg
        self.consumer = consumer
        self.store = store or store_of(settings)
        self.serde = serde_for(settings, Topic.SAMPLES)
        self.resolver = BlobResolver.from_settings(settings)
        self.finder = FaceFinder(faces) if faces is not None else None
        self.locator = FrameLocator(
            settings,
            clock_skew_ms=round(cfg.clock_skew_s * 1000),
            max_ingest_delay_ms=round(cfg.max_ingest_delay_s * 1000),
        )
        self.dlq_topic = Topic.DLQ.name_in(settings.topics)
        self.producer = kafka.producer(settings)
        self.held: list[Message] = []
        self.done: dict[tuple[str, int], int] = {}

    # --- consumer hooks -----------------------------------------------------------------------

    def process(self, message: Message) -> None:
        self.held.append(message)

    def step(self) -> None:
        while self.held:
            msg = self.held[0]
            try:
                self.handle(msg)
            except (KafkaException, TimeoutError) as exc:
                self.commit()
                raise Backpressure(f"vigil.frames not readable now: {exc}", RETRY_S) from exc
            self.held.pop(0)
            self.done[(str(msg.topic()), int(msg.partition() or 0))] = int(msg.offset() or 0) + 1
        self.commit()

    def commit(self) -> None:
        """Commit what has been written (synchronously: a crash re-reads the rest)."""
        if not self.done:
            return
        if self.producer.flush(30) != 0:  # dead letters reach the DLQ before their offsets
            raise Backpressure("dead letters not delivered", RETRY_S)
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.done.items()]
        self.consumer.commit(offsets=offsets, asynchronous=False)
        self.done.clear()

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        self.commit()
        self._forget(partitions)

    def on_lost(self, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.done = {k: v for k, v in self.done.items() if k not in gone}

    def _forget(self, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.held = [m for m in self.held if (m.topic(), m.partition()) not in gone]

    def drain(self, deadline: float) -> None:
        try:
            while self.held and time.monotonic() < deadline:
                self.step()
        except Backpressure as exc:
            log.warning("dataset copier stopping with %d samples uncopied: %s", len(self.held), exc)
        self.commit()

    def close(self) -> None:
        self.locator.close()

    # --- one sample ---------------------------------------------------------------------------

    def handle(self, msg: Message) -> None:
        try:
            sample = dict(self.serde.decode(msg))
        except SerdeError as exc:
            metrics.DEAD_LETTERED.inc()
            log.warning(
                "dataset copier dead-lettered %s/%s: %s", msg.partition(), msg.offset(), exc
            )
            dead_letter(self.producer, self.dlq_topic, msg, exc, COMPONENT)
            return
        sid = str(sample["sample_id"])
        existing = self.store.read(sid)
        if existing is not None:
            reasons = _merged(existing.get("reasons", []), sample["reasons"])
            if reasons == existing.get("reasons"):
                metrics.DUPLICATES.inc()
                return
            self.store.write_record({**existing, "reasons": reasons})
            metrics.MERGED.inc()
            return
        record = {k: sample[k] for k in SAMPLE_FIELDS}
        found = self.locator.find(
            str(sample["frame_id"]), str(sample["camera_id"]), int(sample["capture_ts_ms"])
        )
        if not isinstance(found, Found):
            self._missed(record, found.reason, found.detail)
            return
        try:
            data = self.resolver.resolve(found.event)
        except (OSError, ValueError) as exc:
            self._missed(record, "blob_missing", f"the frame's image cannot be read: {exc}")
            return
        try:
            kept = protect(
                data,
                found.event,
                sample,
                keep_faces=self.cfg.keep_faces,
                finder=self.finder,
                quality=self.cfg.jpeg_quality,
                max_pixels=self.cfg.max_pixels,
            )
        except UndecodableFrame as exc:
            self._missed(record, "undecodable", str(exc))
            return
        image = self.store.write_image(str(sample["frame_id"]), kept.jpeg)
        record.update(
            status=COPIED,
            image=image,
            width=kept.width,
            height=kept.height,
            privacy=kept.privacy,
            blurred_regions=kept.blurred_boxes,
            source={
                "topic": self.locator.topic,
                "partition": found.partition,
                "offset": found.offset,
            },
            copied_ts_ms=int(time.time() * 1000),
        )
        self.store.write_record(record)
        metrics.COPIED.inc()
        metrics.PRIVACY.labels(kept.privacy).inc()
        log.info("copied %s (%s) into %s", sid, kept.privacy, self.store.folder)

    def _missed(self, record: dict[str, Any], reason: str, detail: str) -> None:
        record.update(
            status=MISSED,
            missed_reason=reason,
            missed_detail=detail,
            image=None,
            copied_ts_ms=int(time.time() * 1000),
        )
        self.store.write_record(record)
        metrics.MISSED.labels(reason).inc()
        log.warning("sample %s not copied (%s): %s", record["sample_id"], reason, detail)


class CopierRunner:
    """The copier's consumer loop in a thread of its own (``vigil sample`` runs it beside the
    app); :meth:`stop` leaves in bounded time."""

    def __init__(self, settings: DatasetProcessSettings, faces: FaceModels | None = None) -> None:
        self.settings = settings
        self.faces = faces
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="dataset-copier", daemon=True)

    def start(self) -> CopierRunner:
        self.thread.start()
        return self

    def run(self) -> None:
        """In the calling thread, until :meth:`stop`."""
        s = self.settings
        consumer = kafka.consumer(
            s, group_of(s), **{"session.timeout.ms": int(s.dataset.session_timeout_s * 1000)}
        )
        copier = Copier(s, consumer, self.faces)
        loop = ConsumerLoop(consumer, metrics.CONSUMER, stop=self.stop_event, max_wait_s=0.2)
        try:
            loop.subscribe([Topic.SAMPLES.name_in(s.topics)])
            loop.run(copier)
        finally:
            loop.close()
            copier.close()

    def _run(self) -> None:
        try:
            self.run()
        except BaseException as exc:
            self.error = exc
            log.exception("dataset copier stopped")

    def stop(self, timeout_s: float = 40.0) -> bool:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout_s)
        return not self.thread.is_alive()

    @property
    def folder(self) -> Path:
        return store_of(self.settings).folder
