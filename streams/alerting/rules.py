"""The rules file: what to alert on, where, when and how loudly.

User-written YAML, validated with ``extra="forbid"`` so a typo is an error that names the field.
A running app re-reads the file when it changes; a file that does not validate is refused and
the rules already active stay active (see :class:`RulesFile`)."""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.types import Severity
from streams.alerting.geometry import Point
from vigil.settings import ConfigError

log = logging.getLogger(__name__)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Model):
    """``start``-``end`` local time on ``days``; ``end`` <= ``start`` crosses midnight (the
    night of ``22:00``-``06:00`` belongs to the day it starts on)."""

    start: time
    end: time
    days: tuple[Weekday, ...] = WEEKDAYS


class Schedule(_Model):
    timezone: str = "UTC"
    windows: tuple[Window, ...] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def active(self, ts_ms: int) -> bool:
        local = datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(self.timezone))
        now, today = local.time(), WEEKDAYS[local.weekday()]
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        for w in self.windows:
            if w.start < w.end:
                if today in w.days and w.start <= now < w.end:
                    return True
            elif (today in w.days and now >= w.start) or (yesterday in w.days and now < w.end):
                return True
        return False


class Line(_Model):
    """A tripwire from ``a`` to ``b``; ``direction`` is how the object must move across it."""

    a: tuple[Unit, Unit]
    b: tuple[Unit, Unit]
    direction: Literal[
        "any", "left_to_right", "right_to_left", "top_to_bottom", "bottom_to_top"
    ] = "any"

    def matches(self, move: tuple[float, float]) -> bool:
        dx, dy = move
        return {
            "any": True,
            "left_to_right": dx > 0,
            "right_to_left": dx < 0,
            "top_to_bottom": dy > 0,
            "bottom_to_top": dy < 0,
        }[self.direction]


class Rule(_Model):
    """One alert rule. ``trigger`` says what fires it:

    - ``zone``: an object (by its bottom-centre point) is in ``zone`` (or anywhere, no zone);
    - ``dwell``: an object stays in ``zone`` for ``dwell_s`` seconds;
    - ``line``: a tracked object crosses ``line`` in its ``direction``;
    - ``count``: at least ``count`` objects are in ``zone`` at once.
    """

    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    trigger: Literal["zone", "dwell", "line", "count"] = "zone"
    labels: tuple[str, ...] = ("person",)
    min_score: Unit = 0.5
    cameras: tuple[str, ...] = Field((), description="empty: every camera")
    zone: tuple[tuple[Unit, Unit], ...] | None = None
    line: Line | None = None
    dwell_s: float | None = Field(None, gt=0)
    count: int | None = Field(None, ge=1)
    schedule: Schedule | None = None
    severity: Severity = "MEDIUM"
    cooldown_s: float = Field(0.0, ge=0, description="no new notification this long after one")
    quiet_s: float = Field(30.0, gt=0, description="an incident closes after this long unseen")
    incident_per: Literal["track", "zone"] | None = Field(
        None, description="default: zone for zone/count rules, track for dwell/line"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.zone is not None and len(self.zone) < 3:
            raise ValueError("zone: a polygon needs at least 3 points")
        needs = {"dwell": ("zone", "dwell_s"), "line": ("line",), "count": ("count",)}
        for name in needs.get(self.trigger, ()):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required by trigger {self.trigger!r}")
        if self.trigger == "count" and self.incident_per == "track":
            raise ValueError("incident_per: a count rule has no single track")
        return self

    @property
    def polygon(self) -> tuple[Point, ...] | None:
        return None if self.zone is None else tuple((x, y) for x, y in self.zone)

    @property
    def per_track(self) -> bool:
        if self.incident_per is not None:
            return self.incident_per == "track"
        return self.trigger in ("dwell", "line")

    def applies(self, camera_id: str, ts_ms: int) -> bool:
        if self.cameras and camera_id not in self.cameras:
            return False
        return self.schedule is None or self.schedule.active(ts_ms)


class PoiRule(_Model):
    """Person-of-interest face alerts. Open-set: a face below ``threshold`` is unknown; a match
    alerts only once seen in ``confirm_k`` of the last ``confirm_n`` frames of its track."""

    enabled: bool = True
    id: str = Field("poi", pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    labels: tuple[str, ...] = ("face",)
    threshold: float = Field(0.6, gt=-1.0, le=1.0)
    near_miss: float = Field(0.35, gt=-1.0, le=1.0, description="audit log lower bound")
    confirm_k: int = Field(3, ge=1)
    confirm_n: int = Field(5, ge=1)
    min_face_score: Unit = 0.5
    min_face_px: int = Field(20, ge=1, description="quality gate: face box side in pixels")
    cameras: tuple[str, ...] = ()
    schedule: Schedule | None = None
    severity: Severity = "HIGH"
    cooldown_s: float = Field(0.0, ge=0)
    quiet_s: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> PoiRule:
        if self.confirm_k > self.confirm_n:
            raise ValueError("confirm_k: must not exceed confirm_n")
        if self.near_miss > self.threshold:
            raise ValueError("near_miss: must not exceed threshold")
        return self

    def applies(self, camera_id: str, ts_ms: int) -> bool:
        if not self.enabled or (self.cameras and camera_id not in self.cameras):
            return False
        return self.schedule is None or self.schedule.active(ts_ms)


LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(?:\.{LABEL})*$")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Webhook(_Model):
    """One endpoint; its alerts go through a lane of their own (streams/alerting/delivery)."""

    url: str = Field(pattern=r"^https?://")
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 key for X-Vigil-Signature")
    timeout_s: float = Field(5.0, gt=0)
    retries: int = Field(4, ge=0, description="then the alert goes to vigil.dlq")
    backoff_s: float = Field(0.5, gt=0, description="backoff_s * 2^attempt, at most 30 s")
    min_severity: Severity = "INFO"
    max_in_flight: int = Field(8, ge=1, le=256, description="alerts posted at once; then pause")

    @field_validator("url")
    @classmethod
    def _parseable(cls, url: str) -> str:
        """Refused at load, not by the delivery thread at the first alert; never echoed back,
        since webhook URLs often carry a token."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
            httpx.URL(url)
        except (ValueError, httpx.InvalidURL):
            raise ValueError("webhook url does not parse as a URL") from None
        host = parts.hostname or ""
        if not (HOSTNAME.match(host) or _is_ip(host)):
            raise ValueError("webhook url has no valid host")
        return url


class Destinations(_Model):
    log: bool = True
    webhooks: tuple[Webhook, ...] = ()


class Tracking(_Model):
    iou_threshold: Unit = 0.3
    max_age_s: float = Field(2.0, gt=0, description="a track unseen this long is dropped")
    high_score: Unit = Field(0.5, description="ByteTrack: first association pass")
    low_score: Unit = Field(0.1, description="ByteTrack: second pass; below is ignored")


class RuleSet(_Model):
    rules: tuple[Rule, ...] = ()
    poi: PoiRule = PoiRule()
    tracking: Tracking = Tracking()
    destinations: Destinations = Destinations()

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        ids = [r.id for r in self.rules] + ([self.poi.id] if self.poi.enabled else [])
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rules: duplicate rule ids {dupes}")
        return self


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Validate a rules document; :class:`ConfigError` names every offending field."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'rules:'")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(root)"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown field {where!r}")
            else:
                problems.append(f"invalid field {where!r}: {err['msg']}")
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


def load_rules(path: Path) -> RuleSet:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"rules file {path}: {exc.strerror or exc}") from None
    return parse_rules(text, str(path))


class RulesFile:
    """The active rules of a running app, re-read when the file changes. A bad edit is logged
    with the field named and ignored: the previous rules stay active."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rules = load_rules(path)  # a bad file at start-up is an error, not a default
        self.error: str | None = None
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def refresh(self) -> bool:
        """Re-read the file if it changed; True when new rules became active."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self.rules = load_rules(self.path)
        except ConfigError as exc:
            self.error = str(exc)
            log.error("rules not reloaded, previous rules stay active: %s", exc)
            return False
        self.error = None
        log.info("rules reloaded from %s: %d rules", self.path, len(self.rules.rules))
        return True
