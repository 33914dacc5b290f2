"""Delivery against the real broker and real HTTP receivers: a dead endpoint ends in the DLQ
without holding up a good one, aborted transactions are never delivered, backpressure pauses
instead of dropping, destinations come and go with the rules, a clean stop commits only what
finished, and ``vigil deliver`` killed with -9 loses nothing."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from streams.alerting.delivery import Delivery, lane_id, wait_drained, webhook_name
from streams.alerting.rules import Destinations, Webhook
from tests.streams.alerting.delivery_helpers import (
    DEAD_LETTERED,
    DELIVERED,
    PAUSES,
    alerts_end,
    headers_of,
    lane_committed,
    make_alert,
    publish_alerts,
    publish_raw_alert,
    run_id,
    wait_lanes_ready,
)
from tests.streams.alerting.webhook_server import Endpoint
from vigil import kafka
from vigil.dlq import (
    H_COMPONENT,
    H_DESTINATION,
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
)
from vigil.testing import provision, read_topic, wait_until
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def metric(name: str, destination: str) -> float:
    return REGISTRY.get_sample_value(name, {"destination": destination}) or 0.0


def assert_at_end(settings: VigilSettings, *groups: str) -> None:
    end = alerts_end(settings)
    for group in groups:  # an empty partition needs no commit
        committed = lane_committed(settings, group)
        assert {p: max(0, o) for p, o in committed.items()} == end, group


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["hang", "500"])
def test_a_dead_endpoint_goes_to_the_dlq_and_holds_up_no_other(
    settings: VigilSettings, mode: str
) -> None:
    provision(settings)
    good, bad = Endpoint("ok", b"k"), Endpoint(mode, hang_s=60)
    # a hanging POST times out twice; a 500 is retried twice after 1.5 s and 3 s
    if mode == "hang":
        bad_hook = Webhook(url=bad.url, max_in_flight=16, retries=1, timeout_s=2.0)
    else:
        bad_hook = Webhook(url=bad.url, max_in_flight=16, retries=2, backoff_s=1.5)
    hooks = (Webhook(url=good.url, secret=SecretStr("k")), bad_hook)
    dead_before = metric(DEAD_LETTERED, webhook_name(bad.url))  # an earlier test's port?
    ok_before = metric(DELIVERED, webhook_name(good.url))
    delivery = Delivery(settings, lambda: Destinations(webhooks=hooks)).start()
    try:
        wait_lanes_ready(delivery, 3)
        sent = publish_alerts(settings, [make_alert(run_id(), i) for i in range(12)])
        assert good.wait_for(12, 60)
        dead = read_topic(settings, Topic.DLQ, decode=False, want=12, timeout_s=120)
        assert wait_drained(delivery, 60)
        assert_at_end(settings, delivery.group_id, *(delivery.group_for(h) for h in hooks))
    finally:
        delivery.stop()
        good.close()
        bad.close()

    by_offset = {(p.partition, p.offset): p for p in sent}
    assert sorted(good.ids()) == sorted(p.alert_id for p in sent)  # each exactly once
    assert good.bad_signatures == good.stale == good.wrong_ids == 0
    # every one of the good receiver's alerts came before the first dead letter
    assert max(r.at for r in good.receipts) < min(m.timestamp()[1] / 1000 for m in dead)

    assert len(dead) == 12
    seen = set()
    for msg in dead:
        h = headers_of(msg)
        src = by_offset[(int(h[H_SOURCE_PARTITION]), int(h[H_SOURCE_OFFSET]))]
        seen.add(src.alert_id)
        assert (msg.key(), msg.value()) == (src.key, src.value)  # the bytes, untouched
        assert h[H_SOURCE_TOPIC] == Topic.ALERTS.name_in(settings.topics)
        assert h[H_COMPONENT] == "alert-delivery"
        assert h[H_DESTINATION] == webhook_name(bad.url)
        if mode == "hang":
            assert (h[H_ERROR_CLASS], h[H_ERROR_MESSAGE]) == ("ReadTimeout", "timed out")
        else:
            assert h[H_ERROR_CLASS] == "WebhookRejected"
            assert h[H_ERROR_MESSAGE] == "HTTP 500 Internal Server Error"
    assert seen == {p.alert_id for p in sent}
    assert bad.hits == 12 * (bad_hook.retries + 1)
    assert metric(DEAD_LETTERED, webhook_name(bad.url)) - dead_before == 12
    assert metric(DELIVERED, webhook_name(good.url)) - ok_before == 12


@pytest.mark.timeout(240)
def test_aborted_alerts_are_never_delivered_and_a_bad_record_is_dead_lettered_once(
    settings: VigilSettings,
) -> None:
    provision(settings)
    hook = Endpoint("ok")
    delivery = Delivery(settings, lambda: Destinations(webhooks=(Webhook(url=hook.url),))).start()
    run = run_id()
    try:
        wait_lanes_ready(delivery, 2)
        tx = kafka.transactional_producer(settings, f"{settings.topics.prefix}-tx")
        tx.begin_transaction()
        publish_alerts(settings, [make_alert(run, i) for i in range(5)], tx, flush=False)
        tx.flush(30)
        tx.abort_transaction(30)
        tx.begin_transaction()
        kept = publish_alerts(settings, [make_alert(run, i) for i in range(5, 10)], tx)
        tx.commit_transaction(30)
        publish_raw_alert(settings, "junk", b"\x00 not an alert")
        assert hook.wait_for(5, 60)
        # every group commits up to the end: past the aborted records and the markers
        assert wait_drained(delivery, 60)
        assert_at_end(settings, delivery.group_id, *delivery.groups())
        (dead,) = read_topic(settings, Topic.DLQ, decode=False, idle_s=1.5)
    finally:
        delivery.stop()
        hook.close()
    assert (
        sorted(hook.ids())
        == sorted(p.alert_id for p in kept)
        == [f"{run}-{i}" for i in range(5, 10)]
    )
    h = headers_of(dead)
    assert (dead.key(), dead.value()) == (b"junk", b"\x00 not an alert")
    assert (h[H_COMPONENT], h[H_ERROR_CLASS]) == ("alert-delivery", "SerdeError")
    assert H_DESTINATION not in h  # no destination failed: it is not an alert at all


@pytest.mark.timeout(240)
def test_a_slow_receiver_pauses_the_lane_and_nothing_is_dropped(settings: VigilSettings) -> None:
    provision(settings)
    slow = Endpoint("ok", delay_s=0.05)
    hook = Webhook(url=slow.url, max_in_flight=1)
    pauses_before = metric(PAUSES, webhook_name(slow.url))
    delivery = Delivery(settings, lambda: Destinations(log=False, webhooks=(hook,))).start()
    try:
        wait_lanes_ready(delivery, 2)
        sent = publish_alerts(settings, [make_alert(run_id(), i) for i in range(80)])
        assert slow.wait_for(80, 120)
        assert wait_drained(delivery, 60)
        lane = delivery.lanes[lane_id(slow.url)]
    finally:
        delivery.stop()
        slow.close()
    assert Counter(slow.ids()) == Counter(p.alert_id for p in sent)  # all, once each
    assert lane.stats.peak_in_flight == slow.peak_in_flight == 1
    assert lane.stats.peak_backlog <= lane.backlog_max
    assert lane.stats.pauses >= 1
    assert metric(PAUSES, webhook_name(slow.url)) - pauses_before == lane.stats.pauses
    assert metric("vigil_alert_delivery_paused", webhook_name(slow.url)) == 0
    assert metric("vigil_alert_delivery_in_flight", webhook_name(slow.url)) == 0


@pytest.mark.timeout(300)
def test_destinations_follow_the_rules_and_a_new_one_starts_from_now(
    settings: VigilSettings,
) -> None:
    provision(settings)
    a, b = Endpoint("ok"), Endpoint("ok")
    hook_a, hook_b = Webhook(url=a.url), Webhook(url=b.url)
    current = {"dest": Destinations(webhooks=(hook_a,))}
    delivery = Delivery(settings, lambda: current["dest"]).start()
    run = run_id()
    try:
        wait_lanes_ready(delivery, 2)
        first = publish_alerts(settings, [make_alert(run, i) for i in range(6)])
        assert a.wait_for(6, 60)
        assert wait_drained(delivery, 60)

        current["dest"] = Destinations(webhooks=(hook_a, hook_b))  # b added while running
        wait_lanes_ready(delivery, 3)
        second = publish_alerts(settings, [make_alert(run, i) for i in range(6, 12)])
        assert a.wait_for(12, 60)
        assert b.wait_for(6, 60)
        assert wait_drained(delivery, 60)
        lane_a, lane_b = delivery.lanes[lane_id(a.url)], delivery.lanes[lane_id(b.url)]

        # a removed; b now wants CRITICAL only: the same lane, updated in place
        current["dest"] = Destinations(webhooks=(Webhook(url=b.url, min_severity="CRITICAL"),))
        wait_until(lambda: lane_id(a.url) not in delivery.lanes, 30, "lane a removed")
        assert lane_a.join(30)  # stopped and gone from its group
        third = [make_alert(run, i, "HIGH" if i % 2 else "CRITICAL") for i in range(12, 18)]
        wait_until(lambda: not lane_b.target.wants(third[1]), 30, "lane b updated")
        publish_alerts(settings, third)
        assert b.wait_for(9, 60)
        assert wait_drained(delivery, 60)
        assert delivery.lanes[lane_id(b.url)] is lane_b
    finally:
        delivery.stop()
        a.close()
        b.close()
    assert sorted(a.ids()) == sorted(p.alert_id for p in first + second)
    critical = [x["alert_id"] for x in third if x["severity"] == "CRITICAL"]
    assert sorted(b.ids()) == sorted([p.alert_id for p in second] + critical)


@pytest.mark.timeout(300)
def test_a_clean_stop_commits_only_what_finished_and_a_restart_sends_the_rest(
    settings: VigilSettings,
) -> None:
    provision(settings)
    slow = Endpoint("ok", delay_s=0.5)
    dest = Destinations(webhooks=(Webhook(url=slow.url, max_in_flight=2),))
    delivery = Delivery(settings, lambda: dest).start()
    group = delivery.group_for(dest.webhooks[0])
    try:
        wait_lanes_ready(delivery, 2)
        sent = publish_alerts(settings, [make_alert(run_id(), i) for i in range(16)])
        assert slow.wait_for(2, 60)
    finally:
        delivery.stop(timeout_s=10)
    assert not any(lane.alive for lane in delivery.lanes.values())
    at_stop = lane_committed(settings, group)
    before = set(slow.ids())
    committed = {p.alert_id for p in sent if p.offset < at_stop[p.partition]}
    assert committed <= before  # nothing committed that was not acknowledged

    again = Delivery(settings, lambda: dest).start()
    try:
        wait_until(lambda: set(slow.ids()) >= {p.alert_id for p in sent}, 120, "all delivered")
        assert wait_drained(again, 60)
    finally:
        again.stop()
        slow.close()
    got = Counter(slow.ids())
    assert set(got) == {p.alert_id for p in sent}
    assert {i for i, n in got.items() if n > 1} <= {p.alert_id for p in sent} - committed


@pytest.mark.timeout(300)
def test_two_deliveries_share_the_partitions_and_one_leaving_loses_nothing(
    settings: VigilSettings,
) -> None:
    provision(settings)
    slow = Endpoint("ok", delay_s=0.02)
    dest = Destinations(webhooks=(Webhook(url=slow.url, max_in_flight=2),))
    one = Delivery(settings, lambda: dest).start()
    two: Delivery | None = None
    run = run_id()
    try:
        wait_lanes_ready(one, 2)
        two = Delivery(settings, lambda: dest).start()
        wait_lanes_ready(two, 2)
        both = [lane for d in (one, two) for lane in d.lanes.values()]
        wait_until(lambda: all(len(lane.owned) == 1 for lane in both), 60, "partitions shared")
        assert all(lane.stats.revoked == 1 for lane in one.lanes.values())  # gave one up
        sent = publish_alerts(settings, [make_alert(run, i) for i in range(40)])
        assert slow.wait_for(10, 60)
        one.stop()  # mid-way: the other takes its partitions over
        later = two.lanes.values()
        wait_until(lambda: all(len(lane.owned) == 2 for lane in later), 60, "taken over")
        sent += publish_alerts(settings, [make_alert(run, i) for i in range(40, 60)])
        wait_until(lambda: set(slow.ids()) >= {p.alert_id for p in sent}, 120, "all delivered")
        assert wait_drained(two, 60)
        assert_at_end(settings, *two.groups())
    finally:
        one.stop()
        if two is not None:
            two.stop()
        slow.close()
    assert set(slow.ids()) == {p.alert_id for p in sent}  # at least once each, none lost
    assert slow.bad_signatures == slow.wrong_ids == 0
