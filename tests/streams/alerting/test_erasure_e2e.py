"""Done when, issue 15 point 3: enrol a person, make an alert for them flow through the real
broker into ClickHouse (chDB, and the server when installed), erase them with `vigil poi
erase`, then search every store for the person id and the embedding bytes: vigil.poi (after
compaction), vigil.alerts and vigil.detections (after retention), the alerting changelog, the
audit log, ClickHouse, the logs and the blob store. Short bounds make it quick: a 6 s erasure
bound on vigil.poi, 20 s retention on the personal topics, a broker whose retention check and
log cleaner run every second (tests/conftest.py)."""

from __future__ import annotations

import json
import struct
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from connectors.sinks.clickhouse.sink import ClickHouseSink
from tests.connectors.sinks.clickhouse.support import run_sink_until
from tests.streams.alerting.helpers import VIGIL
from tests.streams.alerting.synth import event, person
from vigil import kafka
from vigil.clickhouse import connect
from vigil.follow import read_to_end
from vigil.poi import publish_enrollment
from vigil.stack import ClickHouseServer
from vigil.testing import (
    AlertsProcess,
    process_env,
    publish_detections,
    read_topic,
    wait_committed,
    wait_until,
)
from vigil.topics import ROLL_MARKER, Topic, ensure_topics, topic_specs
from vigil_app.settings import ClickHouseSettings, VigilSettings

PERSON = f"erase-me-{uuid.uuid4().hex[:6]}"
RULES = """
poi:
  threshold: 0.9
  near_miss: 0.5
  confirm_k: 2
  confirm_n: 3
destinations:
  log: true
"""
RETENTION_S = 20.0
ERASURE_MIN = 0.1  # 6 s: segment.ms, max.compaction.lag.ms, delete.retention.ms of 1.5 s


def short_env(settings: VigilSettings) -> dict[str, str]:
    t = settings.topics
    return process_env(
        settings,
        VIGIL_TOPICS__POI_ERASURE_MINUTES=str(t.poi_erasure_minutes),
        VIGIL_TOPICS__FRAMES_RETENTION_HOURS=str(t.frames_retention_hours),
        VIGIL_TOPICS__DETECTIONS_RETENTION_HOURS=str(t.detections_retention_hours),
        VIGIL_TOPICS__ALERTS_RETENTION_HOURS=str(t.alerts_retention_hours),
        VIGIL_TOPICS__DLQ_RETENTION_HOURS=str(t.dlq_retention_hours),
        VIGIL_CLICKHOUSE__URL=settings.clickhouse.url,
        VIGIL_CLICKHOUSE__DATABASE=settings.clickhouse.database,
    )


def raw_records(settings: VigilSettings, topic: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record of ``topic`` now, tombstones and aborted ones included
    (read_uncommitted would see more, but an erased person must be gone for every reader; the
    committed view is what Vigil's readers get)."""
    out: list[tuple[bytes, bytes]] = []
    read_to_end(
        settings,
        topic,
        lambda msg: out.append((msg.key() or b"", msg.value() or b"")),
        name="probe",
        timeout_s=30,
    )
    return out


def mentions(records: list[tuple[bytes, bytes]], needles: tuple[bytes, ...]) -> int:
    return sum(any(n in k or n in v for n in needles) for k, v in records)


def throttled(every_s: float, check: Callable[[], bool]) -> Callable[[], bool]:
    """``check`` at most every ``every_s`` (it reads whole topics); False in between."""
    last = [float("-inf")]

    def run() -> bool:
        if time.monotonic() - last[0] < every_s:
            return False
        last[0] = time.monotonic()
        return check()

    return run


@pytest.fixture(params=["chdb", "server"])
def short(request: pytest.FixtureRequest, settings: VigilSettings) -> VigilSettings:
    url = ""
    if request.param == "server":
        server: ClickHouseServer = request.getfixturevalue("clickhouse_server")
        url = server.url
    hours = RETENTION_S / 3600
    topics = settings.topics.model_copy(
        update={
            "poi_erasure_minutes": ERASURE_MIN,
            "frames_retention_hours": hours,
            "detections_retention_hours": hours,
            "alerts_retention_hours": hours,
            "dlq_retention_hours": hours,
            "detections_partitions": 1,
            "alerts_partitions": 1,
        }
    )
    db = ClickHouseSettings(url=url, database=f"t_{uuid.uuid4().hex[:10]}")
    return settings.model_copy(update={"topics": topics, "clickhouse": db})


def test_erase_leaves_the_person_in_no_store(short: VigilSettings, tmp_path: Path) -> None:
    s = short
    ensure_topics(kafka.admin(s), topic_specs(s.topics))
    rng = np.random.default_rng(15)
    vec = rng.normal(size=64).astype(np.float32)
    vec /= np.linalg.norm(vec)
    embedding = [float(v) for v in vec]
    needles = (PERSON.encode(), struct.pack("<8f", *vec[:8]))
    publish_enrollment(
        s,
        {
            "person_id": PERSON,
            "display_name": None,
            "embedding_model": "synthetic:1",
            "embeddings": [embedding],
            "match_threshold": None,
            "enrolled_ts_ms": int(time.time() * 1000),
            "tags": {},
        },
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    log_path = tmp_path / "alerts.log"
    app = AlertsProcess(s, rules, log_path, **short_env(s))
    try:
        wait_until(lambda: "watch-list loaded" in app.log_text(), 60, "vigil alerts started")
        face = person(0.5, 0.8, label="face", w=0.3, h=0.4, embedding=embedding)
        seen = [event("door", i, [face]) for i in range(3)]
        publish_detections(s, seen)
        [alert] = read_topic(s, Topic.ALERTS, want=1, timeout_s=60, proc=app)
        assert alert["poi_id"] == PERSON
        group = f"{s.topics.prefix}-alerting"
        wait_committed(s, group, len(seen), timeout_s=60, proc=app)
        wait_until(lambda: "ALERT " in app.log_text(), 30, "the alert's log line")

        client = connect(s)
        sink = ClickHouseSink(s, client)
        sink.prepare()
        run_sink_until(sink, lambda k: k.stats.messages >= 1)
        db = s.clickhouse.database
        assert client.query(f"SELECT poi_id FROM {db}.alerts") == [(PERSON,)]
        client.close()
        audit = s.data_dir / "alerting" / "poi-audit.jsonl"
        assert PERSON in audit.read_text()

        erased = subprocess.run(
            [VIGIL, "poi", "erase", "--id", PERSON, "--wait"],
            env=short_env(s),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert erased.returncode == 0, erased.stderr
        out = " ".join(erased.stdout.split())
        assert "vigil.poi: embedding compacted away" in out
        assert "audit log" in out
        assert f"{len(seen)} entries redacted" in out
        assert f"{db}.alerts: 1 rows cleared" in out
        assert "vigil.alerts: records naming the person cannot be rewritten" in out

        # the alerting state forgets the person at the camera's next event; its changelog and
        # vigil.poi compact (markers roll their segments), the personal topics expire
        changelogs = [
            n for n in kafka.admin(s).list_topics(timeout=10).topics if n.startswith("changelog__")
        ]
        changelog = next(n for n in changelogs if n.startswith(f"changelog__{group}--"))
        poi_topic = Topic.POI.name_in(s.topics)
        prod = kafka.producer(s)
        nudges = [0]

        def nothing_left() -> bool:
            nudges[0] += 1
            publish_detections(s, [event("door", 100 + nudges[0], [])])
            kafka.produce(prod, poi_topic, None, key=ROLL_MARKER)
            prod.flush(10)
            found = {
                t: mentions(raw_records(s, t), needles)
                for t in (
                    poi_topic,
                    changelog,
                    Topic.ALERTS.name_in(s.topics),
                    Topic.DETECTIONS.name_in(s.topics),
                )
            }
            return not any(found.values())

        wait_until(throttled(2.0, nothing_left), 120, f"{PERSON} gone from every topic")
    finally:
        app.stop()

    client = connect(s)
    try:
        assert client.query(f"SELECT count() FROM {db}.alerts") == [(1,)]  # the alert stays
        assert client.query(f"SELECT count() FROM {db}.alerts WHERE poi_id = '{PERSON}'") == [(0,)]
        assert client.query(f"SELECT poi_id, poi_similarity FROM {db}.alerts") == [(None, None)]
    finally:
        client.close()
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len(entries) == len(seen)
    assert {e["person_id"] for e in entries} == {"erased"}
    assert all(e["erased_ts_ms"] > 0 for e in entries)
    logs = log_path.read_text() + erased.stdout + erased.stderr
    assert PERSON not in logs
    assert "poi~" in logs  # the pseudonym stood in for the id
    blobs = s.data_dir / "blobs"
    for f in (p for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else ():
        assert not any(n in f.read_bytes() for n in needles), f
