"""Depth metrics, per image and aggregated, computed in float64 on masked metric depth.

Definitions, with ``p`` the prediction, ``g`` the ground truth and means over the valid pixels:
- ``abs_rel`` = mean |p - g| / g;          ``sq_rel`` = mean (p - g)^2 / g  (unit of depth)
- ``rmse`` = sqrt mean (p - g)^2 (unit);   ``rmse_log`` = sqrt mean (ln p - ln g)^2
- ``log10`` = mean |log10 p - log10 g|;    ``mae`` = mean |p - g| (unit)
- ``delta<T`` = share of pixels with max(p / g, g / p) < T, as a fraction in [0, 1], for
  T in 1.25, 1.25^2, 1.25^3 (the usual delta1-3) and 1.05, 1.10, 1.15, 1.20 (the ToM protocol)
- ``dee`` = (abs_rel - delta<1.25 + 1) / 2 (RoboDepth's depth estimation error)

One image can dominate a per-image mean; ``outliers`` names such images.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

DELTA_THRESHOLDS: dict[str, float] = {
    "delta<1.25": 1.25,
    "delta<1.25^2": 1.25**2,
    "delta<1.25^3": 1.25**3,
    "delta<1.05": 1.05,
    "delta<1.10": 1.10,
    "delta<1.15": 1.15,
    "delta<1.20": 1.20,
}
LOWER_IS_BETTER = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "mae", "dee")
METRIC_NAMES = (*LOWER_IS_BETTER[:-1], *DELTA_THRESHOLDS, "dee")


def metric_units(depth_unit: str) -> dict[str, str]:
    """The unit of each metric when depth is measured in ``depth_unit`` (e.g. ``m`` or ``mm``)."""
    units = {
        "abs_rel": "ratio",
        "sq_rel": depth_unit,
        "rmse": depth_unit,
        "rmse_log": "ln",
        "log10": "log10",
        "mae": depth_unit,
        "dee": "score",
    }
    return {name: units.get(name, "fraction") for name in METRIC_NAMES}


def image_metrics(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, float]:
    """All metrics for one image; NaN for every metric when no pixel is valid.

    ``mask`` defaults to the pixels with finite, positive ground truth. The prediction must be
    positive and finite on the mask (clamp it to the valid range first): anything else raises.
    """
    gt = gt.double()
    pred = pred.double()
    valid = torch.isfinite(gt) & (gt > 0)
    valid = valid if mask is None else valid & mask.bool()
    if not valid.any():
        return dict.fromkeys(METRIC_NAMES, math.nan)
    p, g = pred[valid], gt[valid]
    bad = ~(torch.isfinite(p) & (p > 0))
    if bad.any():
        raise ValueError(f"prediction has {int(bad.sum())} non-positive or non-finite values on valid pixels")
    diff = p - g
    ratio = torch.maximum(p / g, g / p)
    values = {
        "abs_rel": (diff.abs() / g).mean(),
        "sq_rel": (diff.square() / g).mean(),
        "rmse": diff.square().mean().sqrt(),
        "rmse_log": (p.log() - g.log()).square().mean().sqrt(),
        "log10": (p.log10() - g.log10()).abs().mean(),
        "mae": diff.abs().mean(),
        **{name: (ratio < threshold).double().mean() for name, threshold in DELTA_THRESHOLDS.items()},
    }
    result = {name: float(values[name]) for name in METRIC_NAMES if name != "dee"}
    result["dee"] = (result["abs_rel"] - result["delta<1.25"] + 1) / 2
    return result


def batch_metrics(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None
) -> list[dict[str, float]]:
    """:func:`image_metrics` for each image of a batch ``[B, H, W]``."""
    masks = [None] * len(pred) if mask is None else list(mask)
    return [image_metrics(p, g, m) for p, g, m in zip(pred, gt, masks, strict=True)]


def mean_metrics(per_image: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Average per image (the driving and ToM protocols' convention), skipping images without valid pixels.

    ``count`` is the number of images averaged.
    """
    rows = [row for row in per_image if not math.isnan(row["abs_rel"])]
    result = {
        name: math.fsum(row[name] for row in rows) / len(rows) if rows else math.nan for name in METRIC_NAMES
    }
    result["count"] = len(rows)
    return result


OUTLIER_FACTOR = 10.0
OUTLIER_RULE = (
    f"AbsRel over {OUTLIER_FACTOR:g}x the median of the other images of its model, alignment and condition"
)


def outliers(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The per-image rows (all pixels) that break ``OUTLIER_RULE``, worst first, each with the median
    it was compared with; a condition of one image has none."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["category"] == "all" and not math.isnan(row["abs_rel"]):
            groups[(row["model"], row["alignment"], row["condition"])].append(row)
    found = []
    for group in (group for group in groups.values() if len(group) > 1):
        values = np.array([row["abs_rel"] for row in group])
        for index, row in enumerate(group):
            median = float(np.median(np.delete(values, index)))
            if row["abs_rel"] > OUTLIER_FACTOR * median:
                keys = ("model", "alignment", "id", "condition", "abs_rel")
                found.append({**{key: row[key] for key in keys}, "median_of_others": median})
    return sorted(found, key=lambda outlier: -outlier["abs_rel"])
