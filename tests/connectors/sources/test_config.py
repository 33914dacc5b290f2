"""The cameras file: typos are errors naming the key; defaults follow the source kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sources.config import DropPolicy, SourceKind, load_cameras
from vigil_app.settings import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cameras.yaml"
    path.write_text(text)
    return path


def test_kinds_and_default_drop_policies(tmp_path: Path) -> None:
    cams = load_cameras(
        write(
            tmp_path,
            """
cameras:
  - {id: door, url: "rtsp://10.0.0.5:554/main"}
  - {id: clip, path: /videos/a.mp4, loop: true}
  - {id: usb, device: 0}
  - {id: mjpeg, url: "http://cam/video.mjpg", drop_policy: wait}
""",
        )
    )
    assert cams["door"].source_kind is SourceKind.RTSP
    assert cams["door"].policy is DropPolicy.DROP_OLDEST
    assert cams["clip"].source_kind is SourceKind.FILE
    assert cams["clip"].policy is DropPolicy.WAIT
    assert cams["usb"].source_kind is SourceKind.DEVICE
    assert cams["usb"].source_kind.avro_symbol == "CAMERA"
    assert cams["mjpeg"].policy is DropPolicy.WAIT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cameras:\n  - {id: a, url: rtsp://x, fsp: 5}\n", "cameras.0.fsp: unknown key"),
        ("cameras:\n  - {id: a}\n", "exactly one of url, path, device"),
        ("cameras:\n  - {id: a, url: x, path: y}\n", "exactly one of url, path, device"),
        ("cameras:\n  - {id: a, url: x}\n  - {id: a, url: y}\n", "duplicate camera ids"),
        ("cameras:\n  - {id: a, url: x, drop_policy: sometimes}\n", "drop_policy"),
        ("cameras: [\n", "not valid YAML"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_cameras(write(tmp_path, text))
