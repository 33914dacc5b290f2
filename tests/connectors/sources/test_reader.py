"""Sampling, resizing and backoff (pure logic)."""

from __future__ import annotations

import random

import pytest

from connectors.sources.camera import backoff_delay
from connectors.sources.config import CameraConfig
from connectors.sources.reader import Sampler, fit_size


def test_sampler_by_stream_time_25_to_5_fps() -> None:
    sampler = Sampler.for_fps(5)
    kept = [i for i in range(250) if sampler.due(i * 40.0)]
    assert kept == list(range(0, 250, 5))


def test_sampler_does_not_burst_after_a_stall() -> None:
    sampler = Sampler.for_fps(10)
    assert sampler.due(0)
    assert sampler.due(5000)  # a 5 s gap yields one frame, not fifty
    assert not sampler.due(5050)
    assert sampler.due(5100)


@pytest.mark.parametrize(
    ("size", "limits", "expected"),
    [
        ((640, 272), (320, 320), (320, 136)),
        ((1920, 1080), (1280, 720), (1280, 720)),
        ((1080, 1920), (1280, 720), (405, 720)),
        ((320, 240), (1280, 720), (320, 240)),  # never upscaled
    ],
)
def test_fit_size_keeps_aspect(
    size: tuple[int, int], limits: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert fit_size(*size, *limits) == expected


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    cfg = CameraConfig(id="c", url="rtsp://x", backoff={"initial_s": 1, "max_s": 8})
    rng = random.Random(1)
    for attempt, ceiling in [(0, 1), (1, 2), (2, 4), (3, 8), (10, 8), (1000, 8)]:
        delays = [backoff_delay(cfg, attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
