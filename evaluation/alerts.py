"""Alert diff: the alerting app's rules (``streams.alerting``) applied offline to each model's
detections, frame by frame in capture order per camera, as the live stream would.

Incident ids are deterministic (rule, camera, subject, first frame), so an alert both models
raise the same way has the same id. Alerts that differ only in when they fired are paired by
rule and camera within ``tolerance_ms``; what is left is what the candidate would add or
remove. POI rules need face embeddings, which ClickHouse does not keep: they are not
replayed here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from evaluation.source import Frame
from schemas.types import DetectionEvent
from streams.alerting.camera_state import CameraState
from streams.alerting.engine import process
from streams.alerting.rules import RuleSet


@dataclass(frozen=True)
class OfflineAlert:
    incident_id: str
    rule_id: str
    camera_id: str
    frame_id: str
    capture_ts_ms: int
    label: str
    severity: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _event(frame: Frame) -> dict[str, Any]:
    return {
        "frame_id": frame.frame_id,
        "camera_id": frame.camera_id,
        "capture_ts_ms": frame.capture_ts_ms,
        "detections": [
            {
                "label": d.label,
                "score": d.score,
                "box": dict(zip(("x_min", "y_min", "x_max", "y_max"), d.box, strict=True)),
                "embedding": None,
                "track_id": None,
            }
            for d in frame.detections
        ],
    }


def alerts_of(frames: Mapping[str, Frame], rules: RuleSet) -> list[OfflineAlert]:
    """The notifications the rules give over ``frames``."""
    states: dict[str, CameraState] = {}
    out = []
    for frame in sorted(frames.values(), key=lambda f: (f.camera_id, f.capture_ts_ms, f.frame_id)):
        # the rules read ids, times and detections: all an offline frame carries
        event = cast(DetectionEvent, _event(frame))
        state = states.setdefault(frame.camera_id, CameraState())
        for n in process(event, state, rules).notifications:
            label = event["detections"][n.index]["label"] if n.index >= 0 else ""
            out.append(
                OfflineAlert(
                    n.incident_id,
                    n.rule_id,
                    frame.camera_id,
                    frame.frame_id,
                    frame.capture_ts_ms,
                    str(label),
                    n.severity,
                )
            )
    return out


@dataclass(frozen=True)
class AlertDiff:
    baseline: int
    candidate: int
    common: int
    added: list[OfflineAlert]  # the candidate only
    removed: list[OfflineAlert]  # the baseline only

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline_alerts": self.baseline,
            "candidate_alerts": self.candidate,
            "common": self.common,
            "added": [a.as_dict() for a in self.added],
            "removed": [a.as_dict() for a in self.removed],
        }


def diff_alerts(
    baseline: list[OfflineAlert], candidate: list[OfflineAlert], tolerance_ms: int = 2_000
) -> AlertDiff:
    cand_ids = {a.incident_id for a in candidate}
    base_ids = {a.incident_id for a in baseline}
    removed = [a for a in baseline if a.incident_id not in cand_ids]
    added = [a for a in candidate if a.incident_id not in base_ids]
    still_removed = []
    for a in removed:  # the same alert a little earlier or later
        twin = next(
            (
                b
                for b in added
                if (b.rule_id, b.camera_id) == (a.rule_id, a.camera_id)
                and abs(b.capture_ts_ms - a.capture_ts_ms) <= tolerance_ms
            ),
            None,
        )
        if twin is None:
            still_removed.append(a)
        else:
            added.remove(twin)
    common = len(baseline) - len(still_removed)
    return AlertDiff(len(baseline), len(candidate), common, added, still_removed)
