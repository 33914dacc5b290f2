"""``vigil deliver`` as its own process on the real broker: SIGKILLed while the receiver is
down it loses nothing, and it follows the rules file and serves its metrics."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.alerting.delivery import lane_id, webhook_name
from tests.streams.alerting.delivery_helpers import (
    DEAD_LETTERED,
    DELIVERED,
    PAUSES,
    alerts_end,
    lane_committed,
    make_alert,
    publish_alerts,
    run_id,
)
from tests.streams.alerting.webhook_server import Endpoint
from vigil.testing import DeliverProcess, free_port, provision, wait_until
from vigil_app.settings import VigilSettings


def _kill_while_down_rules(url: str) -> str:
    return f"""
destinations:
  log: true
  webhooks:
    - {{url: '{url}', secret: k, retries: 1000, backoff_s: 0.1, timeout_s: 2}}
"""


@pytest.mark.timeout(420)
def test_vigil_deliver_killed_while_the_receiver_is_down_loses_nothing(
    settings: VigilSettings, tmp_path: Path
) -> None:
    provision(settings)
    recv = Endpoint("ok", b"k")
    rules = tmp_path / "rules.yaml"
    rules.write_text(_kill_while_down_rules(recv.url))
    group = f"{settings.topics.prefix}-alert-delivery-{lane_id(recv.url)}"
    run = run_id()
    proc = DeliverProcess(settings, rules, tmp_path / "deliver.log")
    back: Endpoint | None = None
    try:
        first = publish_alerts(settings, [make_alert(run, i) for i in range(10)])
        assert recv.wait_for(10, 120), proc.log_text()[-3000:]
        wait_until(
            lambda: lane_committed(settings, group) == alerts_end(settings),
            60,
            "first batch committed",
        )
        # the receiver answers 500 to 5 of the next 20 (fewer than the lane's 8 workers, so
        # the others get through and are acknowledged behind them), then goes down
        batch = [make_alert(run, i) for i in range(10, 30)]
        recv.fail_ids.update(x["alert_id"] for x in batch if int(x["track_id"]) % 4 == 1)
        second = publish_alerts(settings, batch)
        assert recv.wait_for(25, 60)
        recv.close()  # connection refused from now on
        at_kill = lane_committed(settings, group)
        proc.kill()
        assert not proc.alive()

        proc = DeliverProcess(settings, rules, tmp_path / "deliver-2.log")
        back = Endpoint("ok", b"k", port=recv.port)
        sent = first + second
        wait_until(
            lambda: lane_committed(settings, group) == alerts_end(settings),
            180,
            "everything committed after the restart",
        )
        assert proc.stop() == 0, proc.log_text()[-3000:]
    finally:
        proc.kill()
        recv.close()
        if back is not None:
            back.close()
    assert back is not None
    received = Counter(recv.ids() + back.ids())
    assert set(received) == {p.alert_id for p in sent}  # none lost
    uncommitted = {p.alert_id for p in sent if p.offset >= at_kill[p.partition]}
    repeated = {i for i, n in received.items() if n > 1}
    assert repeated <= uncommitted  # only what was not committed at the kill came again
    assert repeated  # acknowledged behind an unacknowledged one: sent again, as designed
    assert recv.bad_signatures == back.bad_signatures == back.stale == 0
    assert at_kill != alerts_end(settings)


@pytest.mark.timeout(300)
def test_vigil_deliver_follows_the_rules_file_and_serves_metrics(
    settings: VigilSettings, tmp_path: Path
) -> None:
    provision(settings)
    a, b = Endpoint("ok"), Endpoint("ok")
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"destinations:\n  webhooks: [{{url: '{a.url}'}}]\n")
    port = free_port()
    proc = DeliverProcess(settings, rules, tmp_path / "deliver.log", VIGIL_METRICS_PORT=str(port))
    group_a = f"{settings.topics.prefix}-alert-delivery-{lane_id(a.url)}"
    group_b = f"{settings.topics.prefix}-alert-delivery-{lane_id(b.url)}"
    run = run_id()
    try:
        first = publish_alerts(settings, [make_alert(run, i) for i in range(3)])
        assert a.wait_for(3, 120), proc.log_text()[-3000:]
        rules.write_text(f"destinations:\n  webhooks: [{{url: '{a.url}'}}, {{url: '{b.url}'}}]\n")
        wait_until(
            lambda: any(o >= 0 for o in lane_committed(settings, group_b).values()),
            60,
            "b's group seeded",
        )
        second = publish_alerts(settings, [make_alert(run, i) for i in range(3, 6)])
        assert a.wait_for(6, 60)
        assert b.wait_for(3, 60)
        groups = [f"{settings.topics.prefix}-alert-delivery", group_a, group_b]
        wait_until(  # committed after counting: the counters below are complete
            lambda: all(lane_committed(settings, g) == alerts_end(settings) for g in groups),
            60,
            "every lane committed",
        )
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert proc.stop() == 0, proc.log_text()[-3000:]
    finally:
        proc.kill()
        a.close()
        b.close()
    assert sorted(a.ids()) == sorted(p.alert_id for p in first + second)
    assert sorted(b.ids()) == sorted(p.alert_id for p in second)  # from when it was added
    samples = {
        (s.name, s.labels.get("destination")): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[(DELIVERED, webhook_name(a.url))] == 6
    assert samples[(DELIVERED, webhook_name(b.url))] == 3
    assert samples[(DELIVERED, "log")] == 6
    assert samples[("vigil_alert_rule_reloads_total", None)] == 1
    for name in (DEAD_LETTERED, PAUSES, "vigil_alert_delivery_in_flight"):
        assert f"# TYPE {name.removesuffix('_total')}" in text
