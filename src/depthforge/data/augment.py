"""Training-pair geometry and colour augmentation, drawn from a per-sample generator.

Colour, on the image only, is albumentations' ``ColorJitter`` (brightness, contrast, saturation,
hue, in a random order) then ``RGBShift`` (one shift per channel, in [0, 1] units): the paper's
"colour jitter, RGB shift", by the names it uses. albumentations draws from its own generators,
seeded per call by ``rng.integers(2**32)``, so a sample's colours follow its generator alone.

Geometry (resize keeping the aspect ratio, square crop or pad, horizontal flip) stays here, applied
to the image, its extra channels and its label identically. albumentations resizes a label as a
mask, by nearest neighbour (off the bilinearly resized image by up to half a pixel) or by a filter
that spreads NaN into valid pixels: it has no NaN-aware resize. Here labels are resized by
normalised convolution with the image's own (antialiased bilinear) filter, so invalid pixels neither
spread nor leak into valid ones; crop, pad and flip are plain slicing of the CHW tensors.
"""

import math
import os
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from depthforge.config import AugmentConfig, GeometryConfig

if TYPE_CHECKING:
    import albumentations


def _resize_label(label: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    valid = torch.isfinite(label).float()
    values = torch.nan_to_num(label, nan=0.0, posinf=0.0, neginf=0.0) * valid
    # The same (antialiased bilinear) filter as the image, so label and pixels stay aligned.
    both = F.interpolate(torch.stack([values, valid])[None], size=size, mode="bilinear", antialias=True)[0]
    weight = both[1]
    return torch.where(weight > 0.999, both[0] / weight.clamp(min=1e-6), torch.nan)


def resize_pair(
    image: torch.Tensor, label: torch.Tensor, size: int, side: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image ``[3, H, W]`` and label ``[H, W]`` resized so that the ``side`` (short/long) side is ``size``."""
    height, width = label.shape
    scale = size / (min(height, width) if side == "short" else max(height, width))
    target = (max(1, round(height * scale)), max(1, round(width * scale)))
    if target == (height, width):
        return image, label
    resized = F.interpolate(image[None], size=target, mode="bilinear", align_corners=False, antialias=True)[0]
    return resized.clamp(0, 1), _resize_label(label, target)


def square(
    image: torch.Tensor, label: torch.Tensor, size: int, rng: np.random.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``size`` x ``size`` crop (random, or centred without ``rng``), padding short sides (label: NaN)."""
    height, width = label.shape
    pad_h, pad_w = max(0, size - height), max(0, size - width)
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h))
        label = F.pad(label, (0, pad_w, 0, pad_h), value=math.nan)
        height, width = label.shape
    top = int(rng.integers(height - size + 1)) if rng is not None else (height - size) // 2
    left = int(rng.integers(width - size + 1)) if rng is not None else (width - size) // 2
    return image[:, top : top + size, left : left + size], label[top : top + size, left : left + size]


def _colour(config: AugmentConfig, seed: int) -> "albumentations.Compose":
    """The paper's colour jitter and RGB shift, by albumentations' names, on float [0, 1] pixels."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # else its import asks PyPI for a newer release
    import albumentations as A

    shift = (-config.rgb_shift, config.rgb_shift)
    jitter = A.ColorJitter(
        brightness=config.brightness,
        contrast=config.contrast,
        saturation=config.saturation,
        hue=config.hue,
        p=1,
    )
    return A.Compose([jitter, A.RGBShift(shift, shift, shift, p=1)], seed=seed)


def jitter_colour(image: torch.Tensor, config: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """``image`` ``[3, H, W]`` through ``_colour``, seeded by ``rng.integers(2**32)``."""
    pixels = np.ascontiguousarray(image.permute(1, 2, 0).numpy())
    jittered = _colour(config, int(rng.integers(2**32)))(image=pixels)["image"]
    return torch.from_numpy(jittered).permute(2, 0, 1).clamp(0, 1)


def augment_pair(
    image: torch.Tensor,
    label: torch.Tensor,
    geometry: GeometryConfig,
    augment: AugmentConfig | None,
    rng: np.random.Generator | None,
    extra: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One training pair: image ``[3, S, S]`` in [0, 1], label ``[S, S]`` (NaN = invalid).

    ``extra`` channels (the easy source of a hard image for an online teacher, a region mask) get
    the same geometry but no colour change. Without ``rng`` (validation) the crop is centred and
    nothing is random.
    """
    stacked = image if extra is None else torch.cat([image, extra])
    stacked, label = resize_pair(stacked, label, geometry.size, geometry.side)
    stacked, label = square(stacked, label, geometry.size, rng)
    if rng is not None and augment is not None and rng.uniform() < augment.hflip:
        stacked, label = stacked.flip(-1), label.flip(-1)
    image, extra = (stacked, None) if extra is None else (stacked[:3], stacked[3:])
    if rng is not None and augment is not None:
        image = jitter_colour(image, augment, rng)
    return image.contiguous(), label.contiguous(), None if extra is None else extra.contiguous()
