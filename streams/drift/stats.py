"""Distances between a window's distribution and its reference, from counts alone.

- PSI (population stability index) over ~10 bins holding equal reference mass (the usual
  decile binning; fine bins are merged so the window and the reference share bin edges).
- Jensen-Shannon distance (base 2, so in [0, 1]) over the same bins.
- Two-sample KS from the fine histograms (the mergeable sketch): the largest gap between the
  two binned CDFs. Binning can only hide a gap inside one bin, so the true D lies within
  ``ks_error_bound`` (the largest single-bin probability mass of either side) of this value.
- Cosine distance between embedding centroids.
Empty bins are smoothed with half a count so PSI stays finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

SMOOTHING = 0.5


def quantile_groups(reference: Sequence[int], groups: int = 10) -> list[int]:
    """Fine-bin indices where each coarse bin ends, so each holds ~1/groups of the reference."""
    ref = np.asarray(reference, dtype=np.float64)
    total = ref.sum()
    if total <= 0:
        return [len(ref)]
    cum = np.cumsum(ref) / total
    ends: list[int] = []
    target = 1.0 / groups
    for i, c in enumerate(cum):
        if c >= 1.0 - 1e-12:
            break  # trailing empty bins join the last group
        if c >= target - 1e-12:
            ends.append(i + 1)
            target = (math.floor(c * groups + 1e-9) + 1) / groups
    ends.append(len(ref))
    return sorted(set(ends))


def coarsen(counts: Sequence[int], ends: Sequence[int]) -> list[int]:
    out, start = [], 0
    for end in ends:
        out.append(int(sum(counts[start:end])))
        start = end
    return out


def _proportions(counts: Sequence[float]) -> npt.NDArray[np.float64]:
    arr = np.asarray(counts, dtype=np.float64) + SMOOTHING
    return np.asarray(arr / arr.sum(), dtype=np.float64)


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    p, q = _proportions(reference), _proportions(current)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(reference: Sequence[float], current: Sequence[float]) -> float:
    """sqrt of the Jensen-Shannon divergence in bits: a metric, 0 for equal, 1 for disjoint."""
    p, q = _proportions(reference), _proportions(current)
    m = (p + q) / 2
    divergence = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    return float(np.sqrt(max(float(divergence), 0.0)))


def ks_binned(reference: Sequence[int], current: Sequence[int]) -> float:
    ref, cur = np.asarray(reference, np.float64), np.asarray(current, np.float64)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return 0.0
    return float(np.max(np.abs(np.cumsum(ref) / ref.sum() - np.cumsum(cur) / cur.sum())))


def ks_error_bound(reference: Sequence[int], current: Sequence[int]) -> float:
    """How far the binned D can be from the exact two-sample D of the raw values."""
    ref, cur = np.asarray(reference, np.float64), np.asarray(current, np.float64)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return 0.0
    return float(max((ref / ref.sum()).max(), (cur / cur.sum()).max()))


def categorical(
    reference: Mapping[str, int], current: Mapping[str, int], min_share: float = 0.01
) -> tuple[list[int], list[int]]:
    """Aligned count vectors; categories under ``min_share`` of the reference (including ones
    the reference never saw) pool into one "other" category, so one stray label in a window
    is not drift but a new label that takes a real share is."""
    ref_total = max(sum(reference.values()), 1)
    keys = sorted(set(reference) | set(current))
    major = [k for k in keys if reference.get(k, 0) / ref_total >= min_share]
    minor = [k for k in keys if k not in major]
    ref = [reference.get(k, 0) for k in major] + [sum(reference.get(k, 0) for k in minor)]
    cur = [current.get(k, 0) for k in major] + [sum(current.get(k, 0) for k in minor)]
    return ref, cur


def cosine_distance(a: Sequence[float], b: Sequence[float]) -> float | None:
    va, vb = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
    if na == 0 or nb == 0 or va.shape != vb.shape:
        return None
    return float(1.0 - np.dot(va, vb) / (na * nb))
