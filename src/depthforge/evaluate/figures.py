"""Figure grids: the image, the ground truth and each model's depth on top; each model's error below.

Depth is shown as nearness (near = warm) with one colour scale per sample, shared by the ground
truth and every model; errors are absolute relative errors from 0 (black) to 0.5 (white-yellow).
"""

import numpy as np
from PIL import Image, ImageDraw


def _nearness(depth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        near = np.where(depth > 0, 1.0 / depth, np.nan)
    return near if mask is None else np.where(mask, near, np.nan)


def _scaled(values: np.ndarray, low: float, high: float, cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    finite = np.isfinite(values)
    scaled = np.clip((np.nan_to_num(values) - low) / max(high - low, 1e-12), 0, 1)
    rgb = (colormaps[cmap](scaled)[..., :3] * 255).round().astype(np.uint8)
    rgb[~finite] = 0
    return rgb


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    picture = Image.fromarray(tile)
    draw = ImageDraw.Draw(picture)
    draw.rectangle([0, 0, 7 * len(text) + 6, 14], fill=(0, 0, 0))
    draw.text((3, 2), text, fill=(255, 255, 255))
    return np.asarray(picture)


def figure_grid(
    image: np.ndarray, gt: np.ndarray, mask: np.ndarray, predictions: dict[str, np.ndarray]
) -> np.ndarray:
    """One sample's grid; ``predictions`` are aligned metric depth maps at the ground truth's size."""
    height, width = gt.shape
    image = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))
    gt_near = _nearness(gt, mask)
    finite = gt_near[np.isfinite(gt_near)]
    low, high = np.percentile(finite, (2, 98)) if finite.size else (0.0, 1.0)
    top = [_label(image, "image"), _label(_scaled(gt_near, low, high, "Spectral_r"), "ground truth")]
    bottom = [np.zeros_like(image), np.zeros_like(image)]
    for name, depth in predictions.items():
        top.append(_label(_scaled(_nearness(depth), low, high, "Spectral_r"), name))
        with np.errstate(divide="ignore", invalid="ignore"):
            error = np.where(mask, np.abs(depth - gt) / gt, np.nan)
        bottom.append(_label(_scaled(error, 0.0, 0.5, "inferno"), f"{name} AbsRel"))
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
