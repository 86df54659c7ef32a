"""Training-pair geometry and colour augmentation, drawn from a per-sample generator.

Geometry (resize keeping the aspect ratio, square crop or pad, horizontal flip) is applied to the
image and its label identically; colour augmentation (brightness, contrast, saturation, hue, RGB
shift) to the image only. Labels are resized by normalised convolution, so invalid (NaN) pixels
neither spread nor leak into valid ones.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from depthforge.config import AugmentConfig, GeometryConfig


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


def _grey(image: torch.Tensor) -> torch.Tensor:
    return (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]


def _rotate_hue(image: torch.Tensor, turns: float) -> torch.Tensor:
    """Hue rotation by ``turns`` of a full circle, in YIQ space."""
    to_yiq = image.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    cos, sin = math.cos(2 * math.pi * turns), math.sin(2 * math.pi * turns)
    rotation = image.new_tensor([[1, 0, 0], [0, cos, -sin], [0, sin, cos]])
    matrix = torch.linalg.inv(to_yiq) @ rotation @ to_yiq
    return torch.einsum("ij,jhw->ihw", matrix, image)


def jitter_colour(image: torch.Tensor, config: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """Brightness, contrast, saturation, hue and per-channel shift, each drawn from ``rng``."""
    image = image * rng.uniform(1 - config.brightness, 1 + config.brightness)
    mean = _grey(image).mean()
    image = (image - mean) * rng.uniform(1 - config.contrast, 1 + config.contrast) + mean
    grey = _grey(image)
    image = grey + (image - grey) * rng.uniform(1 - config.saturation, 1 + config.saturation)
    if config.hue:
        image = _rotate_hue(image, rng.uniform(-config.hue, config.hue))
    shift = rng.uniform(-config.rgb_shift, config.rgb_shift, size=3).astype(np.float32)
    return (image + torch.from_numpy(shift)[:, None, None]).clamp(0, 1)


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
