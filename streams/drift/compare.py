"""A closed window against its reference: one :class:`Stat` per (feature, statistic).

Two families: distribution drift (PSI / JS / KS, alarm after ``consecutive`` drifted windows)
and vision data-quality rules (blackout, lens blur, frozen feed, detection loss; alarm after
``quality_consecutive``, 1 by default, because each is a near-certain fault, not noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from streams.drift import stats
from streams.drift.settings import DriftSettings
from streams.drift.window import NUMERIC, Summary, inferred_frames, median


class Kind(StrEnum):
    DRIFT = "drift"
    QUALITY = "quality"
    INFO = "info"  # reported, never alarms (empty-frame rate, missing stats, late events)


@dataclass(frozen=True)
class Stat:
    feature: str
    statistic: str  # DriftStatistic symbol: PSI, KS, JS, DISTANCE, RATE
    value: float
    threshold: float
    exceeded: bool
    sample_size: int
    kind: Kind = Kind.DRIFT


def threshold(cfg: DriftSettings, feature: str, statistic: str) -> float:
    defaults = {
        "PSI": cfg.psi_threshold,
        "JS": cfg.js_threshold,
        "KS": cfg.ks_threshold,
        "DISTANCE": cfg.embedding_threshold,
    }
    base = feature.split(":", 1)[0]
    for key in (f"{feature}:{statistic}", feature, f"{base}:{statistic}", base):
        if key in cfg.thresholds:
            return cfg.thresholds[key]
    return defaults.get(statistic, 1.0)


def _dist(
    cfg: DriftSettings, feature: str, ref: list[int], cur: list[int], with_ks: bool
) -> list[Stat]:
    n_ref, n_cur = sum(ref), sum(cur)
    if n_ref < cfg.min_samples or n_cur < cfg.min_samples:
        return []
    out = []
    if with_ks:
        ends = stats.quantile_groups(ref)
        ref_c, cur_c = stats.coarsen(ref, ends), stats.coarsen(cur, ends)
    else:
        ref_c, cur_c = ref, cur
    values = {"PSI": stats.psi(ref_c, cur_c), "JS": stats.js_distance(ref_c, cur_c)}
    if with_ks:
        values["KS"] = stats.ks_binned(ref, cur)
    for name, value in values.items():
        limit = threshold(cfg, feature, name)
        out.append(Stat(feature, name, value, limit, value > limit, n_cur))
    return out


def compare(window: Summary, reference: Summary, cfg: DriftSettings) -> list[Stat]:
    """Every statistic of ``window`` against ``reference`` (features without enough data in
    either are skipped, not guessed)."""
    out: list[Stat] = []
    ref_labels, cur_labels = stats.categorical(reference["labels"], window["labels"])
    out += _dist(cfg, "class_mix", ref_labels, cur_labels, with_ks=False)
    out += _dist(cfg, "detections_per_frame", reference["per_frame"], window["per_frame"], False)
    for name in NUMERIC:
        out += _dist(cfg, name, reference["hist"][name], window["hist"][name], with_ks=True)
    for label, counts in sorted(window["conf_by_label"].items()):
        ref = reference["conf_by_label"].get(label)
        if ref is not None:
            out += [
                s
                for s in _dist(cfg, f"confidence:{label}", ref, counts, with_ks=True)
                if s.statistic == "PSI"
            ]
    out += _embedding(window, reference, cfg)
    out += quality(window, reference, cfg)
    return out + info(window)


def _embedding(window: Summary, reference: Summary, cfg: DriftSettings) -> list[Stat]:
    if window["emb_sum"] is None or reference["emb_sum"] is None:
        return []
    if window["emb_n"] < 1 or reference["emb_n"] < 1:
        return []
    dist = stats.cosine_distance(window["emb_sum"], reference["emb_sum"])
    if dist is None:
        return []
    limit = threshold(cfg, "embedding_centroid", "DISTANCE")
    return [Stat("embedding_centroid", "DISTANCE", dist, limit, dist > limit, window["emb_n"])]


def quality(window: Summary, reference: Summary, cfg: DriftSettings) -> list[Stat]:
    out: list[Stat] = []
    frames, with_stats = window["frames"], window["stats_frames"]
    q = Kind.QUALITY
    if with_stats:
        dark = window["dark_frames"] / with_stats
        limit = cfg.blackout_fraction
        out.append(Stat("blackout", "RATE", dark, limit, dark >= limit, with_stats, q))
        cur_sharp = median(window["hist"]["sharpness"], NUMERIC["sharpness"])
        ref_sharp = median(reference["hist"]["sharpness"], NUMERIC["sharpness"])
        if cur_sharp is not None and ref_sharp and with_stats >= min(cfg.min_samples, frames):
            ratio = cur_sharp / ref_sharp
            limit = cfg.blur_ratio
            out.append(Stat("lens_blur", "RATE", ratio, limit, ratio < limit, with_stats, q))
    if window["hash_pairs"]:
        frozen = window["frozen_pairs"] / window["hash_pairs"]
        limit = cfg.frozen_fraction
        out.append(
            Stat("frozen_feed", "RATE", frozen, limit, frozen >= limit, window["hash_pairs"], q)
        )
    inferred, ref_inferred = inferred_frames(window), inferred_frames(reference)
    if inferred and ref_inferred:
        ref_busy = 1 - reference["empty_frames"] / ref_inferred
        cur_busy = 1 - window["empty_frames"] / inferred
        if ref_busy >= cfg.busy_camera:
            ratio = cur_busy / ref_busy
            limit = cfg.detection_loss_ratio
            out.append(Stat("detection_loss", "RATE", ratio, limit, ratio < limit, inferred, q))
    return out


def info(window: Summary) -> list[Stat]:
    """Rates reported for every window, reference or not; they never alarm."""
    frames = window["frames"]
    if not frames:
        return []
    k = Kind.INFO
    rates = {
        "empty_frames": window["empty_frames"] / max(inferred_frames(window), 1),
        "missing_image_stats": window["missing_stats"] / frames,
        "invalid_detections": window["invalid_detections"] / max(window["detections"], 1),
    }
    return [Stat(name, "RATE", value, 1.0, False, frames, k) for name, value in rates.items()]
