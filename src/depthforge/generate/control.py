"""The one place where depth becomes a control image, and where sizes move between the source
resolution and the generator's.

Control images follow the depth adapters' and ControlNets' training data (MiDaS maps): near is
bright, far is dark, stretched per image to the full 8-bit range.
"""

import numpy as np
import torch
from PIL import Image

from depthforge.depth.spaces import DepthSpace, to_inverse_depth


def nearness(depth: np.ndarray, space: DepthSpace, percentiles: tuple[float, float] = (1, 99)) -> np.ndarray:
    """Depth in any space -> float32 in [0, 1], 1 = nearest, robustly stretched between percentiles.

    Invalid pixels (NaN, or no depth) become 0 (far).
    """
    inverse = to_inverse_depth(torch.from_numpy(np.asarray(depth, np.float32)), space).numpy()
    finite = np.isfinite(inverse)
    if not finite.any():
        return np.zeros(depth.shape, np.float32)
    lo, hi = np.percentile(inverse[finite], percentiles)
    scaled = (inverse - lo) / (hi - lo) if hi > lo else np.full(inverse.shape, 0.5)
    return np.where(finite, np.clip(scaled, 0, 1), 0).astype(np.float32)


def generation_size(height: int, width: int, side: int, multiple: int) -> tuple[int, int]:
    """Generator size for a source: about the area of a ``side`` x ``side`` square (the base model's
    training area), aspect kept, multiples of ``multiple``."""
    scale = side / (height * width) ** 0.5
    return (
        max(multiple, round(height * scale / multiple) * multiple),
        max(multiple, round(width * scale / multiple) * multiple),
    )


def control_image(
    depth: np.ndarray, space: DepthSpace, size: tuple[int, int], channels: int = 3
) -> Image.Image:
    """A depth map as the control image a depth adapter or ControlNet expects, at ``size`` (h, w)."""
    grey = Image.fromarray((nearness(depth, space) * 255).round().astype(np.uint8))
    grey = grey.resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return grey if channels == 1 else grey.convert("RGB")


def to_source_size(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A generated uint8 image back to the source's ``size`` (h, w), so the label aligns pixel for pixel."""
    if image.shape[:2] == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.LANCZOS))
