"""Corruption robustness, RoboDepth / KITTI-C style: standard image corruptions and the physics
backend's depth-aware conditions, each at 5 severities, applied to a benchmark's images before
inference. The headline score is DEE = (AbsRel - delta1 + 1) / 2.

Severity parameters follow the ImageNet-C convention (level 1 mild ... 5 severe). Physics
conditions use severity level / 5 and the ground truth for their depth (invalid pixels count as
far): on sparse LiDAR ground truth they are only an approximation.
"""

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from depthforge.depth.spaces import DepthSpace
from depthforge.generate.control import nearness
from depthforge.generate.physics import EFFECTS, apply_condition

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) / 255


def _uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def gaussian_noise(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    sigma = (0.08, 0.12, 0.18, 0.26, 0.38)[level - 1]
    return _uint8(_float(image) + rng.normal(0, sigma, image.shape))


def shot_noise(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    photons = (60, 25, 12, 5, 3)[level - 1]
    return _uint8(rng.poisson(_float(image) * photons) / photons)


def impulse_noise(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    amount = (0.03, 0.06, 0.09, 0.17, 0.27)[level - 1]
    out = image.copy()
    hit = rng.uniform(size=image.shape) < amount  # salt and pepper per channel, as ImageNet-C
    out[hit] = np.where(rng.uniform(size=int(hit.sum())) < 0.5, 0, 255)
    return out


def defocus_blur(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    radius = (1.0, 1.5, 2.0, 3.0, 4.0)[level - 1]
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))


def motion_blur(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """A horizontal box blur of the level's length; edges are extended, not darkened."""
    length = (5, 9, 13, 17, 21)[level - 1]
    left, right = length // 2, length - 1 - length // 2
    padded = np.pad(image.astype(np.float64), ((0, 0), (left, right), (0, 0)), mode="edge")
    sums = np.cumsum(np.pad(padded, ((0, 0), (1, 0), (0, 0))), axis=1)
    return ((sums[:, length:] - sums[:, :-length]) / length).round().clip(0, 255).astype(np.uint8)


def brightness(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    return _uint8(_float(image) + (0.1, 0.2, 0.3, 0.4, 0.5)[level - 1])


def dark(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    exposure = (0.6, 0.45, 0.3, 0.2, 0.12)[level - 1]
    return _uint8((_float(image) ** 2.2 * exposure) ** (1 / 2.2))


def contrast(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    factor = (0.4, 0.3, 0.2, 0.1, 0.05)[level - 1]
    values = _float(image)
    mean = values.mean(axis=(0, 1), keepdims=True)
    return _uint8((values - mean) * factor + mean)


def jpeg_compression(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=(25, 18, 15, 10, 7)[level - 1])
    return np.asarray(Image.open(buffer).convert("RGB"))


def pixelate(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    factor = (0.6, 0.5, 0.4, 0.3, 0.25)[level - 1]
    height, width = image.shape[:2]
    small = Image.fromarray(image).resize(
        (max(1, int(width * factor)), max(1, int(height * factor))), Image.Resampling.BOX
    )
    return np.asarray(small.resize((width, height), Image.Resampling.BOX))


IMAGE_CORRUPTIONS: dict[str, Corruption] = {
    f.__name__.replace("_", "-"): f
    for f in (
        gaussian_noise,
        shot_noise,
        impulse_noise,
        defocus_blur,
        motion_blur,
        brightness,
        dark,
        contrast,
        jpeg_compression,
        pixelate,
    )
}
CORRUPTIONS = (*IMAGE_CORRUPTIONS, *EFFECTS)


def corrupt(
    image: np.ndarray,
    name: str,
    level: int,
    rng: np.random.Generator,
    depth: np.ndarray | None = None,
    space: DepthSpace = DepthSpace.METRIC_DEPTH,
) -> np.ndarray:
    """``image`` under corruption ``name`` at ``level`` (1-5); physics conditions need ``depth``."""
    if not 1 <= level <= 5:
        raise ValueError(f"severity must be 1-5, got {level}")
    if name in IMAGE_CORRUPTIONS:
        return IMAGE_CORRUPTIONS[name](image, level, rng)
    if name in EFFECTS:
        if depth is None:
            raise ValueError(f"the '{name}' condition needs depth")
        near = nearness(np.where(np.isfinite(depth) & (depth > 0), depth, np.nan), space)
        if near.shape != image.shape[:2]:
            near = np.asarray(Image.fromarray(near).resize(image.shape[1::-1], Image.Resampling.BILINEAR))
        return apply_condition(name, image, near, rng, severity=level / 5)[0]
    raise ValueError(f"unknown corruption '{name}'; known: {', '.join(CORRUPTIONS)}")
