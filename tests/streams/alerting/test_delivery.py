"""Delivery without Kafka: the signing scheme and its receiver-side check, the offset
bookkeeping of a lane, lane ids, and a webhook target against real HTTP servers."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from streams.alerting.delivery import (
    Abandoned,
    Delivered,
    Failed,
    Verdict,
    WebhookRejected,
    WebhookTarget,
    alert_json,
    check,
    lane_id,
    post_headers,
    signature,
    verify,
    webhook_name,
)
from streams.alerting.delivery.bookkeeping import OffsetBook, PartitionOffsets, RecentIds
from streams.alerting.rules import Webhook, parse_rules
from tests.streams.alerting.helpers import VIGIL
from tests.streams.alerting.webhook_server import Endpoint
from vigil.testing import free_port, poll_until
from vigil_app.settings import ConfigError

NOW = 1_750_000_000


def alert(i: int, severity: str = "HIGH") -> dict[str, Any]:
    return {"alert_id": f"a{i}", "rule_id": "r", "severity": severity, "camera_id": "c"}


# -- signing ---------------------------------------------------------------------------------
def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = alert_json(alert(1))
    want = hmac.new(b"k", b"1750000000." + body, hashlib.sha256).hexdigest()
    assert signature(b"k", NOW, body) == f"sha256={want}"
    assert signature("k", NOW, body) == signature(b"k", NOW, body)
    headers = post_headers("a1", body, "k", now=NOW + 0.9)
    assert headers["X-Vigil-Alert-Id"] == "a1"
    assert headers["X-Vigil-Timestamp"] == str(NOW)
    assert headers["X-Vigil-Signature"] == f"sha256={want}"
    assert "X-Vigil-Signature" not in post_headers("a1", body, None, now=NOW)


def test_verify_accepts_the_signed_request_and_refuses_any_change() -> None:
    body = alert_json(alert(1))
    sig = signature(b"k", NOW, body)
    assert verify(b"k", body, str(NOW), sig, now=NOW + 10)
    assert verify("k", body, f" {NOW} ", f" {sig} ", now=NOW)
    assert not verify(b"k", body + b" ", str(NOW), sig, now=NOW)  # body changed
    assert not verify(b"other", body, str(NOW), sig, now=NOW)  # wrong secret
    assert not verify(b"k", body, str(NOW + 1), sig, now=NOW)  # timestamp changed
    assert check(b"k", body, str(NOW + 1), sig, now=NOW) is Verdict.BAD_SIGNATURE
    assert not verify(b"k", body, str(NOW), sig.upper().replace("SHA256", "sha256"), now=NOW)


def test_verify_refuses_replays_and_skew_beyond_the_tolerance() -> None:
    body = alert_json(alert(1))
    old = NOW - 301
    assert check(b"k", body, str(old), signature(b"k", old, body), now=NOW) is Verdict.STALE
    assert verify(b"k", body, str(NOW - 300), signature(b"k", NOW - 300, body), now=NOW)
    ahead = NOW + 301
    assert not verify(b"k", body, str(ahead), signature(b"k", ahead, body), now=NOW)
    assert verify(b"k", body, str(old), signature(b"k", old, body), tolerance_s=600, now=NOW)


@pytest.mark.parametrize(
    ("stamp", "sig"),
    [(None, "sha256=00"), (str(NOW), None), ("1.5e9", "sha256=00"), ("-5", "sha256=00"), ("", "")],
)
def test_check_calls_missing_or_odd_headers_malformed(stamp: str | None, sig: str | None) -> None:
    assert check(b"k", b"{}", stamp, sig, now=NOW) is Verdict.MALFORMED
    assert not verify(b"k", b"{}", stamp, sig, now=NOW)


def test_check_survives_a_non_ascii_signature_header() -> None:
    assert check(b"k", b"{}", str(NOW), "sha256=\u00e9", now=NOW) is Verdict.BAD_SIGNATURE


# -- bookkeeping -----------------------------------------------------------------------------
def test_commit_point_is_after_the_contiguous_finished_prefix() -> None:
    part = PartitionOffsets()
    assert part.commit_point() is None
    for off in (10, 11, 12, 14):  # 13: an aborted record or a transaction marker
        part.take(off)
    assert part.finish(11)
    assert part.finish(14)
    assert part.commit_point() is None  # 10 is still being sent
    assert part.finish(10)
    assert part.commit_point() == 12
    assert part.open == 2
    assert not part.finish(99)  # never taken
    assert part.finish(12)
    assert part.commit_point() == 15
    assert part.open == 0


def test_commit_point_uses_the_position_only_when_nothing_is_open() -> None:
    part = PartitionOffsets()
    part.take(0)
    assert part.commit_point(position=3) is None  # 0 unfinished: the position is no proof
    part.finish(0)
    assert part.commit_point(position=3) == 3  # past a commit marker at 1 and 2
    assert part.commit_point(position=-1001) == 1
    assert PartitionOffsets().commit_point(position=-1001) is None


def test_offsets_must_be_taken_in_order() -> None:
    part = PartitionOffsets()
    part.take(5)
    with pytest.raises(ValueError, match="taken after"):
        part.take(5)
    part.finish(5)
    with pytest.raises(ValueError, match="below the finished prefix"):
        part.take(4)


def test_offset_book_per_partition_and_forgetting_revoked_ones() -> None:
    book = OffsetBook()
    for p, off in ((0, 0), (0, 1), (1, 7), (1, 8)):
        book.take(p, off)
    book.finish(0, 1)
    book.finish(1, 7)
    assert book.open == 3
    assert not book.idle(0)
    assert book.commit_points({0: 2, 1: 9, 2: -1001, 3: 4}) == {1: 8, 3: 4}
    book.forget({1})
    assert book.open == 2
    assert not book.finish(1, 8)
    assert book.idle(1)
    book.finish(0, 0)
    assert book.commit_points({0: -1001}) == {0: 2}


def test_recent_ids_are_bounded_and_forget_the_oldest() -> None:
    ids = RecentIds(capacity=3)
    for i in range(5):
        ids.add(f"a{i}")
    assert len(ids) == 3
    assert "a1" not in ids
    assert "a4" in ids
    ids.discard("a4")
    assert "a4" not in ids
    with pytest.raises(ValueError, match="capacity"):
        RecentIds(0)


# -- lane ids ----------------------------------------------------------------------------------
def test_lane_id_is_a_stable_short_hash_and_names_hide_the_url() -> None:
    url = "https://user:pw@hooks.example.com/services/T0/B0/secret-token"
    assert lane_id(url) == hashlib.sha256(url.encode()).hexdigest()[:12]
    assert lane_id(url) != lane_id(url + "x")
    assert webhook_name(url) == f"webhook:hooks.example.com:443#{lane_id(url)}"
    assert webhook_name("http://127.0.0.1:8080/a") == (
        f"webhook:127.0.0.1:8080#{lane_id('http://127.0.0.1:8080/a')}"
    )


# -- a webhook target against real HTTP -----------------------------------------------------
def test_webhook_post_carries_the_id_a_fresh_timestamp_and_a_valid_signature() -> None:
    good = Endpoint("ok", b"k")
    target = WebhookTarget(Webhook(url=good.url, secret=SecretStr("k")))
    try:
        before = int(time.time())
        result = target.send(alert(1), threading.Event())
        assert result == Delivered(1)
        assert good.ids() == ["a1"]
        assert good.bad_signatures == good.stale == good.wrong_ids == 0
        assert before <= int(good.receipts[0].timestamp) <= int(time.time())
    finally:
        target.close()
        good.close()


def test_a_receiver_refuses_a_wrong_secret_so_the_alert_fails() -> None:
    good = Endpoint("ok", b"right")
    target = WebhookTarget(
        Webhook(url=good.url, secret=SecretStr("wrong"), retries=1, backoff_s=0.01)
    )
    try:
        result = target.send(alert(1), threading.Event())
        assert isinstance(result, Failed)
        assert str(result.error) == "HTTP 401 Unauthorized"
        assert (good.bad_signatures, good.received) == (2, [])
    finally:
        target.close()
        good.close()


def test_webhook_retries_then_fails_with_the_last_error() -> None:
    failing = Endpoint("500")
    target = WebhookTarget(Webhook(url=failing.url, retries=2, backoff_s=0.01))
    refused = WebhookTarget(
        Webhook(url=f"http://127.0.0.1:{free_port()}/x", retries=1, backoff_s=0.01)
    )
    try:
        result = target.send(alert(1), threading.Event())
        assert isinstance(result, Failed)
        assert isinstance(result.error, WebhookRejected)
        assert str(result.error) == "HTTP 500 Internal Server Error"
        assert (result.attempts, failing.hits) == (3, 3)
        down = refused.send(alert(1), threading.Event())
        assert isinstance(down, Failed)
        assert isinstance(down.error, httpx.ConnectError)
        assert down.attempts == 2
    finally:
        target.close()
        refused.close()
        failing.close()


def test_a_stopping_lane_abandons_retries_instead_of_failing() -> None:
    failing = Endpoint("500")
    target = WebhookTarget(Webhook(url=failing.url, retries=5, backoff_s=30))
    stop = threading.Event()
    out: list[object] = []
    worker = threading.Thread(target=lambda: out.append(target.send(alert(1), stop)))
    try:
        worker.start()
        poll_until(lambda: failing.hits >= 1, 10, 0.01)
        stop.set()  # it is in its first 30 s backoff now
        worker.join(10)
        assert out == [Abandoned(1)]
        assert failing.hits == 1
        assert target.send(alert(2), stop) == Abandoned(0)
    finally:
        target.close()
        failing.close()


def test_min_severity_filters_and_the_hook_can_change_in_place() -> None:
    target = WebhookTarget(Webhook(url="http://127.0.0.1:9/x", min_severity="MEDIUM"))
    try:
        assert [target.wants(alert(0, s)) for s in ("INFO", "LOW", "MEDIUM", "CRITICAL")] == [
            False,
            False,
            True,
            True,
        ]
        target.hook = Webhook(url="http://127.0.0.1:9/x", min_severity="CRITICAL")
        assert not target.wants(alert(0, "HIGH"))
    finally:
        target.close()


# -- the rules file and the command ------------------------------------------------------------
def test_rules_take_max_in_flight_per_webhook() -> None:
    rules = parse_rules("destinations:\n  webhooks: [{url: 'http://h/x', max_in_flight: 2}]\n")
    assert rules.destinations.webhooks[0].max_in_flight == 2
    assert Webhook(url="http://h/x").max_in_flight == 8
    with pytest.raises(ConfigError, match="max_in_flight"):
        parse_rules("destinations:\n  webhooks: [{url: 'http://h/x', max_in_flight: 0}]\n")


def test_deliver_refuses_a_bad_rules_file_naming_the_field(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("destinations:\n  webhooks: [{url: 'http://h/x', max_inflight: 2}]\n")
    done = subprocess.run(
        [VIGIL, "deliver", "--rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown field 'destinations.webhooks.0.max_inflight'" in done.stderr.replace("\n", "")
