import numpy as np
import pytest
import torch

from depthforge.depth.alignment import Alignment, align_to_depth
from depthforge.depth.spaces import DepthSpace
from depthforge.evaluate.protocols import DEFAULT_METRIC_ALIGNMENTS, PROTOCOLS, align_tom, garg_crop
from depthforge.evaluate.readers import Sample


def sample(depth, valid=None, **extra):
    depth = np.asarray(depth, np.float32)
    valid = np.ones(depth.shape, bool) if valid is None else valid
    return Sample("x", "all", np.zeros((*depth.shape, 3), np.uint8), depth, valid, **extra)


def test_every_required_protocol_is_named():
    assert {
        "md4all-nuscenes",
        "md4all-robotcar",
        "depth4tom-booster",
        "depth4tom-cleargrasp",
        "kitti-eigen",
        "generic",
    } <= PROTOCOLS.keys()


def test_range_caps_exclude_exactly_the_out_of_range_pixels():
    protocol = PROTOCOLS["md4all-nuscenes"]
    gt = sample([[0.05, 0.1, 0.5, 79.9, 80.0, 100.0]])
    assert protocol.evaluated(gt).tolist() == [[False, False, True, True, False, False]]
    assert PROTOCOLS["md4all-robotcar"].evaluated(sample([[49.0, 50.0]])).tolist() == [[True, False]]


def test_inverse_and_depth_space_alignment_give_the_hand_computed_results():
    gt = sample([[1.0, 2.0, 4.0]])
    pred = (2.0 / gt.depth + 1.0).astype(np.float32)  # relative inverse depth [3, 2, 1.5]
    protocol = PROTOCOLS["md4all-nuscenes"]
    inverse = protocol.aligned_depth(
        pred, DepthSpace.RELATIVE_INVERSE_DEPTH, gt, protocol.evaluated(gt), Alignment.LSTSQ_INVERSE
    )
    np.testing.assert_allclose(inverse, [[1.0, 2.0, 4.0]], rtol=1e-5)
    # In depth space: 1/pred = [1/3, 1/2, 2/3], least squares onto [1, 2, 4] -> s = 9, t = -13/6.
    depth = align_to_depth(
        torch.from_numpy(pred),
        DepthSpace.RELATIVE_INVERSE_DEPTH,
        torch.from_numpy(gt.depth),
        torch.ones(1, 3, dtype=torch.bool),
        Alignment.LSTSQ_DEPTH,
        (0.1, 80),
    )
    np.testing.assert_allclose(depth.numpy(), [[5 / 6, 7 / 3, 23 / 6]], rtol=1e-5)
    scores = protocol.score(pred, DepthSpace.RELATIVE_INVERSE_DEPTH, gt, Alignment.LSTSQ_INVERSE)
    assert scores["all"]["abs_rel"] == pytest.approx(0.0, abs=1e-6)


def test_tom_alignment_is_min_max_then_least_squares_in_disparity():
    gt = torch.tensor([[500.0, 800.0, 1200.0, 3000.0]])
    pred = torch.tensor([[0.9, 0.5, 0.45, 0.1]])
    mask = torch.ones_like(gt, dtype=torch.bool)
    depth = align_tom(pred, gt, mask, 80_000.0, (1.0, 10_000.0))
    # Affine invariance: min-max then a fit to disparity equals a fit to inverse depth.
    expected = align_to_depth(
        pred, DepthSpace.RELATIVE_INVERSE_DEPTH, gt, mask, Alignment.LSTSQ_INVERSE, (1.0, 10_000.0)
    )
    torch.testing.assert_close(depth, expected, rtol=1e-5, atol=1e-3)
    perfect = align_tom(80_000.0 / gt * 3 + 7, gt, mask, 80_000.0, (1.0, 10_000.0))
    torch.testing.assert_close(perfect, gt, rtol=1e-5, atol=1e-3)


def test_booster_scores_per_category_in_millimetres():
    protocol = PROTOCOLS["depth4tom-booster"]
    depth = np.full((4, 4), 800.0, np.float32)
    tom = np.zeros((4, 4), bool)
    tom[:2] = True
    gt = sample(depth, categories={"tom": tom, "other": ~tom}, baseline_x_focal=80_000.0)
    pred = np.full((4, 4), 0.5, np.float32)
    pred[:2] = 0.4  # ToM half predicted farther: errors only there
    scores = protocol.score(pred, DepthSpace.RELATIVE_INVERSE_DEPTH, gt, Alignment.LSTSQ_INVERSE)
    assert set(scores) == {"all", "tom", "other"}
    assert (
        scores["other"]["mae"] < scores["tom"]["mae"] or scores["tom"]["mae"] == scores["other"]["mae"] == 0
    )


def test_garg_crop_bounds_on_a_kitti_frame():
    mask = garg_crop((375, 1242))
    rows, cols = np.where(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (153, 370, 44, 1196)


def test_metric_models_are_scored_as_they_are_and_aligned_relative_models_by_the_protocol():
    protocol = PROTOCOLS["md4all-nuscenes"]
    gt = sample([[2.0, 4.0, 8.0]])
    pred = np.array([[1.0, 2.0, 4.0]], np.float32)
    assert protocol.alignments_for(DepthSpace.METRIC_DEPTH, DEFAULT_METRIC_ALIGNMENTS) == (
        Alignment.LSTSQ_INVERSE,
        Alignment.NONE,
    )
    assert protocol.alignments_for(DepthSpace.RELATIVE_INVERSE_DEPTH, (Alignment.MEDIAN,)) == (
        Alignment.LSTSQ_INVERSE,
    )
    plain = protocol.score(pred, DepthSpace.METRIC_DEPTH, gt, Alignment.NONE)["all"]
    assert plain["abs_rel"] == pytest.approx(0.5)
    for alignment in (Alignment.MEDIAN, Alignment.LSTSQ_INVERSE):
        aligned = protocol.score(pred, DepthSpace.METRIC_DEPTH, gt, alignment)["all"]
        assert aligned["abs_rel"] == pytest.approx(0.0, abs=1e-6)


def test_metric_predictions_in_metres_meet_millimetre_ground_truth():
    gt = sample(np.full((2, 2), 2000.0), baseline_x_focal=1.0, unit="mm")
    scores = PROTOCOLS["depth4tom-booster"].score(
        np.full((2, 2), 2.0, np.float32), DepthSpace.METRIC_DEPTH, gt, Alignment.NONE
    )
    assert scores["all"]["abs_rel"] == pytest.approx(0.0)


def test_a_pixel_without_predicted_depth_is_an_error_not_a_crash():
    gt = sample([[2.0, 4.0, 8.0]])
    pred = np.array([[2.0, 0.0, np.nan]], np.float32)
    scores = PROTOCOLS["md4all-nuscenes"].score(pred, DepthSpace.METRIC_DEPTH, gt, Alignment.NONE)["all"]
    assert scores["abs_rel"] == pytest.approx((0 + 76 / 4 + 72 / 8) / 3)  # both count as 80 m


def depth4tom_depth(pred, gt_depth, baseline_x_focal, low=1.0, high=10_000.0):
    """Depth4ToM's evaluate_mono.py, restated: min-max normalise the prediction on the valid pixels,
    least-squares fit it to the ground-truth disparity there, depth = bf / disparity, inf -> far
    limit, then clip to the range (so a negative disparity lands on the near limit)."""
    valid = (gt_depth > low) & (gt_depth < high)
    gt_disparity = baseline_x_focal / gt_depth[valid]
    normalised = (pred - pred[valid].min()) / (pred[valid].max() - pred[valid].min())
    design = np.stack([normalised[valid], np.ones(valid.sum())], axis=1)
    scale, shift = np.linalg.lstsq(design, gt_disparity, rcond=None)[0]
    with np.errstate(divide="ignore"):
        depth = baseline_x_focal / (scale * normalised.astype(np.float64) + shift)
    depth[np.isinf(depth)] = high
    return np.clip(depth, low, high)


def test_a_see_through_glass_is_scored_by_depth4toms_rule():
    # A network that compresses near disparities sees the far wall (20 m) through a glass pane at
    # 4 m: the fit gives the pane a negative disparity, which Depth4ToM puts at 1 mm, not 10 m.
    bf = 80_000.0
    depth = np.tile(np.linspace(200.0, 9000.0, 16, dtype=np.float32), (12, 1))
    tom = np.zeros(depth.shape, bool)
    tom[3:9, 4:12] = True
    depth[tom] = 4000.0
    pred = ((bf / depth) ** (1 / 3)).astype(np.float32)
    pred[tom] = (bf / 20_000.0) ** (1 / 3)
    gt = sample(depth, categories={"tom": tom, "other": ~tom}, baseline_x_focal=bf, unit="mm")
    scores = PROTOCOLS["depth4tom-booster"].score(
        pred, DepthSpace.RELATIVE_INVERSE_DEPTH, gt, Alignment.LSTSQ_INVERSE
    )
    reference = depth4tom_depth(pred, depth, bf)
    assert reference[tom].max() == 1.0  # the pane is on the near limit
    for name, mask in {"all": np.ones(depth.shape, bool), "tom": tom}.items():
        expected = np.abs(reference[mask] - depth[mask]).mean()
        assert scores[name]["mae"] == pytest.approx(expected, abs=1e-3)


def test_md4all_condition_groups_follow_its_substring_rule():
    nuscenes, robotcar = PROTOCOLS["md4all-nuscenes"], PROTOCOLS["md4all-robotcar"]
    conditions = ("day-clear", "day-rain", "night-clear", "night-rain")
    assert [nuscenes.condition_group(c) for c in conditions] == ["day-clear", "day-rain", "night", "night"]
    assert [robotcar.condition_group(c) for c in ("day-clear", "night-clear")] == ["day", "night"]
    assert PROTOCOLS["generic"].condition_group("night-clear") == "night-clear"
