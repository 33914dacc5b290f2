"""Event-time tumbling windows per (camera, model version), references and alarm streaks.

Pure logic over three mutable mappings (the faust app passes changelog-backed tables, unit
tests pass dicts):

- ``windows``: ``camera␟version␟start`` -> the open window's summary;
- ``meta``: ``camera␟version`` -> watermark, open windows, late count, alarm streaks;
- ``refs``: ``camera␟version`` -> the automatic reference (the first N windows merged).

Restarts: every value records the source offset it last applied (one camera's events share
one partition, keyed by camera id), so an event replayed after a crash (at-least-once) is
applied nowhere twice. A window closes once its camera's event time (the watermark: the largest
capture time seen) passes its end plus the allowed lateness; an event for a closed window is
counted as late (reported with the next closed window, and in a metric), never dropped silently.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from streams.drift import metrics
from streams.drift.compare import Kind, Stat, compare
from streams.drift.window import Summary, add_event, empty, merge, usable_image_stats
from vigil.settings import DriftSettings

SEP = "\x1f"
PinnedLookup = Callable[[str, str], Summary | None]
ReferenceHook = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True)
class Closed:
    """What one closed window produced: DriftStat and Alert records, ready to serialize."""

    camera_id: str
    model_version: str
    window_start_ms: int
    window_end_ms: int
    frames: int
    stats: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    reference: str = "building"  # "building", "auto" or "pinned"

    @property
    def alarmed_features(self) -> set[str]:
        return {a["details"]["feature"] for a in self.alerts}


def _new_meta(model_name: str) -> dict[str, Any]:
    return {
        "model_name": model_name,
        "watermark": -1,
        "open": [],
        "closed_until": -1,
        "late": 0,
        "late_total": 0,
        "streaks": {},
        "offset": -1,
    }


class DriftEngine:
    def __init__(
        self,
        cfg: DriftSettings,
        windows: MutableMapping[str, Any],
        meta: MutableMapping[str, Any],
        refs: MutableMapping[str, Any],
        pinned: PinnedLookup | None = None,
        clock: Callable[[], float] = time.time,
        on_reference: ReferenceHook | None = None,
    ) -> None:
        self.cfg = cfg
        self.windows, self.meta, self.refs = windows, meta, refs
        self.pinned = pinned or (lambda camera, version: None)
        self.clock = clock
        self.on_reference = on_reference
        self.window_ms = max(1, round(cfg.window_s * 1000))
        self.lateness_ms = round(cfg.allowed_lateness_s * 1000)

    def process(self, event: Mapping[str, Any], offset: int) -> list[Closed]:
        """Fold one DetectionEvent in; return the windows it closed (oldest first)."""
        camera, version = str(event["camera_id"]), str(event["model_version"])
        key = f"{camera}{SEP}{version}"
        meta = dict(self.meta.get(key) or _new_meta(str(event.get("model_name", ""))))
        fresh = offset > meta["offset"]
        ts = int(event["capture_ts_ms"])
        start = ts - ts % self.window_ms
        too_late = start < meta["closed_until"] or (
            start + self.window_ms + self.lateness_ms <= meta["watermark"]
        )
        if too_late:
            if fresh:
                meta["late"] += 1
                meta["late_total"] += 1
                metrics.LATE.labels(camera).inc()
        else:
            wkey = f"{key}{SEP}{start}"
            summary = self.windows.get(wkey) or empty()
            if offset > summary["offset"]:
                summary = dict(summary)
                add_event(summary, event, dark_brightness=self.cfg.dark_brightness)
                summary["offset"] = offset
                self.windows[wkey] = summary
                if fresh and not usable_image_stats(event.get("image_stats")):
                    metrics.MISSING_STATS.labels(camera).inc()
            if start not in meta["open"]:
                meta["open"] = sorted([*meta["open"], start])
        if fresh:
            meta["watermark"] = max(meta["watermark"], ts)
            meta["offset"] = offset
        closed = [
            self._close(camera, version, meta, s)
            for s in list(meta["open"])
            if s + self.window_ms + self.lateness_ms <= meta["watermark"]
        ]
        self.meta[key] = meta
        return [c for c in closed if c is not None]

    def _reference(self, camera: str, version: str) -> tuple[Summary | None, str]:
        pinned = self.pinned(camera, version)
        if pinned is not None:
            return pinned, "pinned"
        ref = self.refs.get(f"{camera}{SEP}{version}")
        if ref is not None and len(ref["windows"]) >= self.cfg.reference_windows:
            return ref["summary"], "auto"
        return None, "building"

    def _grow_reference(self, camera: str, version: str, start: int, summary: Summary) -> None:
        key = f"{camera}{SEP}{version}"
        ref = self.refs.get(key) or {"summary": empty(), "windows": []}
        if start in ref["windows"] or len(ref["windows"]) >= self.cfg.reference_windows:
            return
        ref = {
            "summary": merge(copy.deepcopy(ref["summary"]), summary),
            "windows": [*ref["windows"], start],
        }
        self.refs[key] = ref
        if len(ref["windows"]) >= self.cfg.reference_windows and self.on_reference is not None:
            self.on_reference(camera, version, ref)

    def _close(self, camera: str, version: str, meta: dict[str, Any], start: int) -> Closed | None:
        wkey = f"{camera}{SEP}{version}{SEP}{start}"
        meta["open"] = [s for s in meta["open"] if s != start]
        meta["closed_until"] = max(meta["closed_until"], start + self.window_ms)
        summary = self.windows.get(wkey)
        if summary is None:  # closed before a crash; the delete is what was replayed
            return None
        reference, source = self._reference(camera, version)
        results: list[Stat] = []
        if reference is None:
            self._grow_reference(camera, version, start, summary)
        else:
            results = compare(summary, reference, self.cfg)
        late = meta["late"]
        meta["late"] = 0
        closed = self._records(camera, version, meta, start, summary, results, late, source)
        del self.windows[wkey]
        return closed

    def _records(
        self,
        camera: str,
        version: str,
        meta: dict[str, Any],
        start: int,
        summary: Summary,
        results: list[Stat],
        late: int,
        source: str,
    ) -> Closed:
        end = start + self.window_ms
        by_feature: dict[str, list[Stat]] = {}
        for s in results:
            by_feature.setdefault(s.feature, []).append(s)
        streaks: dict[str, int] = {}
        alarmed: set[str] = set()
        for feature, stats in by_feature.items():
            if stats[0].kind is Kind.INFO:
                continue
            drifted = any(s.exceeded for s in stats)
            streak = meta["streaks"].get(feature, 0) + 1 if drifted else 0
            if streak:
                streaks[feature] = streak
            need = (
                self.cfg.quality_consecutive
                if stats[0].kind is Kind.QUALITY
                else self.cfg.consecutive
            )
            if drifted and streak >= need:
                alarmed.add(feature)
        meta["streaks"] = streaks
        base = {
            "window_start_ms": start,
            "window_end_ms": end,
            "camera_id": camera,
            "model_name": meta["model_name"],
            "model_version": version,
        }
        rows = [
            {
                **base,
                "feature": s.feature,
                "statistic": s.statistic,
                "value": float(s.value),
                "threshold": float(s.threshold),
                "alarm": s.exceeded and s.feature in alarmed,
                "sample_size": int(s.sample_size),
            }
            for s in results
        ]
        rows.append(
            {**base, "feature": "late_events", "statistic": "RATE", "value": float(late),
             "threshold": 0.0, "alarm": False, "sample_size": summary["frames"]}
        )  # fmt: skip
        if source == "building":
            ref = self.refs.get(f"{camera}{SEP}{version}") or {"windows": []}
            rows.append(
                {**base, "feature": "reference_windows", "statistic": "RATE",
                 "value": float(len(ref["windows"])),
                 "threshold": float(self.cfg.reference_windows), "alarm": False,
                 "sample_size": summary["frames"]}
            )  # fmt: skip
        alerts = [
            self._alert(base, by_feature[f], streaks[f], meta["model_name"])
            for f in sorted(alarmed)
        ]
        for row in rows:
            metrics.STATISTIC.labels(camera, version, row["feature"], row["statistic"]).set(
                row["value"]
            )
        for feature in alarmed:
            metrics.ALARMS.labels(camera, feature).inc()
        metrics.WINDOWS.labels(camera).inc()
        return Closed(camera, version, start, end, summary["frames"], rows, alerts, source)

    def _alert(
        self, base: dict[str, Any], stats: list[Stat], streak: int, model_name: str
    ) -> dict[str, Any]:
        worst = next((s for s in stats if s.exceeded), stats[0])
        feature = worst.feature
        first = base["window_start_ms"] - (streak - 1) * self.window_ms
        ident = f"{base['camera_id']}:{base['model_version']}"
        details = {
            "feature": feature,
            "kind": worst.kind.value,
            "model_name": model_name,
            "model_version": base["model_version"],
            "window_start_ms": str(base["window_start_ms"]),
            "window_end_ms": str(base["window_end_ms"]),
            "consecutive_windows": str(streak),
        }
        for s in stats:
            details[s.statistic.lower()] = f"{s.value:.4f}"
            details[f"{s.statistic.lower()}_threshold"] = f"{s.threshold:.4f}"
        return {
            "alert_id": f"drift:{feature}:{ident}:{base['window_start_ms']}",
            "rule_id": f"drift:{feature}",
            "incident_id": f"drift:{feature}:{ident}:{first}",
            "camera_id": base["camera_id"],
            "frame_id": "",
            "label": feature,
            "score": float(worst.value),
            "severity": "HIGH" if worst.kind is Kind.QUALITY else "MEDIUM",
            "capture_ts_ms": base["window_end_ms"],
            "alert_ts_ms": int(self.clock() * 1000),
            "track_id": None,
            "details": details,
        }
