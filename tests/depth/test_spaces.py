import math

import pytest
import torch

from depthforge.depth.spaces import (
    DepthSpace,
    depth_to_disparity,
    depth_to_inverse,
    disparity_to_depth,
    inverse_to_depth,
    to_inverse_depth,
    to_metric_depth,
    valid_mask,
)

nan, inf = math.nan, math.inf


def same(a: torch.Tensor, b: list[float]) -> bool:
    return torch.allclose(a, torch.tensor(b), equal_nan=True)


def test_depth_to_inverse_handles_every_special_value():
    depth = torch.tensor([2.0, 0.0, -1.0, nan, inf, 0.5])
    assert same(depth_to_inverse(depth), [0.5, nan, nan, nan, 0.0, 2.0])


def test_inverse_to_depth_treats_zero_as_infinitely_far():
    inverse = torch.tensor([0.5, 0.0, -1.0, nan, inf, 4.0])
    assert same(inverse_to_depth(inverse), [2.0, inf, nan, nan, 0.0, 0.25])


def test_round_trip_on_valid_depth():
    depth = torch.tensor([0.1, 1.0, 7.5, 80.0])
    assert torch.allclose(inverse_to_depth(depth_to_inverse(depth)), depth)


def test_disparity_uses_baseline_times_focal():
    # Booster-like: baseline 0.1 m x focal 1000 px = 100 m px; 50 px disparity -> 2 m.
    disparity = torch.tensor([50.0, 0.0, -3.0])
    assert same(disparity_to_depth(disparity, 100.0), [2.0, inf, nan])
    assert same(depth_to_disparity(torch.tensor([2.0, 0.0]), 100.0), [50.0, nan])


def test_non_positive_baseline_is_refused():
    with pytest.raises(ValueError, match="baseline"):
        disparity_to_depth(torch.ones(2), 0.0)


def test_integer_input_is_converted():
    assert same(depth_to_inverse(torch.tensor([2, 0, 4])), [0.5, nan, 0.25])


def test_valid_mask_per_space():
    values = torch.tensor([-1.0, 0.0, 1.0, nan, inf])
    assert valid_mask(values, DepthSpace.METRIC_DEPTH).tolist() == [False, False, True, False, False]
    assert valid_mask(values, DepthSpace.DISPARITY).tolist() == [False, True, True, False, False]
    assert valid_mask(values, DepthSpace.RELATIVE_INVERSE_DEPTH).tolist() == [True, True, True, False, False]


def test_generic_conversions():
    assert same(to_inverse_depth(torch.tensor([4.0, 0.0]), DepthSpace.METRIC_DEPTH), [0.25, nan])
    assert same(to_inverse_depth(torch.tensor([10.0, -1.0]), DepthSpace.DISPARITY, 5.0), [2.0, nan])
    relative = torch.tensor([-0.3, 2.0, nan])
    assert same(to_inverse_depth(relative, DepthSpace.RELATIVE_INVERSE_DEPTH), [-0.3, 2.0, nan])
    assert same(to_metric_depth(torch.tensor([0.5]), DepthSpace.INVERSE_DEPTH), [2.0])
    with pytest.raises(ValueError, match="aligned"):
        to_metric_depth(relative, DepthSpace.RELATIVE_INVERSE_DEPTH)


def test_space_properties():
    assert DepthSpace.METRIC_DEPTH.unit == "m"
    assert not DepthSpace.METRIC_DEPTH.is_inverse
    assert DepthSpace.DISPARITY.is_inverse and DepthSpace.DISPARITY.is_metric
    assert not DepthSpace.RELATIVE_INVERSE_DEPTH.is_metric
