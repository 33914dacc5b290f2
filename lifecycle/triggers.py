"""Whether a retraining run is due, from what ClickHouse holds: drift alarms on the production
model's detections, its latest accuracy, frames labelled since the last run. The last run is
remembered in ``<data_dir>/retrain/state.json``."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evaluation.accuracy import latest_accuracy
from lifecycle.settings import RetrainProcessSettings
from schemas.types import ModelRecord
from vigil.clickhouse import ClickHouseClient
from vigil.files import write_atomically
from vigil.topics import Topic


def _q(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class State:
    last_run_ms: int = 0
    last_run: str = ""
    outcome: str = ""

    @classmethod
    def load(cls, path: Path) -> State:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls(
            int(raw.get("last_run_ms", 0)),
            str(raw.get("last_run", "")),
            str(raw.get("outcome", "")),
        )

    def save(self, path: Path) -> None:
        write_atomically(path, json.dumps(asdict(self), indent=2).encode())


def state_file(settings: RetrainProcessSettings) -> Path:
    return settings.data_dir / "retrain" / "state.json"


@dataclass(frozen=True)
class Due:
    """What the triggers read, and which of them fired."""

    since_ms: int
    drift_alarms: int
    map50: float | None
    new_labels: int
    fired: list[str] = field(default_factory=list)
    wait_s: float = 0.0  # min_interval_h not yet over

    @property
    def due(self) -> bool:
        return bool(self.fired) and self.wait_s <= 0


def check_triggers(
    settings: RetrainProcessSettings,
    client: ClickHouseClient,
    production: ModelRecord,
    state: State,
    now_ms: int | None = None,
) -> Due:
    cfg = settings.retrain
    trig = cfg.triggers
    db = settings.clickhouse.database
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    since = max(state.last_run_ms, now - int(trig.lookback_h * 3_600_000))
    alarms = int(
        client.query(
            f"SELECT count() FROM {db}.drift WHERE alarm AND window_end_ms >= {since} "  # noqa: S608
            f"AND model_name = {_q(production['name'])} "
            f"AND model_version = {_q(production['model_version'])}"
        )[0][0]
    )
    labels = int(
        client.query(
            f"SELECT count() FROM {db}.labels FINAL WHERE imported_ms >= {since} "  # noqa: S608
            f"AND dataset = {_q(settings.accuracy.dataset)}"
        )[0][0]
    )
    latest = latest_accuracy(
        client,
        db,
        production["name"],
        production["model_version"],
        dataset=settings.accuracy.dataset,
        topic=Topic.DETECTIONS.name_in(settings.topics),
        min_frames=settings.accuracy.min_frames,
    )
    map50 = None if latest is None else latest.map50
    fired = []
    if trig.drift_alarms is not None and alarms >= trig.drift_alarms:
        fired.append(f"{alarms} drift alarms (>= {trig.drift_alarms})")
    if trig.accuracy_below is not None and map50 is not None and map50 < trig.accuracy_below:
        fired.append(f"mAP@0.5 {map50:.3f} < {trig.accuracy_below}")
    if trig.new_labels is not None and labels >= trig.new_labels:
        fired.append(f"{labels} frames labelled (>= {trig.new_labels})")
    wait = state.last_run_ms + cfg.min_interval_h * 3_600_000 - now if state.last_run_ms else 0
    return Due(since, alarms, map50, labels, fired, max(0.0, wait / 1000.0))
