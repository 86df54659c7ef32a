"""Depth spaces and the only place where one is converted into another.

Conventions, the same for every function here:
- NaN marks an invalid pixel. Zero, negative and NaN inputs are invalid and become NaN.
- Infinity and zero are each other's far limit: depth ``inf`` <-> inverse depth ``0`` (sky, or
  disparity 0). So a zero *inverse* depth or disparity is valid (infinitely far), while a zero
  *depth* is invalid (the usual "no measurement" of depth datasets).
"""

from enum import StrEnum

import torch


class DepthSpace(StrEnum):
    """What the values of a depth map mean."""

    METRIC_DEPTH = "metric_depth"
    """Distance along the optical axis (camera z), in metres."""
    RELATIVE_INVERSE_DEPTH = "relative_inverse_depth"
    """Inverse depth up to an unknown scale and shift (DPT, MiDaS, Depth Anything)."""
    INVERSE_DEPTH = "inverse_depth"
    """Inverse metric depth, in 1/m."""
    DISPARITY = "disparity"
    """Stereo disparity in pixels: baseline x focal / depth."""

    @property
    def is_inverse(self) -> bool:
        return self is not DepthSpace.METRIC_DEPTH

    @property
    def is_metric(self) -> bool:
        return self is not DepthSpace.RELATIVE_INVERSE_DEPTH

    @property
    def unit(self) -> str:
        return {
            DepthSpace.METRIC_DEPTH: "m",
            DepthSpace.RELATIVE_INVERSE_DEPTH: "arbitrary",
            DepthSpace.INVERSE_DEPTH: "1/m",
            DepthSpace.DISPARITY: "px",
        }[self]


def valid_mask(values: torch.Tensor, space: DepthSpace) -> torch.Tensor:
    """Pixels that hold a usable value in ``space``.

    Finite everywhere; depth must be positive and metric inverse depth or disparity non-negative.
    Relative inverse depth has an unknown shift, so any finite value is usable.
    """
    if space is DepthSpace.RELATIVE_INVERSE_DEPTH:
        return torch.isfinite(values)
    if space.is_inverse:
        return torch.isfinite(values) & (values >= 0)
    return torch.isfinite(values) & (values > 0)


def _reciprocal(values: torch.Tensor, zero_is_valid: bool) -> torch.Tensor:
    """1/x with 0 <-> inf; invalid inputs (negatives, NaN and, unless ``zero_is_valid``, zeros) -> NaN."""
    values = values.float() if not values.is_floating_point() else values
    valid = ~torch.isnan(values) & ((values > 0) | ((values == 0) & zero_is_valid))
    # A safe denominator: 1/0 would put NaN (0 * inf) into the gradient of the unselected branch.
    out = torch.where(
        values == 0, torch.full_like(values, torch.inf), 1.0 / torch.where(values == 0, 1.0, values)
    )
    return torch.where(valid, out, torch.full_like(values, torch.nan))


def depth_to_inverse(depth: torch.Tensor) -> torch.Tensor:
    """Metric depth (m) -> inverse depth (1/m). Depth 0 is 'no measurement' and gives NaN."""
    return _reciprocal(depth, zero_is_valid=False)


def inverse_to_depth(inverse: torch.Tensor) -> torch.Tensor:
    """Inverse depth -> depth. Inverse depth 0 is infinitely far and gives ``inf``."""
    return _reciprocal(inverse, zero_is_valid=True)


def disparity_to_depth(disparity: torch.Tensor, baseline_x_focal: float) -> torch.Tensor:
    """Disparity (px) -> depth, in the unit of the baseline (baseline x focal in unit x px)."""
    _check_positive(baseline_x_focal)
    return inverse_to_depth(disparity) * baseline_x_focal


def depth_to_disparity(depth: torch.Tensor, baseline_x_focal: float) -> torch.Tensor:
    """Depth -> disparity (px), the inverse of :func:`disparity_to_depth`."""
    _check_positive(baseline_x_focal)
    return depth_to_inverse(depth) * baseline_x_focal


def to_inverse_depth(values: torch.Tensor, space: DepthSpace, baseline_x_focal: float = 1.0) -> torch.Tensor:
    """Any space -> an inverse-depth-like map (for losses and alignment in inverse space)."""
    if space is DepthSpace.METRIC_DEPTH:
        return depth_to_inverse(values)
    if space is DepthSpace.DISPARITY:
        return _keep_valid(values, space) / baseline_x_focal
    return _keep_valid(values, space)


def to_metric_depth(values: torch.Tensor, space: DepthSpace, baseline_x_focal: float = 1.0) -> torch.Tensor:
    """A metric space -> depth. Relative inverse depth has no metric depth without alignment."""
    if space is DepthSpace.RELATIVE_INVERSE_DEPTH:
        raise ValueError("relative inverse depth must be aligned to metric ground truth before conversion")
    if space is DepthSpace.METRIC_DEPTH:
        return _keep_valid(values, space)
    if space is DepthSpace.DISPARITY:
        return disparity_to_depth(values, baseline_x_focal)
    return inverse_to_depth(values)


def _keep_valid(values: torch.Tensor, space: DepthSpace) -> torch.Tensor:
    return torch.where(valid_mask(values, space), values, torch.full_like(values, torch.nan))


def _check_positive(baseline_x_focal: float) -> None:
    if not baseline_x_focal > 0:
        raise ValueError(f"baseline x focal must be positive, got {baseline_x_focal}")
