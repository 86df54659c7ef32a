import math

import pytest
import torch

from depthforge.evaluate.metrics import (
    METRIC_NAMES,
    batch_metrics,
    image_metrics,
    mean_metrics,
    metric_units,
    outliers,
)

PRED = [1.0, 1.07, 1.12, 1.18, 1.22, 1.5, 1.9, 2.5]


def test_every_metric_against_hand_computed_values():
    # Ground truth 1 everywhere, so each ratio is the prediction itself.
    m = image_metrics(torch.tensor(PRED), torch.ones(8))
    assert m["abs_rel"] == pytest.approx(3.49 / 8)
    assert m["mae"] == pytest.approx(3.49 / 8)
    assert m["sq_rel"] == pytest.approx(3.4101 / 8)
    assert m["rmse"] == pytest.approx(math.sqrt(3.4101 / 8))
    assert m["rmse_log"] == pytest.approx(math.sqrt(sum(math.log(p) ** 2 for p in PRED) / 8))
    assert m["log10"] == pytest.approx(sum(math.log10(p) for p in PRED) / 8)
    assert m["delta<1.05"] == 1 / 8
    assert m["delta<1.10"] == 2 / 8
    assert m["delta<1.15"] == 3 / 8
    assert m["delta<1.20"] == 4 / 8
    assert m["delta<1.25"] == 5 / 8
    assert m["delta<1.25^2"] == 6 / 8
    assert m["delta<1.25^3"] == 7 / 8
    assert m["dee"] == pytest.approx((3.49 / 8 - 5 / 8 + 1) / 2)
    assert set(m) == set(METRIC_NAMES)


def test_ratio_is_symmetric_and_relative_errors_use_ground_truth():
    m = image_metrics(torch.tensor([1.0, 4.0]), torch.tensor([2.0, 2.0]))
    assert m["abs_rel"] == pytest.approx(0.75)  # (1/2 + 2/2) / 2
    assert m["delta<1.25^3"] == 0.0  # ratios 2 and 2


def test_mask_and_invalid_ground_truth_are_excluded():
    pred = torch.tensor([1.0, 5.0, 1.0, 1.0])
    gt = torch.tensor([1.0, 1.0, 0.0, torch.nan])
    masked = image_metrics(pred, gt, torch.tensor([True, False, True, True]))
    assert masked["abs_rel"] == 0.0
    assert image_metrics(pred, gt)["abs_rel"] == pytest.approx(2.0)


def test_empty_mask_gives_nan_and_is_skipped_when_averaging():
    rows = batch_metrics(torch.ones(2, 3), torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))
    assert math.isnan(rows[1]["rmse"])
    mean = mean_metrics([*rows, image_metrics(torch.full((3,), 2.0), torch.ones(3))])
    assert mean["count"] == 2 and mean["abs_rel"] == pytest.approx(0.5)


def test_non_positive_prediction_is_refused():
    with pytest.raises(ValueError, match="non-positive"):
        image_metrics(torch.tensor([0.0, 1.0]), torch.ones(2))


def test_units_are_explicit():
    units = metric_units("mm")
    assert units["rmse"] == "mm" and units["mae"] == "mm" and units["abs_rel"] == "ratio"
    assert units["delta<1.25"] == "fraction"


def test_outliers_are_images_far_above_the_median_of_the_others_of_their_condition():
    def row(condition, image, abs_rel, category="all"):
        ids = {
            "model": "m",
            "alignment": "lstsq-inverse",
            "id": f"{condition}/{image}",
            "condition": condition,
        }
        return {**ids, "category": category, "abs_rel": abs_rel}

    rows = [
        *(row("night", name, value) for name, value in (("a", 0.1), ("b", 0.12), ("c", 1902.0))),
        *(row("fog", name, value) for name, value in (("a", 0.1), ("b", 5.0))),  # two images are enough
        *(row("day", name, value) for name, value in (("a", 0.1), ("b", 0.9))),  # 9x: not an outlier
        row("snow", "a", 7.0),  # alone: nothing to compare with
        row("night", "a", 99.0, category="tom"),  # only whole images count
        row("night", "d", math.nan),  # no valid pixel
    ]
    found = outliers(rows)
    assert [(o["id"], o["condition"]) for o in found] == [("night/c", "night"), ("fog/b", "fog")]
    assert found[0]["median_of_others"] == pytest.approx(0.11) and found[0]["abs_rel"] == 1902.0
