"""Per-image alignment of a prediction to ground truth: least squares, median scaling, range clamps.

Every function works on batches ``[B, ...]`` with a boolean ``mask`` of the same shape and solves
each image on its own. Solves run in float64 and stay differentiable.
"""

from enum import StrEnum

import torch

from depthforge.depth.spaces import DepthSpace, depth_to_inverse, inverse_to_depth, to_metric_depth


class Alignment(StrEnum):
    """How a prediction is brought onto the scale of metric ground truth."""

    NONE = "none"
    MEDIAN = "median"
    LSTSQ_INVERSE = "lstsq-inverse"
    """Least-squares scale and shift in inverse-depth space: right for relative inverse-depth models."""
    LSTSQ_DEPTH = "lstsq-depth"
    """Least-squares scale and shift in depth space (after inverting an inverse-depth prediction)."""


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def masked_median(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Lower median of the masked values of each image, shape ``[B]``; NaN for an empty mask."""
    masked = torch.where(_flat(mask), _flat(values), torch.full_like(_flat(values), torch.nan))
    return masked.nanmedian(dim=1).values


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the masked values of each image, shape ``[B]``; NaN for an empty mask."""
    m = _flat(mask)
    total = torch.where(m, _flat(values), torch.zeros_like(_flat(values))).sum(dim=1)
    return total / m.sum(dim=1)


def fit_scale_shift(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale ``s`` and shift ``t`` (each ``[B]``, float64) minimising ``sum_mask (s*pred + t - target)^2``.

    Solved in the centred form ``s = cov(pred, target) / var(pred)``. A constant prediction gets
    ``s = 0`` and ``t = mean(target)``; an image without valid pixels gets NaN.
    """
    m = _flat(mask)
    p = torch.where(m, _flat(pred).double(), 0.0)
    g = torch.where(m, _flat(target).double(), 0.0)
    count = m.sum(dim=1).double()
    mean_p = p.sum(dim=1) / count
    mean_g = g.sum(dim=1) / count
    centred_p = torch.where(m, p - mean_p[:, None], 0.0)
    centred_g = torch.where(m, g - mean_g[:, None], 0.0)
    var = (centred_p * centred_p).sum(dim=1)
    cov = (centred_p * centred_g).sum(dim=1)
    # Below this the spread of the prediction is rounding noise of its largest value.
    noise = count * (1e-12 * torch.where(m, p.abs(), 0.0).amax(dim=1)) ** 2
    constant = var <= noise
    scale = torch.where(constant, torch.zeros_like(var), cov / torch.where(constant, 1.0, var))
    scale = torch.where(count > 0, scale, torch.nan)
    return scale, mean_g - scale * mean_p


def _apply(values: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    view = (-1,) + (1,) * (values.dim() - 1)
    return (values.double() * scale.view(view) + shift.view(view)).to(
        torch.promote_types(values.dtype, torch.float32)
    )


def align_least_squares(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``pred`` mapped by its per-image least-squares scale and shift onto ``target``."""
    scale, shift = fit_scale_shift(pred, target, mask)
    return _apply(pred, scale, shift)


def median_scale(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``pred`` multiplied per image by ``median(target) / median(pred)`` over the mask."""
    ratio = masked_median(target.double(), mask) / masked_median(pred.double(), mask)
    return _apply(pred, ratio, torch.zeros_like(ratio))


def normalize_min_max(pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``pred`` rescaled per image to [0, 1] by its minimum and maximum over the mask."""
    flat = _flat(pred).double()
    lo = torch.where(_flat(mask), flat, torch.inf).amin(dim=1)
    hi = torch.where(_flat(mask), flat, -torch.inf).amax(dim=1)
    span = torch.where(hi > lo, hi - lo, 1.0)
    return _apply(pred, 1.0 / span, -lo / span)


def align_to_depth(
    pred: torch.Tensor,
    space: DepthSpace,
    gt_depth: torch.Tensor,
    mask: torch.Tensor,
    method: Alignment,
    depth_range: tuple[float, float],
) -> torch.Tensor:
    """Metric depth from a prediction in ``space``, aligned to ``gt_depth`` on ``mask`` and clamped.

    Pixels whose prediction has no depth in the fit space (e.g. non-positive inverse depth when
    fitting in depth space) are left out of the fit. The result is clamped to ``depth_range``
    everywhere, so it can be scored on any mask.
    """
    lo, hi = depth_range
    if method is Alignment.LSTSQ_INVERSE:
        pred_inv = pred if space is DepthSpace.RELATIVE_INVERSE_DEPTH else _as_inverse(pred, space)
        fit_mask = mask & torch.isfinite(pred_inv)
        aligned_inv = align_least_squares(pred_inv, depth_to_inverse(gt_depth), fit_mask)
        depth = inverse_to_depth(aligned_inv.clamp(1.0 / hi, 1.0 / lo))
    elif space is DepthSpace.RELATIVE_INVERSE_DEPTH and method is not Alignment.LSTSQ_DEPTH:
        raise ValueError(f"a relative inverse-depth prediction cannot be aligned with '{method}'")
    else:
        pred_depth = (
            inverse_to_depth(pred)
            if space is DepthSpace.RELATIVE_INVERSE_DEPTH
            else to_metric_depth(pred, space)
        )
        fit_mask = mask & torch.isfinite(pred_depth)
        if method is Alignment.LSTSQ_DEPTH:
            depth = align_least_squares(pred_depth, gt_depth, fit_mask)
        elif method is Alignment.MEDIAN:
            depth = median_scale(pred_depth, gt_depth, fit_mask)
        else:
            depth = pred_depth
    return depth.clamp(lo, hi)


def _as_inverse(pred: torch.Tensor, space: DepthSpace) -> torch.Tensor:
    return depth_to_inverse(to_metric_depth(pred, space))
