"""The model store on the real broker: a model is checked, copied and checksummed, announced
once; a bad spec names its field, a file that is not a model is refused, and a registered
version never changes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from gpu_workers.models.loader import load_model
from gpu_workers.models.store import RegistrationError, register_model, spec_path_of
from vigil import kafka
from vigil.registry import read_registry
from vigil.testing.models import derived_model, zoo_spec
from vigil.topics import ensure_topics, topic_specs
from vigil_app.settings import VigilSettings


@pytest.fixture
def ready(settings: VigilSettings) -> VigilSettings:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    return settings


def test_register_copies_checksums_and_announces_once(ready: VigilSettings, tmp_path: Path) -> None:
    spec = derived_model(
        zoo_spec(ready.cache_dir), tmp_path / "mine", version="7", score_threshold=0.45
    )
    record, new = register_model(ready, spec, reason="a test")
    assert new
    stored = spec_path_of(record)
    assert stored == ready.data_dir / "models" / "ssd_mobilenet_v2_coco" / "7" / "spec.yaml"
    digest = hashlib.sha256((stored.parent / "model.onnx").read_bytes()).hexdigest()
    assert (
        record["sha256"]
        == digest
        == hashlib.sha256((tmp_path / "mine" / "model.onnx").read_bytes()).hexdigest()
    )
    assert record["model_version"] == f"7+{digest[:12]}"
    assert record["size_bytes"] == (stored.parent / "model.onnx").stat().st_size
    assert (record["action"], record["family"], record["reason"]) == ("REGISTER", "ssd", "a test")
    # the stored copy is a model of its own: it loads, with the spec's new threshold
    adapter = load_model(stored, ready.cache_dir, threads=1, max_batch=1)
    assert adapter.spec.score_threshold == 0.45
    assert adapter.identity.event_version == record["model_version"]
    assert read_registry(ready).model("ssd_mobilenet_v2_coco", "7") == record

    again, new = register_model(ready, spec)  # the same file again: a no-op
    assert not new
    assert again == record
    other = derived_model(
        zoo_spec(ready.cache_dir), tmp_path / "other", version="7", mark="another file"
    )
    with pytest.raises(RegistrationError, match="version: already registered with another file"):
        register_model(ready, other)
    assert hashlib.sha256((stored.parent / "model.onnx").read_bytes()).hexdigest() == digest


def test_a_bad_model_is_refused_with_the_field_named(ready: VigilSettings, tmp_path: Path) -> None:
    spec = derived_model(zoo_spec(ready.cache_dir), tmp_path / "m", version="8")
    raw = yaml.safe_load(spec.read_text())

    def write(folder: str, **changes: object) -> Path:
        out = tmp_path / folder
        out.mkdir()
        shutil.copyfile(tmp_path / "m" / "model.onnx", out / "model.onnx")
        (out / "spec.yaml").write_text(yaml.safe_dump({**raw, **changes}))
        return out / "spec.yaml"

    with pytest.raises(RegistrationError, match="score_threshold"):
        register_model(ready, write("threshold", score_threshold=1.5))
    with pytest.raises(RegistrationError, match="colour_ordr"):
        register_model(ready, write("typo", colour_ordr="rgb"))
    with pytest.raises(RegistrationError, match=r"file: .*missing\.onnx does not exist"):
        register_model(ready, write("missing", file="missing.onnx"))
    with pytest.raises(RegistrationError, match="layout"):
        register_model(ready, write("layout", layout="nchw"))
    garbage = write("garbage")
    garbage.with_name("model.onnx").write_bytes(b"not a model at all")
    with pytest.raises(RegistrationError, match="does not run as a ssd model"):
        register_model(ready, garbage)
    assert read_registry(ready).models == {}
    assert not (ready.data_dir / "models").exists()
