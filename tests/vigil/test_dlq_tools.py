"""``vigil dlq list|show|replay`` on the real broker: dead letters counted per reason and
component, one shown with its original bytes, a reason re-driven to its source topic (key,
value and original headers as they were, the DLQ's headers gone, a marker added) exactly once,
however often the command runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Message
from typer.testing import CliRunner

from vigil import follow, kafka
from vigil.dlq import dead_letter, header_pairs
from vigil.dlq_tools import H_REPLAYED, read_dlq
from vigil.testing import provision
from vigil_app.cli import app
from vigil_app.settings import VigilSettings


def _messages(settings: VigilSettings, topic: str) -> list[Message]:
    out: list[Message] = []
    follow.read_to_end(settings, topic, out.append, name="test-dlq-reader", timeout_s=30)
    return out


def _fill(settings: VigilSettings, source: str) -> list[Message]:
    """Five records on ``source``, each dead-lettered: three too big, two another fault."""
    producer = kafka.producer(settings)
    for i in range(5):
        kafka.produce(
            producer, source, f"frame-{i}".encode(), key=f"cam{i}", headers=[("trace", b"t%d" % i)]
        )
    assert producer.flush(30) == 0
    originals = _messages(settings, source)
    dlq = f"{settings.topics.prefix}.dlq"
    for i, msg in enumerate(originals):
        error = ValueError(f"too_many_bytes: {i} MB over") if i < 3 else KeyError("no schema")
        dead_letter(producer, dlq, msg, error, "worker" if i < 3 else "sink")
    assert producer.flush(30) == 0
    return originals


def _cli(settings: VigilSettings) -> Callable[..., str]:
    env = {
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "COLUMNS": "200",
    }

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, ["dlq", *args], env=env)
        assert result.exit_code == code, result.output
        return result.output

    return run


def _rows(table: str, source: str) -> list[list[str]]:
    """reason, component, source, records, replayed of each table row about ``source``."""
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 7 and cells[2] == source:
            rows.append(cells[:5])
    return rows


def test_list_show_and_replay_once(
    settings: VigilSettings, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    provision(settings)
    source = new_topic()
    originals = _fill(settings, source)
    vigil = _cli(settings)

    listed = vigil("list")
    assert _rows(listed, source) == [
        ["KeyError", "sink", source, "2", "0"],
        ["too_many_bytes", "worker", source, "3", "0"],
    ]
    assert "5 of 5 dead letters" in listed
    sink_only = vigil("list", "--component", "sink")
    assert _rows(sink_only, source) == [["KeyError", "sink", source, "2", "0"]]
    assert "2 of 5 dead letters" in sink_only

    dlq = read_dlq(settings)
    first = dlq.select("too_many_bytes")[0]
    shown = vigil("show", str(first.offset), "--out", str(tmp_path / "value.bin"))
    assert "too_many_bytes: 0 MB over" in shown
    assert f"{source} [0] @ 0" in shown
    assert (tmp_path / "value.bin").read_bytes() == b"frame-0"
    vigil("show", "999", code=2)

    assert "would replay 3 records to" in vigil("replay", "--reason", "too_many_bytes", "--dry-run")
    out = vigil("replay", "--reason", "too_many_bytes")
    assert f"replayed 3 records to {source}" in out
    assert "0 replayed before" in out
    again = vigil("replay", "--reason", "too_many_bytes")
    assert "replayed 3" not in again
    assert "3 replayed before (skipped)" in again

    after = _messages(settings, source)
    assert len(after) == 8  # the 5 originals and 3 re-driven, once
    for orig, back in zip(originals[:3], after[5:], strict=True):
        assert (back.key(), back.value()) == (orig.key(), orig.value())
        headers = dict(header_pairs(back.headers()))
        assert headers["trace"] == dict(header_pairs(orig.headers()))["trace"]
        assert not any(k.startswith(("vigil.error", "vigil.source")) for k in headers)
        assert H_REPLAYED in headers
    dlq = read_dlq(settings)
    assert len(dlq.entries) == 5  # markers are not dead letters
    assert dlq.replayed == {e.coordinates for e in dlq.select("too_many_bytes")}
    assert _rows(vigil("list", "--reason", "too_many_bytes"), source) == [
        ["too_many_bytes", "worker", source, "3", "3"]
    ]
