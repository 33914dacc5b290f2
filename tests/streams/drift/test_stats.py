"""The distances, checked against values worked out by hand and against scipy's exact KS."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streams.drift import stats
from streams.drift.window import NUMERIC


def test_psi_of_identical_distributions_is_zero_and_matches_the_formula() -> None:
    assert stats.psi([10, 20, 30], [10, 20, 30]) == pytest.approx(0.0)
    # smoothing adds half a count to every bin: p = (50.5, 50.5)/101, q = (90.5, 10.5)/101
    p, q = np.array([50.5, 50.5]) / 101, np.array([90.5, 10.5]) / 101
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert stats.psi([50, 50], [90, 10]) == pytest.approx(expected)
    assert expected > 0.2


def test_js_distance_is_bounded_and_symmetric() -> None:
    assert stats.js_distance([5, 5], [5, 5]) == pytest.approx(0.0)
    far = stats.js_distance([1000, 0], [0, 1000])
    assert 0.99 < far <= 1.0
    assert stats.js_distance([3, 7, 1], [8, 1, 2]) == pytest.approx(
        stats.js_distance([8, 1, 2], [3, 7, 1])
    )


def test_binned_ks_is_within_its_error_bound_of_the_exact_statistic() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(7)
    bins = NUMERIC["brightness"]
    for shift in (0.0, 0.03, 0.2):
        a = np.clip(rng.normal(0.5, 0.1, 2000), 0, 1)
        b = np.clip(rng.normal(0.5 + shift, 0.1, 500), 0, 1)
        ha, hb = [0] * bins.n, [0] * bins.n
        for v in a:
            ha[bins.index(float(v))] += 1
        for v in b:
            hb[bins.index(float(v))] += 1
        exact = scipy_stats.ks_2samp(a, b).statistic
        binned = stats.ks_binned(ha, hb)
        assert abs(binned - exact) <= stats.ks_error_bound(ha, hb) + 1e-12
        assert binned <= exact + 1e-12  # binning can only hide a gap, never invent one


def test_quantile_groups_hold_equal_reference_mass() -> None:
    ref = [0] * 20 + [10] * 40 + [0] * 4
    ends = stats.quantile_groups(ref, 10)
    coarse = stats.coarsen(ref, ends)
    assert sum(coarse) == sum(ref)
    assert len(coarse) == 10
    assert all(c == 40 for c in coarse)


def test_rare_labels_pool_into_other_so_one_stray_label_is_not_drift() -> None:
    ref = {"person": 500, "car": 490, "kite": 2}
    cur = {"person": 50, "car": 48, "toaster": 1}
    r, c = stats.categorical(ref, cur)
    assert r == [490, 500, 2]
    assert c == [48, 50, 1]
    assert stats.psi(r, c) < 0.05


def test_cosine_distance() -> None:
    assert stats.cosine_distance([1, 0], [1, 0]) == pytest.approx(0.0)
    assert stats.cosine_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert stats.cosine_distance([0, 0], [1, 0]) is None
    assert math.isclose(stats.cosine_distance([1, 1], [1, 0]) or 0, 1 - 1 / math.sqrt(2))
