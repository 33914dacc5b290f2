"""The faults of the suite, each applied to a running :class:`~tests.faults.pipeline.Pipeline`
while frames flow, and :func:`run_fault`: apply one, measure each component's recovery, check
every stage."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.faults.pipeline import Pipeline
from vigil import kafka
from vigil.testing.waits import poll_until, wait_until
from vigil.topics import Topic


def leaders(pipe: Pipeline, role: Topic) -> Counter[int]:
    """How many partitions of the topic each broker leads."""
    meta = kafka.admin(pipe.settings).list_topics(pipe.topic(role), timeout=20)
    return Counter(p.leader for p in meta.topics[pipe.topic(role)].partitions.values())


def in_sync(pipe: Pipeline) -> bool:
    """Every partition of the pipeline's topics has its full ISR."""
    meta = kafka.admin(pipe.settings).list_topics(timeout=20)
    prefix = pipe.settings.topics.prefix
    return all(
        len(p.isrs) == len(p.replicas)
        for name, t in meta.topics.items()
        if name.startswith(prefix) or name.startswith("__")
        for p in t.partitions.values()
    )


def kill_frames_leader(pipe: Pipeline, down_s: float = 10.0) -> str:
    node_id, _n = leaders(pipe, Topic.FRAMES).most_common(1)[0]
    node = pipe.cluster.node(node_id)
    pid = node.process.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    pipe.note(f"SIGKILL kafka node {node_id} (leads most frames partitions)")
    time.sleep(down_s)
    pipe.cluster.start(timeout_s=180)
    wait_until(lambda: in_sync(pipe), 120, "ISR full again")
    return f"node {node_id} killed for {down_s:.0f} s"


def pause_broker(pipe: Pipeline, paused_s: float = 20.0) -> str:
    node_id, _n = leaders(pipe, Topic.DETECTIONS).most_common(1)[0]
    pid = pipe.cluster.node(node_id).process.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    pipe.note(f"SIGSTOP kafka node {node_id}")
    try:
        time.sleep(paused_s)
    finally:
        os.kill(pid, signal.SIGCONT)
    pipe.note(f"SIGCONT kafka node {node_id}")
    wait_until(lambda: in_sync(pipe), 120, "ISR full again")
    return f"node {node_id} stopped for {paused_s:.0f} s"


def rolling_restart(pipe: Pipeline) -> str:
    for node in pipe.cluster.nodes:
        node.stop(60)
        pipe.note(f"kafka node {node.node_id} stopped (rolling)")
        pipe.cluster.start(timeout_s=180)
        wait_until(lambda: in_sync(pipe), 180, "ISR full again")
    return "3 nodes restarted one at a time, each once the ISR was full"


def kill_worker_in_rebalance(pipe: Pipeline) -> str:
    """worker-2 leaves; once worker-1 holds every partition, worker-2 joins again and worker-1
    is SIGKILLed as the rebalance that join causes begins."""
    w1, w2 = pipe.hold("worker-1"), pipe.hold("worker-2")
    assert w2.proc is not None
    assert w1.proc is not None
    w2.proc.stop(60)
    time.sleep(8)  # worker-1 takes every partition (session timeout 6 s)
    pipe.spawn(w2)
    w2.held = True
    log_path = w2.proc.log_path
    wait_until(lambda: "consuming" in log_path.read_text(errors="replace"), 120, "worker-2 joins")
    time.sleep(0.5)  # its JoinGroup is in: worker-1 is being asked to revoke
    w1.proc.kill()
    pipe.note("SIGKILL worker-1 during the rebalance worker-2's join began")
    time.sleep(3)
    pipe.release("worker-1")
    pipe.release("worker-2")
    return "worker-1 SIGKILLed 0.5 s after worker-2 subscribed"


def stop_clickhouse(pipe: Pipeline, down_s: float = 30.0) -> str:
    pipe.clickhouse.stop()
    pipe.note("ClickHouse server stopped")
    time.sleep(down_s)
    pipe.clickhouse.start(timeout_s=120)
    pipe.note("ClickHouse server started")
    return f"server down {down_s:.0f} s"


def fill_blob_disk(pipe: Pipeline, full_s: float = 10.0) -> str:
    """Fill the blob directory's filesystem (a tmpfs) to the last byte for ``full_s``, then free
    it; uploads (claim check) must answer 507 meanwhile."""
    filler = pipe.blob_dir / "filler.bin"
    before = len(pipe.uploads)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:  # unbuffered: every byte the filesystem takes, down to the last block
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    pipe.note("blob filesystem full")
    full = poll_until(
        lambda: any(u.status == 507 for u in pipe.uploads[before:]), full_s + 30, interval_s=0.2
    )
    time.sleep(full_s)
    filler.unlink()
    pipe.note("blob filesystem freed")
    assert full, (
        f"no 507 while the disk was full: {Counter(u.status for u in pipe.uploads[before:])}"
    )
    return f"full for {full_s:.0f} s after the first 507"


def first_after(pipe: Pipeline, since: float, timeout_s: float = 120.0) -> float | None:
    """Seconds from ``since`` until an upload was accepted again."""

    def accepted() -> float | None:
        with pipe._lock:
            hits = [u.at for u in pipe.uploads if u.at >= since and u.status == 202]
        return min(hits) - since if hits else None

    got = accepted() if poll_until(lambda: accepted() is not None, timeout_s, 0.2) else None
    return got


FAULTS: dict[str, Callable[[Pipeline], str]] = {
    "broker_leader_sigkill": kill_frames_leader,
    "broker_sigstop_20s": pause_broker,
    "rolling_restart": rolling_restart,
    "worker_sigkill_in_rebalance": kill_worker_in_rebalance,
    "clickhouse_down_30s": stop_clickhouse,
    "blob_disk_full": fill_blob_disk,
}
SHORT = ("broker_leader_sigkill", "worker_sigkill_in_rebalance", "blob_disk_full")


def run_fault(pipe: Pipeline, name: str, warm_s: float = 5.0) -> dict[str, Any]:
    """Let frames flow ``warm_s``, apply the fault, measure each component's recovery, then
    check every stage against its committed offsets."""
    time.sleep(warm_s)
    restarts = {n: c.restarts for n, c in pipe.components.items()}
    exits = {n: len(c.exits) for n, c in pipe.components.items()}
    began = time.monotonic()
    what = FAULTS[name](pipe)
    ended = time.monotonic()
    ends = pipe.data_ends()
    floor = time.monotonic() - ended  # a group caught up meanwhile reads as this
    recovery = pipe.wait_caught_up(ends, 240, since=ended)
    recovery["api"] = first_after(pipe, ended)
    report = pipe.check()
    return {
        "fault": name,
        "what": what,
        "fault_s": round(ended - began, 1),
        "recovery_s": {k: None if v is None else round(v, 1) for k, v in recovery.items()},
        "recovery_floor_s": round(floor, 1),
        "restarts": {
            n: c.restarts - restarts[n]
            for n, c in pipe.components.items()
            if c.restarts != restarts[n]
        },
        "exits": {
            n: c.exits[exits[n] :] for n, c in pipe.components.items() if c.exits[exits[n] :]
        },
        "report": report.as_json(),
        "problems": report.problems(),
    }


def describe(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1, default=str)
