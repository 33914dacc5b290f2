"""Prometheus histograms as the benches read them: a process's ``/metrics`` text (or this
process's registry) parsed into per-label bucket lists, the difference of two readings (what
one phase of a run added), and ``histogram_quantile`` as Prometheus computes it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]  # a series' labels less ``le``, sorted


@dataclass
class Histogram:
    """One series of a histogram: cumulative bucket counts by upper bound, sum and count."""

    buckets: dict[float, float] = field(default_factory=dict)
    sum: float = 0.0
    count: float = 0.0

    def minus(self, earlier: Histogram) -> Histogram:
        return Histogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.sum - earlier.sum,
            self.count - earlier.count,
        )

    def quantile(self, q: float) -> float | None:
        """Linear within the bucket, as ``histogram_quantile``; None when empty."""
        ordered = sorted(self.buckets.items())
        if not ordered or ordered[-1][1] <= 0:
            return None
        rank = q * ordered[-1][1]
        low, below = 0.0, 0.0
        for bound, count in ordered:
            if count >= rank:
                if math.isinf(bound):
                    return low
                return low + (bound - low) * (rank - below) / max(count - below, 1e-12)
            low, below = bound, count
        return low

    def summary_ms(self) -> dict[str, float | int | None]:
        """Observations, mean and p50/p99 in ms (None when nothing was observed)."""

        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(1000 * seconds, 2)

        n = int(self.count)
        return {
            "n": n,
            "mean_ms": ms(self.sum / n) if n else None,
            "p50_ms": ms(self.quantile(0.5)),
            "p99_ms": ms(self.quantile(0.99)),
        }


def histograms(families: Iterable[Metric], name: str) -> dict[Labels, Histogram]:
    """The series of histogram ``name`` among ``families``, by their labels (less ``le``)."""
    out: dict[Labels, Histogram] = {}
    for family in families:
        if family.name != name:
            continue
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            h = out.setdefault(labels, Histogram())
            if s.name.endswith("_bucket"):
                h.buckets[float(s.labels["le"])] = s.value
            elif s.name.endswith("_sum"):
                h.sum = s.value
            elif s.name.endswith("_count"):
                h.count = s.value
    return out


def scrape(url: str, name: str) -> dict[Labels, Histogram]:
    """Histogram ``name`` of the process serving ``/metrics`` at ``url``."""
    text = httpx.get(url, timeout=10).text
    return histograms(text_string_to_metric_families(text), name)


def local(name: str) -> dict[Labels, Histogram]:
    """Histogram ``name`` of this process's registry."""
    return histograms(REGISTRY.collect(), name)


def added(
    after: dict[Labels, Histogram], before: dict[Labels, Histogram]
) -> dict[Labels, Histogram]:
    """What was observed between two readings, per series."""
    return {k: h.minus(before.get(k, Histogram())) for k, h in after.items()}
