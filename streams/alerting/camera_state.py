"""One camera's alerting state: its tracker, dwell timers, open incidents, cooldowns and POI
votes, kept as one JSON value per camera in the app's changelog-backed store; and forgetting
erased persons in it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from streams.alerting.tracker import Tracker
from vigil.watchlist import Watchlist


@dataclass
class Incident:
    id: str
    rule_id: str
    opened_ms: int
    last_ms: int
    quiet_ms: int
    notified: bool  # False: opened during the rule's cooldown, so it stays silent

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class CameraState:
    tracker: Tracker = field(default_factory=Tracker)
    dwell: dict[str, int] = field(default_factory=dict)  # "rule|track" -> entered zone at
    incidents: dict[str, Incident] = field(default_factory=dict)  # "rule|subject"
    last_notified: dict[str, int] = field(default_factory=dict)  # rule -> ms (cooldown)
    votes: dict[str, list[str | None]] = field(default_factory=dict)  # track -> last n persons
    # (partition, offset) of the last detection applied: a redelivered event is recognised
    applied: tuple[int, int] | None = None
    clock: int = 0  # the latest event time applied: the camera's time never runs backwards

    def is_applied(self, partition: int, offset: int) -> bool:
        """True when this state already reflects the event at ``partition``/``offset``."""
        return (
            self.applied is not None and self.applied[0] == partition and offset <= self.applied[1]
        )

    def dumps(self) -> bytes:
        return json.dumps(
            {
                "tracker": self.tracker.to_dict(),
                "dwell": self.dwell,
                "incidents": {k: i.to_dict() for k, i in self.incidents.items()},
                "last_notified": self.last_notified,
                "votes": self.votes,
                "applied": self.applied,
                "clock": self.clock,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def loads(cls, data: bytes | None) -> CameraState:
        if not data:
            return cls()
        d = json.loads(data)
        return cls(
            tracker=Tracker.from_dict(d["tracker"]),
            dwell={k: int(v) for k, v in d["dwell"].items()},
            incidents={k: Incident(**v) for k, v in d["incidents"].items()},
            last_notified={k: int(v) for k, v in d["last_notified"].items()},
            votes={k: list(v) for k, v in d["votes"].items()},
            applied=(int(d["applied"][0]), int(d["applied"][1])) if d.get("applied") else None,
            clock=int(d.get("clock", 0)),
        )


def forget_removed(state: CameraState, watchlist: Watchlist) -> int:
    """Drop what the state remembers of persons no longer on the watch-list (a track's votes,
    open POI incidents), so an erased person leaves the state, and with it the changelog
    (compacted within ``topics.poi_erasure_minutes``), at the camera's next event. Returns
    how many entries were dropped."""
    dropped = 0
    for votes in state.votes.values():
        for i, person in enumerate(votes):
            if person is not None and person not in watchlist:
                votes[i] = None
                dropped += 1
    for key in list(state.incidents):
        person = _incident_person(key)
        if person is not None and person not in watchlist:
            del state.incidents[key]
            dropped += 1
    return dropped


def _incident_person(key: str) -> str | None:
    """The person of a POI incident's key (``<rule>|p<person>``), else None."""
    subject = key.split("|", 1)[1] if "|" in key else ""
    return subject[1:] if subject.startswith("p") else None
