"""Where an alert goes: the contract of a destination, and the two there are (the log, webhooks).

A target's :meth:`Target.send` is called from a lane's worker threads, one alert at a time per
thread; it retries on its own and returns what happened as data (:data:`Result`), never
raising: the lane decides what a result means for the offsets."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from streams.alerting import metrics
from streams.alerting.delivery.signing import post_headers
from streams.alerting.rules import Webhook
from vigil.logs import register_secrets
from vigil.pseudonyms import Pseudonyms

log = logging.getLogger("streams.alerting.delivery")
# httpx logs every request with its full URL at INFO, and webhook URLs often carry tokens
logging.getLogger("httpx").setLevel(logging.WARNING)
SEVERITIES = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")
MAX_BACKOFF_S = 30.0


def alert_json(alert: dict[str, Any]) -> bytes:
    """The body of a POST (and of the log line): canonical JSON of the Alert record."""
    return json.dumps(alert, sort_keys=True, separators=(",", ":")).encode()


def lane_id(url: str) -> str:
    """A stable short id of a webhook URL: its consumer group is ``<group>-<id>``. The URL
    itself never appears in group names, metrics or DLQ headers (URLs often hold tokens)."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def webhook_name(url: str) -> str:
    """``webhook:<host>:<port>#<lane id>``: the metric label and the DLQ destination header."""
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"webhook:{parsed.host}:{port}#{lane_id(url)}"


@dataclass(frozen=True)
class Delivered:
    attempts: int


@dataclass(frozen=True)
class Failed:
    """The retries ran out; ``error`` is the last attempt's."""

    error: BaseException
    attempts: int


@dataclass(frozen=True)
class Abandoned:
    """The lane is stopping: not finished, so not committed; the next owner sends it again."""

    attempts: int


Result = Delivered | Failed | Abandoned


class WebhookRejected(Exception):
    """The endpoint answered, but not with a 2xx status."""


class Target(Protocol):
    name: str  # metric label, DLQ header
    max_in_flight: int

    def wants(self, alert: dict[str, Any]) -> bool: ...

    def send(self, alert: dict[str, Any], stop: threading.Event) -> Result: ...

    def close(self) -> None: ...


class LogTarget:
    """One structured log line per alert (``destinations.log``); it cannot fail. The POI id
    is logged as its pseudonym: logs are kept outside Vigil's retention and erasure."""

    name = "log"
    max_in_flight = 1

    def __init__(self, enabled: bool = True, pseudonyms: Pseudonyms | None = None) -> None:
        self.enabled = enabled  # the supervisor follows the rules file
        self.pseudonyms = pseudonyms or Pseudonyms()

    def wants(self, alert: dict[str, Any]) -> bool:
        return self.enabled

    def send(self, alert: dict[str, Any], stop: threading.Event) -> Result:
        logged = self.pseudonyms.alert(alert)
        log.info("ALERT %s", alert_json(logged).decode(), extra={"alert": logged})
        return Delivered(1)

    def close(self) -> None:
        return None


def remember_secrets(hook: Webhook) -> None:
    """A webhook's URL (its path is often the token) and its key never reach a log line."""
    register_secrets([hook.url, *([hook.secret.get_secret_value()] if hook.secret else [])])


class WebhookTarget:
    """POSTs to one URL with retries and exponential backoff (capped at 30 s). ``hook`` may be
    replaced while running (same URL, e.g. a new secret): each attempt reads the current one."""

    def __init__(self, hook: Webhook) -> None:
        self.hook = hook
        remember_secrets(hook)
        self.name = webhook_name(hook.url)
        self.max_in_flight = hook.max_in_flight
        limits = httpx.Limits(max_connections=hook.max_in_flight)
        self._client = httpx.Client(limits=limits, timeout=hook.timeout_s)

    def wants(self, alert: dict[str, Any]) -> bool:
        return SEVERITIES.index(str(alert["severity"])) >= SEVERITIES.index(self.hook.min_severity)

    def send(self, alert: dict[str, Any], stop: threading.Event) -> Result:
        body = alert_json(alert)
        alert_id = str(alert["alert_id"])
        attempt = 0
        error: BaseException = RuntimeError("not attempted")
        while True:
            if stop.is_set():
                return Abandoned(attempt)
            hook = self.hook
            secret = None if hook.secret is None else hook.secret.get_secret_value()
            attempt += 1
            try:
                response = self._client.post(
                    hook.url,
                    content=body,
                    headers=post_headers(alert_id, body, secret),
                    timeout=hook.timeout_s,
                )
            except httpx.HTTPError as exc:
                error = exc
            else:
                if 200 <= response.status_code < 300:
                    log.info("%s: alert %s delivered", self.name, alert_id)
                    return Delivered(attempt)
                error = WebhookRejected(f"HTTP {response.status_code} {response.reason_phrase}")
            metrics.DELIVERY_FAILURES.labels(self.name).inc()
            reason = f"{type(error).__name__}: {error}"
            if attempt > hook.retries:
                log.error(
                    "%s: alert %s given up after %d attempts: %s",
                    self.name,
                    alert_id,
                    attempt,
                    reason,
                )
                return Failed(error, attempt)
            log.warning("%s: alert %s attempt %d failed: %s", self.name, alert_id, attempt, reason)
            if stop.wait(min(MAX_BACKOFF_S, hook.backoff_s * 2 ** (attempt - 1))):
                return Abandoned(attempt)

    def close(self) -> None:
        self._client.close()
