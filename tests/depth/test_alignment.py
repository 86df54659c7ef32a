import math

import pytest
import torch

from depthforge.depth.alignment import (
    Alignment,
    align_least_squares,
    align_to_depth,
    fit_scale_shift,
    masked_median,
    median_scale,
    normalize_min_max,
)
from depthforge.depth.spaces import DepthSpace


def test_fit_recovers_known_scale_and_shift_per_image():
    target = torch.rand(3, 8, 9) * 10 + 1
    scales, shifts = torch.tensor([0.5, 2.0, 1e-4]), torch.tensor([-3.0, 0.25, 7.0])
    pred = (target - shifts.view(-1, 1, 1)) / scales.view(-1, 1, 1)
    scale, shift = fit_scale_shift(pred, target, torch.ones_like(target, dtype=torch.bool))
    assert torch.allclose(scale, scales.double(), rtol=1e-5)
    assert torch.allclose(shift, shifts.double(), rtol=1e-5, atol=1e-5)


def test_fit_ignores_masked_pixels():
    target = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    pred = torch.tensor([[0.0, 1.0, 2.0, -50.0]])
    mask = torch.tensor([[True, True, True, False]])
    scale, shift = fit_scale_shift(pred, target, mask)
    assert scale.item() == pytest.approx(1.0) and shift.item() == pytest.approx(1.0)


def test_constant_prediction_and_empty_mask():
    scale, shift = fit_scale_shift(
        torch.full((1, 5), 0.7), torch.arange(5.0)[None], torch.ones(1, 5, dtype=torch.bool)
    )
    assert scale.item() == 0.0 and shift.item() == pytest.approx(2.0)
    scale, _ = fit_scale_shift(torch.rand(1, 5), torch.rand(1, 5), torch.zeros(1, 5, dtype=torch.bool))
    assert math.isnan(scale.item())


def test_tiny_variance_prediction_still_gets_its_scale():
    # Randomly initialised networks output maps with a variance near 1e-9: an eps would zero the scale.
    target = torch.linspace(1, 2, 50)[None]
    pred = 1e-5 * target
    assert fit_scale_shift(pred, target, torch.ones_like(target, dtype=torch.bool))[
        0
    ].item() == pytest.approx(1e5)


GT = torch.tensor([[1.0, 2.0, 4.0]])
ALL = torch.ones(1, 3, dtype=torch.bool)


def test_inverse_space_alignment_recovers_relative_inverse_depth_exactly():
    pred = 2.0 / GT + 1.0  # relative inverse depth: [3, 2, 1.5]
    depth = align_to_depth(
        pred, DepthSpace.RELATIVE_INVERSE_DEPTH, GT, ALL, Alignment.LSTSQ_INVERSE, (0.1, 80)
    )
    assert torch.allclose(depth, GT)


def test_depth_space_alignment_of_the_same_prediction_differs_as_computed_by_hand():
    # 1/pred = [1/3, 1/2, 2/3]; least squares onto [1, 2, 4] gives s = 9, t = -13/6.
    pred = 2.0 / GT + 1.0
    depth = align_to_depth(pred, DepthSpace.RELATIVE_INVERSE_DEPTH, GT, ALL, Alignment.LSTSQ_DEPTH, (0.1, 80))
    assert torch.allclose(depth, torch.tensor([[5 / 6, 7 / 3, 23 / 6]]))


def test_depth_space_alignment_recovers_affine_depth_exactly():
    pred_depth = 0.25 * GT - 0.1
    depth = align_to_depth(pred_depth, DepthSpace.METRIC_DEPTH, GT, ALL, Alignment.LSTSQ_DEPTH, (0.01, 80))
    assert torch.allclose(depth, GT)


def test_aligned_depth_is_clamped_to_the_range():
    pred = torch.tensor([[10.0, 1.0, 0.1]])  # inverse depth of 0.1, 1 and 10 m
    gt = torch.tensor([[0.1, 1.0, 10.0]])
    depth = align_to_depth(
        pred, DepthSpace.RELATIVE_INVERSE_DEPTH, gt, ALL, Alignment.LSTSQ_INVERSE, (0.5, 5.0)
    )
    assert depth[0].tolist() == pytest.approx([0.5, 1.0, 5.0])


def test_median_scaling_and_none_for_metric_models():
    pred = torch.tensor([[1.0, 2.0, 3.0]])
    gt = torch.tensor([[2.0, 4.0, 6.0]])
    scaled = align_to_depth(pred, DepthSpace.METRIC_DEPTH, gt, ALL, Alignment.MEDIAN, (0.1, 80))
    assert torch.allclose(scaled, gt)
    assert torch.allclose(
        align_to_depth(pred, DepthSpace.METRIC_DEPTH, gt, ALL, Alignment.NONE, (0.1, 80)), pred
    )
    assert torch.allclose(median_scale(pred, gt, ALL), gt)


def test_relative_prediction_cannot_be_median_scaled():
    with pytest.raises(ValueError, match="relative"):
        align_to_depth(GT, DepthSpace.RELATIVE_INVERSE_DEPTH, GT, ALL, Alignment.MEDIAN, (0.1, 80))


def test_masked_median_is_the_lower_median_and_min_max_uses_the_mask():
    values = torch.tensor([[4.0, 1.0, 3.0, 2.0, 99.0]])
    mask = torch.tensor([[True, True, True, True, False]])
    assert masked_median(values, mask).item() == 2.0
    assert normalize_min_max(values, mask)[0].tolist() == pytest.approx([1.0, 0.0, 2 / 3, 1 / 3, 98 / 3])


def test_least_squares_alignment_is_differentiable():
    pred = torch.rand(2, 4, 4, requires_grad=True)
    aligned = align_least_squares(pred, torch.rand(2, 4, 4), torch.ones(2, 4, 4, dtype=torch.bool))
    aligned.sum().backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
