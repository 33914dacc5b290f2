"""Event-time tumbling windows per (camera, model version), references and alarm streaks.

Pure logic over one mutable mapping (the app passes its Quix Streams state, unit tests a
dict) holding, per ``camera␟version``, one value: the watermark (largest capture time
seen), the open windows' summaries, late counts, alarm streaks and the automatic reference.

Restarts: one value per key, so state is never half written; the app commits it with the
offsets and outputs in one transaction. The value also records the source offset it last
applied (one camera's events share one partition, keyed by camera id), so an event delivered
again changes nothing.
A window closes once its camera's event time (the watermark: the largest
capture time seen) passes its end plus the allowed lateness; an event for a closed window is
counted as late (reported with the next closed window, and in a metric), never dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from streams.drift import metrics
from streams.drift.compare import Kind, Stat, compare, info
from streams.drift.settings import DriftSettings
from streams.drift.window import Summary, add_event, empty, merge, usable_image_stats

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


def _new_state(model_name: str) -> dict[str, Any]:
    return {
        "model_name": model_name,
        "offset": -1,
        "watermark": -1,
        "closed_until": -1,
        "late": 0,
        "late_total": 0,
        "streaks": {},
        "windows": {},  # str(window start) -> summary of an open window
        "ref": None,  # the automatic reference: {"summary", "windows"}
    }


class DriftEngine:
    def __init__(
        self,
        cfg: DriftSettings,
        state: MutableMapping[str, Any],
        pinned: PinnedLookup | None = None,
        clock: Callable[[], float] = time.time,
        on_reference: ReferenceHook | None = None,
    ) -> None:
        self.cfg = cfg
        self.state = state
        self.pinned = pinned or (lambda camera, version: None)
        self.clock = clock
        self.on_reference = on_reference
        self.window_ms = max(1, round(cfg.window_s * 1000))
        self.lateness_ms = round(cfg.allowed_lateness_s * 1000)

    def process(self, event: Mapping[str, Any], offset: int) -> list[Closed]:
        """Fold one DetectionEvent in; return the windows it closed (oldest first). An event at
        or below the offset the key's state already holds is a replay and changes nothing."""
        camera, version = str(event["camera_id"]), str(event["model_version"])
        key = f"{camera}{SEP}{version}"
        st = self.state.get(key) or _new_state(str(event.get("model_name", "")))
        if offset <= st["offset"]:
            return []
        st["offset"] = offset
        ts = int(event["capture_ts_ms"])
        start = ts - ts % self.window_ms
        too_late = start < st["closed_until"] or (
            start + self.window_ms + self.lateness_ms <= st["watermark"]
        )
        if too_late:
            st["late"] += 1
            st["late_total"] += 1
            metrics.LATE.labels(camera).inc()
        else:
            summary = st["windows"].setdefault(str(start), empty())
            add_event(summary, event, dark_brightness=self.cfg.dark_brightness)
            summary["offset"] = offset
            if not usable_image_stats(event.get("image_stats")):
                metrics.MISSING_STATS.labels(camera).inc()
        st["watermark"] = max(st["watermark"], ts)
        due = sorted(
            int(s)
            for s in st["windows"]
            if int(s) + self.window_ms + self.lateness_ms <= st["watermark"]
        )
        closed = [self._close(camera, version, st, s) for s in due]
        self.state[key] = st  # one record per key: the changelog update is atomic
        return closed

    def _reference(
        self, camera: str, version: str, st: dict[str, Any]
    ) -> tuple[Summary | None, str]:
        pinned = self.pinned(camera, version)
        if pinned is not None:
            return pinned, "pinned"
        ref = st["ref"]
        if ref is not None and len(ref["windows"]) >= self.cfg.reference_windows:
            return ref["summary"], "auto"
        return None, "building"

    def _grow_reference(
        self, camera: str, version: str, st: dict[str, Any], start: int, summary: Summary
    ) -> None:
        ref = st["ref"] or {"summary": empty(), "windows": []}
        if start in ref["windows"] or len(ref["windows"]) >= self.cfg.reference_windows:
            return
        merge(ref["summary"], summary)
        ref["windows"] = [*ref["windows"], start]
        st["ref"] = ref
        if len(ref["windows"]) >= self.cfg.reference_windows and self.on_reference is not None:
            self.on_reference(camera, version, ref)

    def _close(self, camera: str, version: str, st: dict[str, Any], start: int) -> Closed:
        summary = st["windows"].pop(str(start))
        st["closed_until"] = max(st["closed_until"], start + self.window_ms)
        reference, source = self._reference(camera, version, st)
        if reference is None:
            self._grow_reference(camera, version, st, start, summary)
            results = info(summary)
        else:
            results = compare(summary, reference, self.cfg)
        late = st["late"]
        st["late"] = 0
        return self._records(camera, version, st, start, summary, results, late, source)

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
            ref = meta["ref"] or {"windows": []}
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
