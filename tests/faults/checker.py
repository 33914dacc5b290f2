"""The exactly-once checker of the fault suite and the soak: every stage of a
:class:`~tests.faults.pipeline.Pipeline` read ``read_committed`` from its start and held to what
the stage's consumer group committed (see tests/faults/pipeline.py), and the oracle of the
alerts an uninterrupted run raises."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from streams.alerting.camera_state import CameraState, forget_removed
from streams.alerting.delivery import lane_id
from streams.alerting.engine import alert_record, process
from streams.alerting.rules import parse_rules
from vigil.topics import Topic
from vigil.watchlist import Watchlist

if TYPE_CHECKING:
    from tests.faults.pipeline import Pipeline


@dataclass
class Stage:
    """One hop of the pipeline at a checkpoint: ``expected`` records that must have arrived
    (upstream, below the hop's committed offsets), ``lost`` of them missing, ``duplicated``
    records that arrived more than once (all of the hop's output)."""

    expected: int = 0
    arrived: int = 0
    lost: int = 0
    duplicated: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class Report:
    stages: dict[str, Stage]
    dead_lettered: dict[str, int]
    uploads: dict[str, int]
    cameras: dict[str, dict[str, int]]
    alerts_expected: int | None = None  # from the offline oracle, after a drain
    alerts_unexpected: list[str] = field(default_factory=list)
    alerts_missing: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = [
            f"{name}: {s.lost} lost, {s.duplicated} duplicated ({s.examples[:5]})"
            for name, s in self.stages.items()
            if s.lost or (s.duplicated and name != "delivery")  # delivery: at least once
        ]
        if self.dead_lettered:
            out.append(f"dead-lettered: {self.dead_lettered}")
        if self.alerts_missing or self.alerts_unexpected:
            out.append(
                f"alerts vs the oracle: {len(self.alerts_missing)} missing "
                f"{self.alerts_missing[:3]}, {len(self.alerts_unexpected)} unexpected "
                f"{self.alerts_unexpected[:3]}"
            )
        return out

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def check(pipe: Pipeline, *, final: bool = False) -> Report:
    """Every stage held to its committed offsets (see the module's docstring); ``final``
    (after :meth:`Pipeline.drain`): to everything, and the alerts to the oracle."""
    groups = pipe.groups()
    committed = {g: pipe.committed(g, roles) for g, (_c, roles) in groups.items()}
    with pipe._lock:  # before the topic is read: every one of these was acknowledged
        uploads = list(pipe.uploads)
    status = pipe.camera_status()
    frames = pipe.read(Topic.FRAMES)
    detections = pipe.read(Topic.DETECTIONS)
    alerts = pipe.read(Topic.ALERTS)
    dlq = pipe.read(Topic.DLQ)
    stages: dict[str, Stage] = {}

    def below(group: str, topic: str, part: int, off: int) -> bool:
        return off < committed[group].get((topic, part), 0) or final

    accepted = {u.frame_id for u in uploads if u.status == 202 and u.frame_id}
    frame_ids = Counter(str(v["frame_id"]) for _p, _o, v in frames)
    stages["api"] = _stage(accepted, frame_ids, set(accepted))
    per_camera = Counter(
        str(v["camera_id"]) for _p, _o, v in frames if v["camera_id"] in pipe.camera_ids
    )
    cam = Stage()
    for cid, st in status.items():
        cam.expected += st["frames_acknowledged"]
        cam.arrived += per_camera[cid]
        cam.lost += max(0, st["frames_acknowledged"] - per_camera[cid])
    cam.duplicated = sum(n - 1 for fid, n in frame_ids.items() if n > 1 and fid not in accepted)
    stages["camera"] = cam

    ftopic, dtopic, atopic = (pipe.topic(r) for r in (Topic.FRAMES, Topic.DETECTIONS, Topic.ALERTS))
    det_ids = Counter(str(v["frame_id"]) for _p, _o, v in detections)
    must = {str(v["frame_id"]) for p, o, v in frames if below(pipe.worker_group, ftopic, p, o)}
    stages["detections"] = _stage(must, det_ids, set(frame_ids))
    ch_frames = pipe.clickhouse_ids("frames", "frame_id")
    must = {str(v["frame_id"]) for p, o, v in detections if below(pipe.sink_group, dtopic, p, o)}
    stages["clickhouse"] = _stage(must, ch_frames, set(det_ids))

    alert_ids = Counter(str(v["alert_id"]) for _p, _o, v in alerts)
    stages["alerts"] = _stage(set(), alert_ids, set(alert_ids))
    ch_alerts = pipe.clickhouse_ids("alerts", "alert_id")
    must = {str(v["alert_id"]) for p, o, v in alerts if below(pipe.sink_group, atopic, p, o)}
    stages["clickhouse_alerts"] = _stage(must, ch_alerts, set(alert_ids))
    hook_group = f"{pipe.settings.topics.prefix}-alert-delivery-{lane_id(pipe.webhook.url)}"
    must = {str(v["alert_id"]) for p, o, v in alerts if below(hook_group, atopic, p, o)}
    stages["delivery"] = _stage(must, Counter(pipe.webhook.ids()), set(alert_ids))

    report = Report(
        stages=stages,
        dead_lettered=dict(Counter(f"{e['component']}:{e['error_class']}" for _p, _o, e in dlq)),
        uploads=dict(Counter(str(u.status if u.status != 202 else "accepted") for u in uploads)),
        cameras=status,
    )
    if final:
        want = oracle_alerts(pipe.rules.read_text(), detections)
        report.alerts_expected = len(want)
        report.alerts_missing = sorted(want - set(alert_ids))
        report.alerts_unexpected = sorted(set(alert_ids) - want)
        stages["alerts"].expected = len(want)
    return report


def _stage(must: set[str], arrived: Counter[str], known: set[str]) -> Stage:
    """``must`` ids that have to be in ``arrived``; duplicates among everything arrived;
    ``known``: what upstream holds (an arrived id outside it is counted as an example)."""
    lost = sorted(must - set(arrived))
    dups = {k: n for k, n in arrived.items() if n > 1}
    strays = sorted(set(arrived) - known)[:3]
    return Stage(
        expected=len(must),
        arrived=len(arrived),
        lost=len(lost),
        duplicated=sum(n - 1 for n in dups.values()),
        examples=[*lost[:5], *sorted(dups)[:5], *(f"stray:{s}" for s in strays)],
    )


def oracle_alerts(rules_text: str, detections: list[tuple[int, int, Any]]) -> set[str]:
    """The alert ids an uninterrupted alerting app raises over these detections: the engine
    per camera, in each partition's order (a camera's events share one partition), its state
    round-tripped through its changelog encoding at every event as the app does."""
    rules = parse_rules(rules_text)
    watchlist = Watchlist()
    states: dict[str, bytes | None] = {}
    ids: set[str] = set()
    for _p, _o, event in sorted(detections, key=lambda r: (r[0], r[1])):
        camera = str(event["camera_id"])
        state = CameraState.loads(states.get(camera))
        forget_removed(state, watchlist)
        outcome = process(event, state, rules, watchlist)
        states[camera] = state.dumps()
        ids |= {str(alert_record(n, event, 0)["alert_id"]) for n in outcome.notifications}
    return ids
