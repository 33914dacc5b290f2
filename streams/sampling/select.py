"""Which frames are worth labelling: the four rules and the budget, over one camera's state.

The state is a handful of JSON values in a key-value store scoped to the camera (the Quix app's
RocksDB state, or a dict in tests and reference runs): ``main`` (event time, label counts,
budget, the recently sampled frames, the alarms already sampled, the pending shadow joins'
index), ``res`` (the drift reservoir) and ``p:<frame id>`` (one frame waiting for its other
side). Everything is bounded: in event time by ``drift_horizon_s``, in count by
``shadow_pending`` and the reservoir's buckets. Choices are deterministic given the events
(the reservoir keeps the frames with the smallest hash of their id), so a replay after a crash
chooses the same frames; ``sample_id`` (frame id @ model version) names them the same way.

A frame is sampled once; a later reason for it (a candidate that disagrees, a drift alarm)
publishes it again with the reasons so far, without charging the budget again (the dataset
store merges the reasons)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from schemas.types import DetectionEvent, Sample, SampleReasonKind
from streams.sampling import metrics
from streams.sampling.alarms import Alarm
from streams.sampling.match import agreement
from streams.sampling.settings import SamplingSettings

HOUR_MS = 3_600_000
SAMPLED_CAP = 4096  # recently sampled frames kept per camera, whatever the horizon

UNCERTAIN: SampleReasonKind = "UNCERTAIN"
DRIFT_WINDOW: SampleReasonKind = "DRIFT_WINDOW"
SHADOW: SampleReasonKind = "SHADOW_DISAGREEMENT"
RARE: SampleReasonKind = "RARE_CLASS"


class KV(Protocol):
    """What the sampler needs of a camera's state (Quix's ``State`` is one)."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any) -> None: ...
    def delete(self, key: str) -> None: ...


class DictKV:
    """A camera's state in a dict: tests and reference runs."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def sample_id(frame_id: str, model_version: str) -> str:
    return f"{frame_id}@{model_version}"


def priority(frame_id: str) -> int:
    """A stable pseudo-random rank of a frame (the reservoir keeps the smallest)."""
    return int.from_bytes(hashlib.sha256(frame_id.encode()).digest()[:8], "big")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def summary(event: DetectionEvent) -> dict[str, Any]:
    """What a sample needs of a production event (its detections without embeddings)."""
    return {
        "frame_id": event["frame_id"],
        "camera_id": event["camera_id"],
        "sequence": int(event["sequence"]),
        "capture_ts_ms": int(event["capture_ts_ms"]),
        "model_name": event["model_name"],
        "model_version": event["model_version"],
        "frame_width": int(event["frame_width"]),
        "frame_height": int(event["frame_height"]),
        "detections": [
            {
                "label": d["label"],
                "class_id": int(d["class_id"]),
                "score": float(d["score"]),
                "box": {k: float(d["box"][k]) for k in ("x_min", "y_min", "x_max", "y_max")},
            }
            for d in event["detections"]
        ],
        "faces_searched": bool(event.get("faces_searched", False)),
    }


def _new_main() -> dict[str, Any]:
    return {
        "t": 0,  # the camera's event time: the latest production capture time seen
        "labels": {},
        "total": 0,
        "budget": {},  # hour (capture time // 1 h) -> samples charged
        "sampled": {},  # frame id -> [capture ms, [[kind, detail], ...]]
        "done": {},  # alarm key -> window end (alarms already sampled)
        "pending": {},  # frame id -> capture ms (a p:<frame id> value waits for its other side)
        "cand_t": None,  # the latest candidate capture time seen: shadow joins are on
    }


class Sampler:
    """The rules over one camera's :class:`KV` state; each call returns the samples to publish."""

    def __init__(self, cfg: SamplingSettings, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.clock = clock
        self.horizon_ms = round(cfg.drift_horizon_s * 1000)
        self.bucket_ms = max(1, round(cfg.drift_bucket_s * 1000))

    # --- entry points -----------------------------------------------------------------------

    def production(
        self, kv: KV, event: DetectionEvent, alarms: Sequence[Alarm] = ()
    ) -> list[Sample]:
        """A production DetectionEvent: uncertain and rare detections, the reservoir, the
        shadow join, and any drift alarm whose window this camera has now passed."""
        main = kv.get("main") or _new_main()
        frame = summary(event)
        ts = frame["capture_ts_ms"]
        main["t"] = max(int(main["t"]), ts)
        out: list[Sample] = []
        if event.get("carried_from") is None:  # carried: these are another frame's detections
            reasons = self._uncertain(frame) + self._rare(main, frame)
            self._reserve(kv, frame)
            if reasons:
                out += self._choose(main, frame, reasons)
            out += self._join_production(kv, main, frame)
        out += self._alarms(kv, main, alarms)
        self._prune(kv, main)
        kv.set("main", main)
        return out

    def candidate(
        self, kv: KV, event: DetectionEvent, alarms: Sequence[Alarm] = ()
    ) -> list[Sample]:
        """A candidate's DetectionEvent (``vigil worker --shadow``): compared with production's
        detections of the same frame once both are here."""
        main = kv.get("main") or _new_main()
        ts = int(event["capture_ts_ms"])
        out: list[Sample] = []
        if ts < int(main["t"]) - self.horizon_ms:
            metrics.STALE_CANDIDATES.inc()
        else:
            main["cand_t"] = max(int(main["cand_t"] or 0), ts)
            out += self._join_candidate(kv, main, event)
        out += self._alarms(kv, main, alarms)
        self._prune(kv, main)
        kv.set("main", main)
        return out

    # --- rules --------------------------------------------------------------------------------

    def _uncertain(self, frame: Mapping[str, Any]) -> list[tuple[SampleReasonKind, str]]:
        low, high = self.cfg.uncertain_low, self.cfg.uncertain_high
        hits = [d for d in frame["detections"] if low <= d["score"] < high]
        if not hits:
            return []
        listed = ", ".join(f"{d['label']} {d['score']:.3f}" for d in hits)
        return [(UNCERTAIN, f"{listed} in [{low:g}, {high:g})")]

    def _rare(
        self, main: dict[str, Any], frame: Mapping[str, Any]
    ) -> list[tuple[SampleReasonKind, str]]:
        """Labels under ``rare_fraction`` of this camera's confident detections so far (judged
        before this frame is counted); then the frame is counted."""
        labels: dict[str, int] = main["labels"]
        total = int(main["total"])
        seen = [d["label"] for d in frame["detections"] if d["score"] >= self.cfg.rare_min_score]
        reasons: list[tuple[SampleReasonKind, str]] = []
        if total >= self.cfg.rare_warmup:
            for label in sorted(set(seen)):
                n = labels.get(label, 0)
                if n / total < self.cfg.rare_fraction:
                    share = 100 * n / total
                    detail = f"{label}: {n} of {total} detections on this camera ({share:.2f}%)"
                    reasons.append((RARE, detail))
        for label in seen:
            labels[label] = labels.get(label, 0) + 1
        total += len(seen)
        if total > self.cfg.rare_window:  # halve: the shares follow a changing scene
            main["labels"] = {k: v // 2 for k, v in labels.items() if v // 2 > 0}
            total = sum(main["labels"].values())
        main["total"] = total
        return reasons

    def _reserve(self, kv: KV, frame: dict[str, Any]) -> None:
        """Keep the frame if it ranks among its bucket's ``drift_per_bucket`` smallest."""
        if self.cfg.drift_frames == 0:
            return
        res: dict[str, list[Any]] = kv.get("res") or {}
        bucket = str(frame["capture_ts_ms"] - frame["capture_ts_ms"] % self.bucket_ms)
        kept = res.setdefault(bucket, [])
        kept.append([priority(frame["frame_id"]), frame])
        kept.sort(key=lambda e: e[0])
        del kept[self.cfg.drift_per_bucket :]
        kv.set("res", res)

    def _alarms(self, kv: KV, main: dict[str, Any], alarms: Sequence[Alarm]) -> list[Sample]:
        """Sample each known alarm's window once this camera's event time has passed it (its
        frames are all in the reservoir then); an alarm older than the horizon is ignored."""
        t = int(main["t"])
        done: dict[str, int] = main["done"]
        out: list[Sample] = []
        for alarm in alarms:
            if alarm.key in done or t < alarm.end_ms or alarm.end_ms < t - self.horizon_ms:
                continue
            done[alarm.key] = alarm.end_ms
            metrics.ALARMS.inc()
            if self.cfg.drift_frames == 0:
                continue
            res: dict[str, list[Any]] = kv.get("res") or {}
            frames = [
                (p, f)
                for kept in res.values()
                for p, f in kept
                if alarm.start_ms <= f["capture_ts_ms"] < alarm.end_ms
                and (not alarm.model_version or f["model_version"] == alarm.model_version)
            ]
            frames.sort(key=lambda e: e[0])
            detail = (
                f"{alarm.rule_id} alarm {alarm.key} on window [{iso(alarm.start_ms)}, "
                f"{iso(alarm.end_ms)})"
            )
            for _, frame in frames[: self.cfg.drift_frames]:
                out += self._choose(main, frame, [(DRIFT_WINDOW, detail)])
        return out

    # --- shadow join --------------------------------------------------------------------------

    def _join_production(self, kv: KV, main: dict[str, Any], frame: dict[str, Any]) -> list[Sample]:
        if not self.cfg.shadow or main["cand_t"] is None:  # no candidate for this camera yet
            return []
        if int(main["cand_t"]) < int(main["t"]) - self.horizon_ms:  # the shadow has stopped
            return []
        fid = frame["frame_id"]
        entry = kv.get(f"p:{fid}") or {"prod": None, "cands": {}, "done": []}
        entry["prod"] = frame
        return self._compare(kv, main, fid, entry)

    def _join_candidate(self, kv: KV, main: dict[str, Any], event: DetectionEvent) -> list[Sample]:
        if not self.cfg.shadow:
            return []
        fid = str(event["frame_id"])
        entry = kv.get(f"p:{fid}") or {"prod": None, "cands": {}, "done": []}
        name = f"{event['model_name']}@{event['model_version']}"
        entry["cands"][name] = [
            {"label": d["label"], "score": float(d["score"]), "box": dict(d["box"])}
            for d in event["detections"]
        ]
        entry["ts"] = int(event["capture_ts_ms"])
        return self._compare(kv, main, fid, entry)

    def _compare(
        self, kv: KV, main: dict[str, Any], fid: str, entry: dict[str, Any]
    ) -> list[Sample]:
        frame = entry["prod"]
        reasons: list[tuple[SampleReasonKind, str]] = []
        if frame is not None:
            entry["ts"] = frame["capture_ts_ms"]
            floor = self.cfg.shadow_min_score
            prod = [d for d in frame["detections"] if d["score"] >= floor]
            for name, cand in sorted(entry["cands"].items()):
                if name in entry["done"]:
                    continue
                entry["done"].append(name)
                theirs = [d for d in cand if d["score"] >= floor]
                agreed = agreement(prod, theirs, self.cfg.shadow_iou)
                if agreed < self.cfg.shadow_agreement:
                    reasons.append(
                        (
                            SHADOW,
                            f"candidate {name}: agreement {agreed:.2f} (production "
                            f"{len(prod)} boxes, candidate {len(theirs)})",
                        )
                    )
            entry["cands"] = {k: v for k, v in entry["cands"].items() if k not in entry["done"]}
        kv.set(f"p:{fid}", entry)
        main["pending"][fid] = int(entry.get("ts", 0))
        return self._choose(main, frame, reasons) if reasons and frame is not None else []

    # --- budget and bookkeeping ---------------------------------------------------------------

    def _choose(
        self,
        main: dict[str, Any],
        frame: Mapping[str, Any],
        reasons: list[tuple[SampleReasonKind, str]],
    ) -> list[Sample]:
        """The frame's sample, if the budget of its camera-hour allows (a frame chosen before is
        published again with its new reasons, free)."""
        fid = frame["frame_id"]
        sampled: dict[str, list[Any]] = main["sampled"]
        if fid in sampled:
            known = [list(r) for r in sampled[fid][1]]
            new = [list(r) for r in reasons if list(r) not in known]
            if not new:
                return []
            sampled[fid][1] = known + new
            metrics.MERGED.inc()
            return [self._record(frame, sampled[fid][1])]
        hour = str(frame["capture_ts_ms"] // HOUR_MS)
        used = int(main["budget"].get(hour, 0))
        if used >= self.cfg.budget_per_camera_hour:
            for kind, _ in reasons:
                metrics.OVER_BUDGET.labels(kind.lower()).inc()
            return []
        main["budget"][hour] = used + 1
        sampled[fid] = [frame["capture_ts_ms"], [list(r) for r in reasons]]
        for kind, _ in reasons:
            metrics.CHOSEN.labels(kind.lower()).inc()
        return [self._record(frame, sampled[fid][1])]

    def _record(self, frame: Mapping[str, Any], reasons: list[list[str]]) -> Sample:
        return {
            "sample_id": sample_id(frame["frame_id"], frame["model_version"]),
            "frame_id": frame["frame_id"],
            "camera_id": frame["camera_id"],
            "sequence": frame["sequence"],
            "capture_ts_ms": frame["capture_ts_ms"],
            "model_name": frame["model_name"],
            "model_version": frame["model_version"],
            "frame_width": frame["frame_width"],
            "frame_height": frame["frame_height"],
            "reasons": [{"kind": k, "detail": d} for k, d in reasons],  # type: ignore[typeddict-item]
            "detections": list(frame["detections"]),
            "faces_searched": frame["faces_searched"],
            "chosen_ts_ms": int(self.clock() * 1000),
        }

    def _prune(self, kv: KV, main: dict[str, Any]) -> None:
        """Drop what is older than the horizon (and the oldest pending joins past the cap)."""
        oldest = int(main["t"]) - self.horizon_ms
        current_hour = int(main["t"]) // HOUR_MS
        main["budget"] = {h: n for h, n in main["budget"].items() if int(h) >= current_hour - 2}
        main["done"] = {k: end for k, end in main["done"].items() if end >= oldest}
        sampled = sorted(main["sampled"].items(), key=lambda e: e[1][0])
        main["sampled"] = dict(e for e in sampled if e[1][0] >= oldest)
        while len(main["sampled"]) > SAMPLED_CAP:
            main["sampled"].pop(next(iter(main["sampled"])))
        pending: dict[str, int] = main["pending"]
        ordered = sorted(pending.items(), key=lambda e: e[1])
        drop = [f for f, ts in ordered if ts < oldest]
        keep = [f for f, ts in ordered if ts >= oldest]
        drop += keep[: max(0, len(keep) - self.cfg.shadow_pending)]
        for fid in drop:
            pending.pop(fid, None)
            kv.delete(f"p:{fid}")
        res = kv.get("res")
        if res:
            fresh = {b: kept for b, kept in res.items() if int(b) + self.bucket_ms >= oldest}
            if len(fresh) != len(res):
                kv.set("res", fresh)
