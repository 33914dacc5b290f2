"""Rules over one camera's tracked detections, and incidents so that one situation gives one
notification, not one per frame or per object.

Pure logic over plain data: :func:`process` takes a decoded DetectionEvent and the camera's
:class:`CameraState` (which the app keeps in its changelog-backed state store) and returns the
notifications to send. All times are event times (``capture_ts_ms``), so a replay or a restart
reaches the same decisions, and the ids it produces are deterministic."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.alerting.camera_state import CameraState, Incident
from streams.alerting.geometry import in_polygon, segments_cross
from streams.alerting.rules import PoiRule, Rule, RuleSet
from streams.alerting.tracker import Observation, Track
from vigil.watchlist import Match, Watchlist

ID_NAMESPACE = uuid.UUID("5b0f1f6e-3c1d-4d0e-9a51-7a1e4c9d2b10")
# how far a camera's clock may run ahead of the worker that inferred its frame
MAX_CLOCK_SKEW_MS = 5_000


def event_time(event: dict[str, Any]) -> int:
    """The event time the state runs on: ``capture_ts_ms``, but never later than the worker's
    inference time (+ :data:`MAX_CLOCK_SKEW_MS`). A frame cannot be inferred before it was
    taken, so a later capture time is a wrong camera clock; trusted as is, one such frame would
    put a rule's cooldown (and its open incidents) in the future and silence every later
    incident. Still deterministic: both times are in the event, so a replay decides alike."""
    ts = int(event["capture_ts_ms"])
    inferred = event.get("inference_ts_ms")
    if inferred is None:
        return ts
    return min(ts, int(inferred) + MAX_CLOCK_SKEW_MS)


@dataclass(frozen=True)
class Notification:
    """A new incident that is not under cooldown: exactly what goes to ``vigil.alerts``."""

    rule_id: str
    incident_id: str
    severity: str
    index: int  # the detection that fired it
    track_id: int | None
    poi_id: str | None = None
    similarity: float | None = None
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AuditEntry:
    """A POI match decision at or above the near-miss bound (for tuning thresholds)."""

    camera_id: str
    frame_id: str
    track_id: int | None
    person_id: str
    similarity: float
    threshold: float
    decision: str  # "match" or "near_miss"


@dataclass
class Outcome:
    notifications: list[Notification] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    suppressed: int = 0  # incidents opened silently during a cooldown
    closed: int = 0
    poi_rejected: int = 0  # faces that failed the quality gate


@dataclass(frozen=True)
class _Hit:
    subject: str
    index: int
    track_id: int | None
    poi_id: str | None = None
    similarity: float | None = None
    details: tuple[tuple[str, str], ...] = ()


def observations(event: dict[str, Any]) -> list[Observation]:
    out = []
    for i, d in enumerate(event["detections"]):
        b = d["box"]
        box = (float(b["x_min"]), float(b["y_min"]), float(b["x_max"]), float(b["y_max"]))
        out.append(Observation(i, str(d["label"]), float(d["score"]), box))
    return out


def process(
    event: dict[str, Any],
    state: CameraState,
    rules: RuleSet,
    watchlist: Watchlist | None = None,
    matches: FaceMatches | None = None,
) -> Outcome:
    """Track, evaluate every rule, open/close incidents; mutates ``state``. ``matches``: the
    event's faces already matched by :func:`match_faces` (else they are matched here)."""
    # one time for this event everywhere in the state: clamped (see event_time) and never
    # before the camera's latest, so a frame from a clock set to the past cannot restart a
    # dwell timer or reopen a closed incident in the past either
    ts = max(event_time(event), state.clock)
    state.clock = ts
    camera = str(event["camera_id"])
    obs = observations(event)
    tracks = state.tracker.update(obs, ts, rules.tracking)
    live = {str(t) for t in state.tracker.tracks}
    state.dwell = {k: v for k, v in state.dwell.items() if k.split("|", 1)[1] in live}
    state.votes = {k: v for k, v in state.votes.items() if k in live}
    outcome = Outcome()
    for key in [k for k, i in state.incidents.items() if ts - i.last_ms > i.quiet_ms]:
        del state.incidents[key]
        outcome.closed += 1
    for rule in rules.rules:
        if rule.applies(camera, ts):
            hits = _evaluate(rule, obs, tracks, state, ts)
            _open(
                rule.id, rule.severity, rule.cooldown_s, rule.quiet_s, hits, event, state, outcome
            )
    poi = rules.poi
    if watchlist is not None and poi.applies(camera, ts):
        if matches is None:
            matches = match_faces([event], rules, watchlist)[0]
        hits = _poi_hits(poi, event, tracks, state, matches, outcome)
        _open(poi.id, poi.severity, poi.cooldown_s, poi.quiet_s, hits, event, state, outcome)
    return outcome


def _evaluate(
    rule: Rule, obs: list[Observation], tracks: dict[int, Track], state: CameraState, ts: int
) -> list[_Hit]:
    polygon = rule.polygon
    chosen = [o for o in obs if o.label in rule.labels and o.score >= rule.min_score]
    inside = [o for o in chosen if polygon is None or in_polygon(_point(o), polygon)]

    def tid(o: Observation) -> int | None:
        t = tracks.get(o.index)
        return None if t is None else t.id

    if rule.trigger == "line" and rule.line is not None:
        line = rule.line
        hits = []
        for o in chosen:
            track = tracks.get(o.index)
            if track is None or track.prev_point is None:
                continue
            p0, p1 = track.prev_point, track.point
            if segments_cross(p0, p1, line.a, line.b) and line.matches(
                (p1[0] - p0[0], p1[1] - p0[1])
            ):
                hits.append(_Hit(f"t{track.id}", o.index, track.id))
        return hits
    if rule.trigger == "dwell" and rule.dwell_s is not None:
        inside_ids = {o.index for o in inside}
        for o in chosen:  # observed outside the zone: the clock restarts
            t = tid(o)
            if t is not None and o.index not in inside_ids:
                state.dwell.pop(f"{rule.id}|{t}", None)
        hits = []
        for o in inside:
            t = tid(o)
            if t is None:
                continue
            entered = state.dwell.setdefault(f"{rule.id}|{t}", ts)
            if ts - entered >= rule.dwell_s * 1000:
                detail = (("dwell_s", f"{(ts - entered) / 1000:.1f}"),)
                hits.append(_Hit(_subject(rule, t), o.index, t, details=detail))
        return hits
    if rule.trigger == "count" and rule.count is not None:
        if len(inside) < rule.count:
            return []
        best = max(inside, key=lambda o: o.score)
        return [_Hit("zone", best.index, tid(best), details=(("count", str(len(inside))),))]
    return [_Hit(_subject(rule, tid(o)), o.index, tid(o)) for o in inside]


def _subject(rule: Rule, track_id: int | None) -> str:
    return f"t{track_id}" if rule.per_track and track_id is not None else "zone"


def _point(o: Observation) -> tuple[float, float]:
    return ((o.box[0] + o.box[2]) / 2.0, o.box[3])


FaceMatches = dict[int, Match]  # detection index -> its best watch-list candidate


def gated_faces(event: dict[str, Any], poi: PoiRule) -> tuple[list[tuple[int, Any]], int]:
    """The faces of an event that may be matched (label, embedding, quality gate), and how many
    were turned away by the gate."""
    width, height = int(event["frame_width"]), int(event["frame_height"])
    faces, rejected = [], 0
    for i, d in enumerate(event["detections"]):
        emb = d.get("embedding")
        if d["label"] not in poi.labels or emb is None:
            continue
        b = d["box"]
        side = min((b["x_max"] - b["x_min"]) * width, (b["y_max"] - b["y_min"]) * height)
        if d["score"] < poi.min_face_score or side < poi.min_face_px:
            rejected += 1
            continue
        faces.append((i, emb))
    return faces, rejected


def match_faces(
    events: list[dict[str, Any]], rules: RuleSet, watchlist: Watchlist
) -> list[FaceMatches]:
    """Match the faces of many events in one matrix product, so the watch-list (40 MB for
    10,000 people) is read once per batch instead of once per frame."""
    poi = rules.poi
    out: list[FaceMatches] = [{} for _ in events]
    if len(watchlist) == 0:
        return out
    by_dim: dict[int, list[tuple[int, int, Any]]] = {}
    for k, ev in enumerate(events):
        if not poi.applies(str(ev["camera_id"]), event_time(ev)):
            continue
        for i, emb in gated_faces(ev, poi)[0]:
            by_dim.setdefault(len(emb), []).append((k, i, emb))
    for rows in by_dim.values():
        found = watchlist.match(np.asarray([r[2] for r in rows], np.float32), poi.threshold)
        for (k, i, _), m in zip(rows, found, strict=True):
            out[k][i] = m
    return out


def _poi_hits(
    poi: PoiRule,
    event: dict[str, Any],
    tracks: dict[int, Track],
    state: CameraState,
    matches: FaceMatches,
    outcome: Outcome,
) -> list[_Hit]:
    outcome.poi_rejected += gated_faces(event, poi)[1]
    hits = []
    for index, m in sorted(matches.items()):
        track = tracks.get(index)
        t = None if track is None else track.id
        if m.person_id is not None and m.similarity >= poi.near_miss:
            outcome.audit.append(
                AuditEntry(
                    str(event["camera_id"]),
                    str(event["frame_id"]),
                    t,
                    m.person_id,
                    m.similarity,
                    m.threshold,
                    "match" if m.matched else "near_miss",
                )
            )
        if t is None:
            continue
        votes = state.votes.setdefault(str(t), [])
        votes.append(m.person_id if m.matched else None)
        del votes[: max(0, len(votes) - poi.confirm_n)]
        if m.matched and m.person_id is not None and votes.count(m.person_id) >= poi.confirm_k:
            detail = (("confirmed", f"{votes.count(m.person_id)}/{len(votes)}"),)
            hits.append(_Hit(f"p{m.person_id}", index, t, m.person_id, m.similarity, detail))
    return hits


def _open(
    rule_id: str,
    severity: str,
    cooldown_s: float,
    quiet_s: float,
    hits: list[_Hit],
    event: dict[str, Any],
    state: CameraState,
    outcome: Outcome,
) -> None:
    ts = state.clock  # this event's time, as process() settled it
    for hit in hits:
        key = f"{rule_id}|{hit.subject}"
        current = state.incidents.get(key)
        if current is not None:
            current.last_ms = ts
            continue
        name = f"{rule_id}:{event['camera_id']}:{hit.subject}:{event['frame_id']}"
        incident = Incident(str(uuid.uuid5(ID_NAMESPACE, name)), rule_id, ts, ts, 0, False)
        incident.quiet_ms = int(quiet_s * 1000)
        last = state.last_notified.get(rule_id)
        if last is not None and ts - last < cooldown_s * 1000:
            outcome.suppressed += 1
        else:
            incident.notified = True
            state.last_notified[rule_id] = ts
            outcome.notifications.append(
                Notification(
                    rule_id,
                    incident.id,
                    severity,
                    hit.index,
                    hit.track_id,
                    hit.poi_id,
                    hit.similarity,
                    hit.details,
                )
            )
        state.incidents[key] = incident


def alert_record(n: Notification, event: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The Avro ``Alert`` for a notification; its id is the incident's, so a reprocessed event
    yields the same alert id and consumers can de-duplicate."""
    det = event["detections"][n.index]
    return {
        "alert_id": str(uuid.uuid5(ID_NAMESPACE, f"alert:{n.incident_id}")),
        "rule_id": n.rule_id,
        "incident_id": n.incident_id,
        "camera_id": event["camera_id"],
        "frame_id": event["frame_id"],
        "label": det["label"],
        "score": float(det["score"]),
        "poi_id": n.poi_id,
        "poi_similarity": n.similarity,
        "severity": n.severity,
        "capture_ts_ms": int(event["capture_ts_ms"]),
        "alert_ts_ms": now_ms,
        "track_id": n.track_id,
        "details": {"model_version": str(event["model_version"]), **dict(n.details)},
    }
