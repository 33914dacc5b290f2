"""Pure logic of erasure: the audit log rewrite, pseudonyms in logs, the state forgetting
removed persons."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import SecretStr

from streams.alerting.audit import AuditLog, erase_person
from streams.alerting.camera_state import CameraState, Incident, forget_removed
from streams.alerting.engine import AuditEntry
from vigil.pseudonyms import Pseudonyms
from vigil.watchlist import Watchlist


def _entry(person: str) -> AuditEntry:
    return AuditEntry("cam", "cam-1", 3, person, 0.91, 0.6, "match")


def test_erase_redacts_the_person_only_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.write([_entry("alice"), _entry("bob")], 1000)
    log.write([_entry("alice")], 2000)
    assert erase_person(path, "alice", now_ms=5000) == 2
    entries = [json.loads(x) for x in path.read_text().splitlines()]
    assert [e["person_id"] for e in entries] == ["erased", "bob", "erased"]
    assert [e.get("erased_ts_ms") for e in entries] == [5000, None, 5000]
    assert [e["ts_ms"] for e in entries] == [1000, 1000, 2000]
    assert "alice" not in path.read_text()
    assert erase_person(path, "alice") == 0
    assert erase_person(tmp_path / "missing.jsonl", "alice") == 0
    log.write([_entry("carol")], 3000)  # appends after a rewrite land in the new file
    assert json.loads(path.read_text().splitlines()[-1])["person_id"] == "carol"


def test_pseudonyms_are_keyed_and_stand_in_for_the_poi_id() -> None:
    keyed = Pseudonyms(SecretStr("k" * 32))
    assert keyed("alice") == Pseudonyms(SecretStr("k" * 32))("alice")
    assert keyed("alice") != Pseudonyms(SecretStr("x" * 32))("alice")
    assert keyed("alice") != keyed("bob")
    assert "alice" not in str(keyed("alice"))
    alert = {"alert_id": "a", "poi_id": "alice"}
    assert keyed.alert(alert) == {"alert_id": "a", "poi_id": keyed("alice")}
    assert alert["poi_id"] == "alice"  # the alert itself is not changed
    assert keyed.alert({"poi_id": None}) == {"poi_id": None}


def test_state_forgets_persons_removed_from_the_watchlist() -> None:
    wl = Watchlist()
    wl.apply("bob", {"embeddings": [[1.0, 0.0]], "embedding_model": "m"})
    state = CameraState()
    state.votes = {"1": ["alice", None, "bob"], "2": ["alice"]}
    state.incidents = {
        "poi|palice": Incident("i1", "poi", 0, 0, 1000, True),
        "poi|pbob": Incident("i2", "poi", 0, 0, 1000, True),
        "zone-rule|t4": Incident("i3", "zone-rule", 0, 0, 1000, True),
    }
    assert forget_removed(state, wl) == 3
    assert state.votes == {"1": [None, None, "bob"], "2": [None]}
    assert sorted(state.incidents) == ["poi|pbob", "zone-rule|t4"]
    assert "alice" not in state.dumps().decode()
