"""Scale-and-shift-invariant losses for relative (inverse) depth.

All maps are ``[B, H, W]`` (or ``[B, 1, H, W]``) in inverse-depth space, with an optional boolean
``mask`` of valid label pixels. Every loss is computed per image over its own valid pixels, in
float32 whatever the input dtype, and averaged over the images that have valid pixels.
"""

from enum import StrEnum

import torch
from torch import nn

from depthforge.depth.alignment import align_least_squares, masked_mean, masked_median


class SSIAlignment(StrEnum):
    """How prediction and label are made comparable before the residual is taken."""

    MEDIAN = "median"
    """Both normalised by median and mean absolute deviation (MiDaS; the paper's loss, with |.|)."""
    LSTSQ = "lstsq"
    """Prediction least-squares aligned to the normalised label, squared residual (MiDaS' SSI-MSE)."""


def _squeeze(x: torch.Tensor) -> torch.Tensor:
    return x[:, 0] if x.dim() == 4 else x


def normalize_median_mad(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(x - median(x)) / mean(|x - median(x)|)`` per image over the mask.

    The deviation is floored at one float32 rounding step of the median (and at 1e-12), below which
    a map is constant: a constant map normalises to zeros instead of dividing by zero.
    """
    view = (-1,) + (1,) * (values.dim() - 1)
    shift = masked_median(values, mask)
    deviation = masked_mean((values - shift.view(view)).abs(), mask)
    floor = torch.clamp(shift.abs() * torch.finfo(torch.float32).eps, min=1e-12)
    scale = torch.maximum(deviation, floor)
    return (values - shift.view(view)) / scale.view(view)


def _per_image_mean(
    values: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean (weighted by ``weights`` per pixel, if given) over each image's valid pixels, averaged
    over the images that have any; an all-invalid batch gives a zero with a graph."""
    if weights is None:
        per_image = masked_mean(values, mask)
    else:
        per_image = masked_mean(values * weights, mask) / masked_mean(weights, mask)
    has_pixels = mask.flatten(1).any(dim=1)
    if not has_pixels.any():
        return torch.where(mask, values, 0.0).sum() * 0.0
    return per_image[has_pixels].mean()


def gradient_matching_loss(residual: torch.Tensor, mask: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Multi-scale gradient matching on a residual map (MiDaS): ``sum_k mean |grad R_k|``.

    Scale ``k`` keeps every ``2**k``-th pixel; a finite difference counts where both of its pixels
    are valid.
    """
    total = residual.new_zeros(())
    for k in range(scales):
        step = 2**k
        r, m = residual[:, ::step, ::step], mask[:, ::step, ::step]
        grad_x = (r[:, :, 1:] - r[:, :, :-1]).abs() * (m[:, :, 1:] & m[:, :, :-1])
        grad_y = (r[:, 1:, :] - r[:, :-1, :]).abs() * (m[:, 1:, :] & m[:, :-1, :])
        count = m.flatten(1).sum(dim=1).clamp(min=1)
        per_image = (grad_x.flatten(1).sum(dim=1) + grad_y.flatten(1).sum(dim=1)) / count
        has_pixels = m.flatten(1).any(dim=1)
        if has_pixels.any():
            total = total + per_image[has_pixels].mean()
    return total


class SSILoss(nn.Module):
    """The scale-and-shift-invariant loss, with optional multi-scale gradient matching.

    ``forward`` returns ``{"loss": total, "ssi": ..., "gradient": ...}``. Optional per-pixel
    ``weights`` weight the SSI term's average (the normalisation and the gradient term stay
    unweighted): a way to give small regions, such as transparent objects, more say.
    """

    def __init__(
        self,
        alignment: SSIAlignment | str = SSIAlignment.MEDIAN,
        gradient_weight: float = 0.0,
        gradient_scales: int = 4,
    ) -> None:
        super().__init__()
        self.alignment = SSIAlignment(alignment)
        self.gradient_weight = gradient_weight
        self.gradient_scales = gradient_scales

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        pred, target = _squeeze(pred).float(), _squeeze(target).float()
        valid = torch.isfinite(target) & torch.isfinite(pred)
        mask = valid if mask is None else _squeeze(mask).bool() & valid
        # Zero the invalid pixels so that no NaN reaches the backward pass through them.
        pred, target = torch.where(mask, pred, 0.0), torch.where(mask, target, 0.0)
        weights = None if weights is None else _squeeze(weights).float()
        target_hat = normalize_median_mad(target, mask)
        if self.alignment is SSIAlignment.MEDIAN:
            residual = normalize_median_mad(pred, mask) - target_hat
            ssi = _per_image_mean(residual.abs(), mask, weights) / 2
        else:
            residual = align_least_squares(pred, target_hat, mask) - target_hat
            ssi = _per_image_mean(residual.square(), mask, weights) / 2
        losses = {"ssi": ssi}
        if self.gradient_weight > 0:
            losses["gradient"] = gradient_matching_loss(residual, mask, self.gradient_scales)
            losses["loss"] = ssi + self.gradient_weight * losses["gradient"]
        else:
            losses["loss"] = ssi
        return losses


def ssi_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The paper's loss: ``1/(2M) sum |d_hat - d_hat*|`` with median / MAD normalisation."""
    return SSILoss()(pred, target, mask)["loss"]
