"""The fault suite (issue 19): the whole pipeline as real processes on a three-node Kafka
cluster and a ClickHouse server (tests/faults/pipeline.py), one fault after another while
frames flow from a looping file camera and an uploader. After each fault every stage is
checked against what its consumer group committed: nothing lost, nothing twice (delivery to a
webhook is at least once: its repeats are reported, not failed); at the end the sources stop,
everything drains, and the alerts equal an uninterrupted run of the alerting engine.

``make test`` runs the short profile (a frames leader SIGKILLed, a worker SIGKILLed in a
rebalance, the blob disk full); ``make faults`` the full one (VIGIL_FAULTS_PROFILE=full), which
writes its measurements to VIGIL_FAULTS_RESULTS (bench/results-faults.json) for the README's
table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_clickhouse_server
from tests.faults.faults import FAULTS, SHORT, describe, run_fault
from tests.faults.pipeline import Pipeline
from vigil import kafka, testing

PROFILE = os.environ.get("VIGIL_FAULTS_PROFILE", "short")
NAMES = list(FAULTS) if PROFILE == "full" else list(SHORT)
RESULTS: list[dict[str, Any]] = []
BLOB_FS_BYTES = 256 * 1024 * 1024  # the uploads' blobs of a full run fit, with room


def _tmpfs(path: Path) -> bool:
    """Mount a small tmpfs at ``path`` (root only): the blob disk the disk-full fault fills."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={BLOB_FS_BYTES}", "tmpfs", str(path)],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    require_clickhouse_server()
    home = tmp_path_factory.mktemp("faults")
    blobs = home / "blobs"
    mounted = _tmpfs(blobs)
    started = time.monotonic()
    try:
        with (
            testing.kafka_cluster(home / "kafka") as cluster,
            testing.clickhouse_server(home / "clickhouse") as clickhouse,
        ):
            # the short profile (in `make test`) feeds less, for headroom on a small CI machine
            full = PROFILE == "full"
            pipe = Pipeline(
                home,
                cluster,
                clickhouse,
                blob_dir=blobs,
                fps=5.0 if full else 2.0,
                uploads_per_s=2.0 if full else 1.0,
            )
            pipe.tmpfs = mounted  # type: ignore[attr-defined]
            try:
                pipe.start()
                yield pipe
            finally:
                pipe.stop()
                _write_results(pipe, time.monotonic() - started)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(blobs)], check=False)


def _write_results(pipe: Pipeline, took_s: float) -> None:
    out = os.environ.get("VIGIL_FAULTS_RESULTS")
    if not out:
        return
    doc = {
        "profile": PROFILE,
        "run_s": round(took_s, 1),
        "machine": f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "faults": RESULTS,
        "events": pipe.events,
    }
    Path(out).write_text(json.dumps(doc, indent=1, default=str) + "\n")
    logs = Path(out).with_suffix(".logs")  # every process's log beside the results
    shutil.rmtree(logs, ignore_errors=True)
    shutil.copytree(pipe.logs(), logs)


def _keep(result: dict[str, Any]) -> None:
    """Into the results, and at once to ``<results>.jsonl`` (a long run can be followed)."""
    RESULTS.append(result)
    out = os.environ.get("VIGIL_FAULTS_RESULTS")
    if out:
        with Path(out).with_suffix(".jsonl").open("a") as fh:
            fh.write(json.dumps(result, default=str) + "\n")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("fault", NAMES)
def test_fault_loses_and_duplicates_nothing(pipeline: Pipeline, fault: str) -> None:
    if fault == "blob_disk_full" and not getattr(pipeline, "tmpfs", False):
        # an unprivileged container's root cannot mount either; the 507 answer itself is
        # tested without a mount (tests/connectors/api/test_upload_api.py)
        pytest.skip("the blob disk fault needs to mount a small tmpfs (root, CAP_SYS_ADMIN)")
    result = run_fault(pipeline, fault)
    _keep(result)
    assert not result["problems"], describe(result)
    recovery = result["recovery_s"]
    assert all(v is not None for v in recovery.values()), describe(result)
    if fault == "blob_disk_full":
        assert result["report"]["uploads"].get("507", 0) > 0, describe(result)
    # no component crashed on its own: a restart is the fault's (worker-1 here) or the
    # watchdog's documented exit around librdkafka #5456/#5511 (vigil.kafka.within)
    crashed = {
        name: codes
        for name, codes in result["exits"].items()
        if name != "worker-1" and any(code != kafka.WATCHDOG_EXIT for code in codes)
    }
    assert not crashed, describe(result)


@pytest.mark.timeout(900)
def test_after_the_faults_everything_arrived_exactly_once(pipeline: Pipeline) -> None:
    pipeline.drain()
    report = pipeline.check(final=True)
    _keep({"fault": "final", "report": report.as_json(), "problems": report.problems()})
    assert not report.problems(), describe(RESULTS[-1])
    stages = report.stages
    assert stages["api"].expected > 0
    assert stages["camera"].expected > 0
    assert stages["detections"].expected == stages["detections"].arrived
    assert report.alerts_expected, "no alert at all: the rules never fired"
    # camera: after ingest's clean stop, what it was told was acknowledged is exactly there
    assert stages["camera"].expected == stages["camera"].arrived


def test_every_topic_and_changelog_has_three_replicas(pipeline: Pipeline) -> None:
    """Vigil's topics (``vigil topics ensure``) and the changelogs Quix Streams creates for the
    stream apps' state: replication 3 on the three-node cluster."""
    prefix = pipeline.settings.topics.prefix
    meta = kafka.admin(pipeline.settings).list_topics(timeout=20).topics
    ours = {n: t for n, t in meta.items() if n.startswith((f"{prefix}.", f"changelog__{prefix}"))}
    changelogs = [n for n in ours if n.startswith("changelog__")]
    assert len(changelogs) >= 2, sorted(ours)  # alerting's and drift's state
    replicas = {n: {len(p.replicas) for p in t.partitions.values()} for n, t in ours.items()}
    assert {n: r for n, r in replicas.items() if r != {3}} == {}
