"""Delivery without Kafka: a signed JSON POST per alert, de-duplicated by alert id, and a hanging
endpoint does not hold up a good one."""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import SecretStr

from streams.alerting.delivery import (
    Delivery,
    WebhookSender,
    alert_json,
    signature,
    wait_drained,
)
from streams.alerting.rules import Destinations, Webhook
from tests.streams.alerting.webhook_server import Endpoint
from vigil.settings import VigilSettings


def alert(i: int, severity: str = "HIGH") -> dict[str, object]:
    return {"alert_id": f"a{i}", "rule_id": "r", "severity": severity, "camera_id": "c"}


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = alert_json(alert(1))
    want = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert signature(b"k", body) == f"sha256={want}"


def test_hanging_endpoint_does_not_block_a_good_one() -> None:
    good, hang = Endpoint("ok", b"k"), Endpoint("hang", hang_s=5.0)
    try:
        slow = WebhookSender(Webhook(url=hang.url, timeout_s=4.0, retries=0))
        fast = WebhookSender(Webhook(url=good.url, secret=SecretStr("k"), min_severity="MEDIUM"))
        for i in range(5):
            slow.submit(alert(i))
            fast.submit(alert(i))
        fast.submit(alert(9, severity="LOW"))  # below the hook's min_severity
        deadline = time.monotonic() + 10
        while len(good.received) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        # all five reached the good endpoint while the first POST to the other still hangs
        assert [a["alert_id"] for a in good.received] == [f"a{i}" for i in range(5)]
        assert slow.delivered + slow.failed == 0  # its first POST has not even failed yet
        assert good.bad_signatures == 0
        assert fast.delivered == 5
    finally:
        slow.close(0.1)
        fast.close()
        good.close()
        hang.close()


def test_alerts_are_delivered_once_per_alert_id() -> None:
    good = Endpoint("ok", b"k")
    hook = Webhook(url=good.url, secret=SecretStr("k"))
    delivery = Delivery(VigilSettings(), lambda: Destinations(log=True, webhooks=(hook,)))
    try:
        for i in (1, 2, 1, 3, 2):
            delivery.deliver(alert(i))
        assert wait_drained(delivery, 10)
        deadline = time.monotonic() + 10
        while len(good.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert [a["alert_id"] for a in good.received] == ["a1", "a2", "a3"]
    finally:
        delivery.stop()
        good.close()
