"""The pipeline check against a running compose stack (scripts/compose-run.sh runs it from the
host): uploads a few real photos through the API container's HTTP port, then waits until each
frame's DetectionEvent is on ``vigil.detections`` (a ``read_committed`` reader with the stack's
SCRAM credentials) and its row is in ClickHouse's ``frames`` table (the sink's exactly-once
insert). Prints one JSON object and exits non-zero when a frame did not come out.

Needs the development install (scikit-image's sample photos). Settings from the environment:
  VIGIL_CHECK_API          http://127.0.0.1:8080
  VIGIL_CHECK_INGEST_KEY   an ingest key of the stack (VIGIL_ACCESS__INGEST_KEYS)
  VIGIL_CHECK_KAFKA        127.0.0.1:19092        KAFKA_PASSWORD (SCRAM user "vigil")
  VIGIL_CHECK_CLICKHOUSE   127.0.0.1:9000         CLICKHOUSE_PASSWORD (user "vigil", db "vigil")
  VIGIL_CHECK_TIMEOUT_S    300
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import uuid
from typing import Any

import httpx
from clickhouse_driver import Client
from PIL import Image
from skimage import data as samples

from schemas.contracts import serde_for
from vigil.testing import read_to_end
from vigil.topics import Topic
from vigil_app.settings import KafkaSettings, VigilSettings

PHOTOS = ("astronaut", "coffee", "chelsea")  # a person, a cup, a cat


def jpeg(name: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(getattr(samples, name)()).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def main() -> int:
    env = os.environ
    api = env.get("VIGIL_CHECK_API", "http://127.0.0.1:8080")
    timeout_s = float(env.get("VIGIL_CHECK_TIMEOUT_S", "300"))
    settings = VigilSettings(
        kafka=KafkaSettings(
            bootstrap_servers=env.get("VIGIL_CHECK_KAFKA", "127.0.0.1:19092"),
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="vigil",
            sasl_password=env["KAFKA_PASSWORD"],
        )
    )
    camera = f"compose-check-{uuid.uuid4().hex[:8]}"
    report: dict[str, Any] = {"camera_id": camera, "uploads": []}
    began = time.monotonic()
    frame_ids: list[str] = []
    with httpx.Client(base_url=api, timeout=30) as http:
        report["health"] = http.get("/v1/health").json()
        for name in PHOTOS:
            body = jpeg(name)
            answer = http.post(
                "/v1/frames",
                params={"camera_id": camera},
                content=body,
                headers={"X-API-Key": env["VIGIL_CHECK_INGEST_KEY"], "Content-Type": "image/jpeg"},
            )
            accepted = answer.json()
            report["uploads"].append(
                {"photo": name, "bytes": len(body), "status": answer.status_code, **accepted}
            )
            if answer.status_code != 202:
                print(json.dumps(report, indent=2, default=str))
                return 1
            frame_ids.append(str(accepted["frame_id"]))

    serde = serde_for(settings, Topic.DETECTIONS)
    topic = Topic.DETECTIONS.name_in(settings.topics)
    wanted = set(frame_ids)
    events: dict[str, dict[str, Any]] = {}

    def seen(records: list[Any]) -> bool:
        for msg in records[len(seen_upto) :]:
            seen_upto.append(msg)
            event = serde.deserialize(msg.value(), topic=topic)
            if event["frame_id"] in wanted:
                events[event["frame_id"]] = event
        return wanted <= set(events)

    seen_upto: list[Any] = []
    try:
        read_to_end(settings, topic, seen, timeout_s=timeout_s)
    except Exception as exc:  # report what came before failing
        report["kafka_error"] = f"{type(exc).__name__}: {exc}"
    report["detections_topic"] = {
        "records_read": len(seen_upto),
        "seconds_after_upload": round(time.monotonic() - began, 1),
        "events": [
            {
                "frame_id": fid,
                "model": f"{ev['model_name']}:{ev['model_version']}",
                "labels": sorted({d["label"] for d in ev["detections"]}),
            }
            for fid, ev in events.items()
        ],
    }

    host, _, port = env.get("VIGIL_CHECK_CLICKHOUSE", "127.0.0.1:9000").partition(":")
    client = Client(
        host=host,
        port=int(port or 9000),
        user="vigil",
        password=env["CLICKHOUSE_PASSWORD"],
        database="vigil",
    )
    rows: list[tuple[Any, ...]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            rows = client.execute(
                "SELECT frame_id, model_version FROM frames WHERE camera_id = %(camera)s",
                {"camera": camera},
            )
        except Exception as exc:  # the sink may not have made its tables yet
            report["clickhouse_last_error"] = f"{type(exc).__name__}: {exc}"[:300]
        if wanted <= {str(r[0]) for r in rows}:
            break
        time.sleep(2)
    objects = client.execute(
        "SELECT label, count() FROM detections WHERE camera_id = %(camera)s GROUP BY label "
        "ORDER BY label",
        {"camera": camera},
    )
    report["clickhouse"] = {
        "frames_rows": len(rows),
        "detections_by_label": dict(objects),
        "seconds_after_upload": round(time.monotonic() - began, 1),
    }
    ok = wanted <= set(events) and wanted <= {str(r[0]) for r in rows}
    report["ok"] = ok
    print(json.dumps(report, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
