"""One valid record of every schema, with awkward values (unicode, empty and large bytes,
extreme numbers) so round trips prove more than the happy path."""

from __future__ import annotations

from typing import Any

from schemas import contracts as c


def frame_event(seq: int = 7, camera: str = "cam-1") -> dict[str, Any]:
    return {
        "frame_id": f"{camera}-{seq}",
        "camera_id": camera,
        "sequence": seq,
        "capture_ts_ms": 1_795_300_000_000 + seq,
        "ingest_ts_ms": 1_795_300_000_050 + seq,
        "source_kind": "RTSP",
        "width": 1920,
        "height": 1080,
        "encoding": "JPEG",
        "image": bytes(range(256)) * 40,
        "image_uri": None,
        "tags": {"site": "Zürich", "zone": "lobby"},
    }


def detection_event() -> dict[str, Any]:
    return {
        "frame_id": "cam-1-7",
        "camera_id": "cam-1",
        "sequence": 7,
        "capture_ts_ms": 1_795_300_000_007,
        "inference_ts_ms": 1_795_300_000_090,
        "model_name": "ssd-mobilenet-v2-coco",
        "model_version": "2026.11-1",
        "frame_width": 1920,
        "frame_height": 1080,
        "detections": [
            {
                "label": "person",
                "class_id": 1,
                "score": 0.875,
                "box": {"x_min": 0.125, "y_min": 0.25, "x_max": 0.5, "y_max": 0.75},
                "embedding": [0.5, -0.5, 0.25, 0.0],
                "track_id": 42,
            },
            {
                "label": "car",
                "class_id": 3,
                "score": 0.5,
                "box": {"x_min": 0.0, "y_min": 0.0, "x_max": 1.0, "y_max": 1.0},
                "embedding": None,
                "track_id": None,
            },
        ],
        "image_stats": {
            "brightness": 0.5,
            "contrast": 0.25,
            "sharpness": 1250.0,
            "dhash": -(2**62) - 12345,
        },
        "faces_searched": False,
        "carried_from": None,
    }


def alert() -> dict[str, Any]:
    return {
        "alert_id": "a-1",
        "rule_id": "lobby-after-hours",
        "incident_id": "i-1",
        "camera_id": "cam-1",
        "frame_id": "cam-1-7",
        "label": "face",
        "score": 0.75,
        "poi_id": "p-9",
        "poi_similarity": 0.625,
        "severity": "HIGH",
        "capture_ts_ms": 1_795_300_000_007,
        "alert_ts_ms": 1_795_300_000_200,
        "track_id": 42,
        "details": {"zone": "lobby"},
    }


def drift_stat() -> dict[str, Any]:
    return {
        "window_start_ms": 1_795_300_000_000,
        "window_end_ms": 1_795_300_300_000,
        "camera_id": "cam-1",
        "model_name": "ssd-mobilenet-v2-coco",
        "model_version": "2026.11-1",
        "feature": "brightness",
        "statistic": "PSI",
        "value": 0.3125,
        "threshold": 0.2,
        "alarm": True,
        "sample_size": 9000,
    }


def poi_enrollment() -> dict[str, Any]:
    return {
        "person_id": "p-9",
        "display_name": "Ada",
        "embedding_model": "hse-faceres-1024@1",
        "embeddings": [[0.5, 0.5, 0.5, 0.5], [1.0, 0.0, 0.0, 0.0]],
        "match_threshold": None,
        "enrolled_ts_ms": 1_795_300_000_000,
        "tags": {},
    }


def dlq_envelope() -> dict[str, Any]:
    return {
        "source_topic": "vigil.frames",
        "source_partition": 3,
        "source_offset": 2**40,
        "key": b"cam-1",
        "value": b"\x00\xff garbage",
        "error_class": "SerdeError",
        "error_message": "cannot decode",
        "component": "worker",
        "failed_ts_ms": 1_795_300_000_000,
    }


def model_record() -> dict[str, Any]:
    return {
        "action": "PROMOTE",
        "role": "detector",
        "name": "ssd_mobilenet_v2_coco",
        "version": "2",
        "model_version": "2+0123456789ab",
        "family": "ssd",
        "sha256": "0123456789ab" + "0" * 52,
        "size_bytes": 67_000_000,
        "location": "file:///var/cache/vigil/models/registry/ssd_mobilenet_v2_coco/2/spec.yaml",
        "actor": "ml@host",
        "reason": "better recall on night frames",
        "ts_ms": 1_700_000_000_000,
        "forced": False,
        "replaces": "ssd_mobilenet_v2_coco@1",
        "eval": {
            "report": "/data/eval/x/report.json",
            "baseline": "ssd_mobilenet_v2_coco@1+aaaaaaaaaaaa",
            "candidate": "ssd_mobilenet_v2_coco@2+0123456789ab",
            "frames_compared": 500,
            "agreement": 0.97,
            "map50": None,
            "passed": True,
            "failures": [],
        },
        "details": {},
    }


def sample() -> dict[str, Any]:
    return {
        "sample_id": "cam-1-7@2026.11-1",
        "frame_id": "cam-1-7",
        "camera_id": "cam-1",
        "sequence": 7,
        "capture_ts_ms": 1_795_300_000_007,
        "model_name": "ssd-mobilenet-v2-coco",
        "model_version": "2026.11-1",
        "frame_width": 1920,
        "frame_height": 1080,
        "reasons": [
            {"kind": "UNCERTAIN", "detail": "person 0.4375 in [0.3, 0.6)"},
            {"kind": "RARE_CLASS", "detail": "bicycle: 0.5% of this camera's detections"},
        ],
        "detections": [
            {
                "label": "person",
                "class_id": 1,
                "score": 0.4375,
                "box": {"x_min": 0.125, "y_min": 0.25, "x_max": 0.5, "y_max": 0.75},
            }
        ],
        "faces_searched": True,
        "chosen_ts_ms": 1_795_300_000_300,
    }


SAMPLES = {
    c.FRAME_EVENT: frame_event,
    c.DETECTION_EVENT: detection_event,
    c.ALERT: alert,
    c.DRIFT_STAT: drift_stat,
    c.POI_ENROLLMENT: poi_enrollment,
    c.DLQ_ENVELOPE: dlq_envelope,
    c.MODEL_RECORD: model_record,
    c.SAMPLE: sample,
}


def evolved(source: dict[str, Any]) -> dict[str, Any]:
    """``source`` with one optional field added: the usual backward-compatible change."""
    fields = [*source["fields"], {"name": "lens", "type": ["null", "string"], "default": None}]
    return {**source, "fields": fields}
