"""Delivery: every Alert on ``vigil.alerts`` (from the rules, or any other producer such as the
drift stream) goes to a structured log line and to the configured webhooks.

Each webhook has its own thread and bounded queue, so a slow, failing or hanging endpoint
never blocks the consumer or the other destinations. A POST carries the alert as JSON and an
``X-Vigil-Signature: sha256=<hex>`` HMAC of the exact body; failures are retried with
exponential backoff and counted."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx
from confluent_kafka import KafkaError

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from streams.alerting import metrics
from streams.alerting.rules import Destinations, Webhook
from vigil import kafka
from vigil.settings import VigilSettings
from vigil.topics import Topic

log = logging.getLogger(__name__)
SEVERITIES = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")
SIGNATURE_HEADER = "X-Vigil-Signature"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def alert_json(alert: dict[str, Any]) -> bytes:
    return json.dumps(alert, sort_keys=True, separators=(",", ":")).encode()


class WebhookSender:
    """One endpoint: a queue and a thread that POSTs with retries and backoff."""

    def __init__(self, hook: Webhook, capacity: int = 1000) -> None:
        self.hook = hook
        self.name = f"webhook:{httpx.URL(hook.url).netloc.decode()}"
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(capacity)
        self.delivered = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._stop = threading.Event()
        self._thread.start()

    def submit(self, alert: dict[str, Any]) -> None:
        if SEVERITIES.index(alert["severity"]) < SEVERITIES.index(self.hook.min_severity):
            return
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            self.failed += 1
            metrics.DELIVERY_FAILURES.labels(self.name).inc()
            log.error("%s: queue full, alert %s not delivered", self.name, alert["alert_id"])

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            log.warning("%s: closing with a full queue", self.name)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        with httpx.Client(timeout=self.hook.timeout_s) as client:
            while True:
                alert = self.queue.get()
                if alert is None or self._stop.is_set():
                    return
                self._deliver(client, alert)

    def _deliver(self, client: httpx.Client, alert: dict[str, Any]) -> None:
        body = alert_json(alert)
        headers = {"Content-Type": "application/json", "X-Vigil-Alert-Id": alert["alert_id"]}
        if self.hook.secret is not None:
            headers[SIGNATURE_HEADER] = signature(
                self.hook.secret.get_secret_value().encode(), body
            )
        for attempt in range(self.hook.retries + 1):
            try:
                response = client.post(self.hook.url, content=body, headers=headers)
                if response.status_code < 300:
                    log.info("%s: alert %s delivered", self.name, alert["alert_id"])
                    self.delivered += 1
                    metrics.DELIVERED.labels(self.name).inc()
                    return
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self.failed += 1
            metrics.DELIVERY_FAILURES.labels(self.name).inc()
            log.warning(
                "%s: alert %s attempt %d failed: %s",
                self.name,
                alert["alert_id"],
                attempt + 1,
                reason,
            )
            if attempt < self.hook.retries and not self._stop.wait(
                self.hook.backoff_s * 2**attempt
            ):
                continue
            break
        log.error("%s: alert %s given up", self.name, alert["alert_id"])


class Delivery:
    """Consumes ``vigil.alerts`` (its own consumer group) and fans out to the destinations.
    Alerts are de-duplicated by id, so a re-sent alert is not notified twice."""

    def __init__(
        self,
        settings: VigilSettings,
        destinations: Callable[[], Destinations],
        group_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.destinations = destinations
        self.topic = Topic.ALERTS.name_in(settings.topics)
        self.group_id = group_id or f"{settings.topics.prefix}-alert-delivery"
        self.serde = serde_for(settings, Topic.ALERTS)
        self.senders: dict[Webhook, WebhookSender] = {}
        self.seen: OrderedDict[str, None] = OrderedDict()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Delivery:
        self._thread = threading.Thread(target=self._run, name="alert-delivery", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for sender in self.senders.values():
            sender.close()

    def _run(self) -> None:
        # a crashed predecessor's partitions come back after the session timeout, not 45 s
        timeout_ms = int(self.settings.alerting.session_timeout_s * 1000)
        cons = kafka.consumer(
            self.settings,
            self.group_id,
            **{"session.timeout.ms": timeout_ms, "heartbeat.interval.ms": timeout_ms // 4},
        )
        cons.subscribe([self.topic])
        try:
            while not self._stop.is_set():
                msg = cons.poll(0.2)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        log.warning("delivery consumer: %s", err)
                    continue
                try:
                    alert = self.serde.decode(msg)
                except SerdeError as exc:
                    log.error("undeliverable alert (not an Alert): %s", exc)
                    metrics.DELIVERY_FAILURES.labels("decode").inc()
                else:
                    self.deliver(alert)
                cons.commit(message=msg, asynchronous=True)
        finally:
            cons.close()

    def deliver(self, alert: dict[str, Any]) -> None:
        alert_id = str(alert["alert_id"])
        if alert_id in self.seen:
            return
        self.seen[alert_id] = None
        while len(self.seen) > 100_000:
            self.seen.popitem(last=False)
        dest = self.destinations()
        if dest.log:
            log.info("ALERT %s", alert_json(alert).decode(), extra={"alert": alert})
            metrics.DELIVERED.labels("log").inc()
        for hook in dest.webhooks:
            sender = self.senders.get(hook)
            if sender is None:
                sender = self.senders[hook] = WebhookSender(hook)
            sender.submit(alert)


def wait_drained(delivery: Delivery, timeout_s: float) -> bool:
    """True once every webhook queue is empty (tests and the demo)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(s.queue.empty() for s in delivery.senders.values()):
            return True
        time.sleep(0.05)
    return False
