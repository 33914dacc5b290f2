from __future__ import annotations

import json
import logging

import pytest

from vigil.logs import setup_logging
from vigil_app.settings import VigilSettings


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        setup_logging(VigilSettings(log_format="json", log_level="INFO"), "test-component")
        logging.getLogger("vigil.test").info("frame accepted", extra={"camera_id": "cam-1"})
        logging.getLogger("vigil.test").debug("not shown at INFO")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"] == "frame accepted"
    assert record["level"] == "INFO"
    assert record["logger"] == "vigil.test"
    assert record["component"] == "test-component"
    assert record["camera_id"] == "cam-1"
