"""A per-camera multi-object tracker (ByteTrack-style IoU association, no appearance model).

Detections of a frame are matched to live tracks of the same label by IoU, confident ones
first, then the low-score ones against the tracks still unmatched (ByteTrack's trick for
keeping occluded objects). Unmatched confident detections start tracks; tracks unseen for
``max_age_s`` of event time are dropped. The state is plain data so it lives in the app's
state store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.alerting.geometry import BoxT, Point, bottom_centre, iou
from streams.alerting.rules import Tracking


@dataclass
class Track:
    id: int
    label: str
    box: BoxT
    first_ms: int
    last_ms: int
    hits: int = 1
    prev_point: Point | None = None  # bottom-centre on the previous frame it was seen

    @property
    def point(self) -> Point:
        return bottom_centre(self.box)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "box": list(self.box),
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "hits": self.hits,
            "prev_point": None if self.prev_point is None else list(self.prev_point),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Track:
        prev = d.get("prev_point")
        box = d["box"]
        return cls(
            id=int(d["id"]),
            label=str(d["label"]),
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            first_ms=int(d["first_ms"]),
            last_ms=int(d["last_ms"]),
            hits=int(d["hits"]),
            prev_point=None if prev is None else (float(prev[0]), float(prev[1])),
        )


@dataclass(frozen=True)
class Observation:
    """One detection of a frame, as the tracker and the rules see it."""

    index: int  # position in the DetectionEvent's detections
    label: str
    score: float
    box: BoxT


@dataclass
class Tracker:
    next_id: int = 1
    tracks: dict[int, Track] = field(default_factory=dict)

    def update(
        self, observations: list[Observation], ts_ms: int, config: Tracking
    ) -> dict[int, Track]:
        """Assign every observation at or above ``low_score`` to a track; returns
        observation index -> its track (whose ``prev_point`` is where it was last frame)."""
        max_age_ms = config.max_age_s * 1000
        for tid in [t for t, tr in self.tracks.items() if ts_ms - tr.last_ms > max_age_ms]:
            del self.tracks[tid]
        high = [o for o in observations if o.score >= config.high_score]
        low = [o for o in observations if config.low_score <= o.score < config.high_score]
        free = set(self.tracks)
        assigned: dict[int, Track] = {}
        for group in (high, low):
            for obs, tid in self._match(group, free, config.iou_threshold):
                track = self.tracks[tid]
                track.prev_point = track.point
                track.box = obs.box
                track.last_ms = ts_ms
                track.hits += 1
                free.discard(tid)
                assigned[obs.index] = track
        for obs in high:
            if obs.index not in assigned:
                track = Track(self.next_id, obs.label, obs.box, ts_ms, ts_ms)
                self.tracks[track.id] = track
                self.next_id += 1
                assigned[obs.index] = track
        return assigned

    def _match(
        self, group: list[Observation], free: set[int], threshold: float
    ) -> list[tuple[Observation, int]]:
        """Greedy association by descending IoU within each label."""
        pairs = []
        for obs in group:
            for tid in free:
                track = self.tracks[tid]
                if track.label != obs.label:
                    continue
                overlap = iou(obs.box, track.box)
                if overlap >= threshold:
                    pairs.append((overlap, obs.index, tid, obs))
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        used_obs: set[int] = set()
        used_tracks: set[int] = set()
        out = []
        for _, idx, tid, obs in pairs:
            if idx in used_obs or tid in used_tracks:
                continue
            used_obs.add(idx)
            used_tracks.add(tid)
            out.append((obs, tid))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"next_id": self.next_id, "tracks": [t.to_dict() for t in self.tracks.values()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tracker:
        tracks = [Track.from_dict(t) for t in d.get("tracks", [])]
        return cls(next_id=int(d.get("next_id", 1)), tracks={t.id: t for t in tracks})
