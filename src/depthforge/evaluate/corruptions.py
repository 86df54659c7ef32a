"""Corruption robustness, RoboDepth / KITTI-C style: RoboDepth's 18 image corruptions and the physics
backend's depth-aware conditions, each at severities 1-5, applied to a benchmark's images before
inference. The headline score is DEE = (AbsRel - delta1 + 1) / 2.

Names are RoboDepth's (``KITTI_C``, its order). 15 of them are ``imagecorruptions`` (the package
RoboDepth built KITTI-C with, so the same functions and ImageNet-C severity tables). The other three,
``dark``, ``color_quant`` and ``iso_noise``, are RoboDepth's own additions, which ``imagecorruptions``
lacks: they follow RoboDepth's definitions (low light: a gamma-2 stretch into [0, c] plus
Poisson-Gaussian noise; colour quantisation: ``6 - level`` bits; ISO noise: Poisson then Gaussian)
and draw from the given generator. The physics conditions are ``physics-fog``, ``physics-night``,
``physics-rain`` and ``physics-snow``: severity level / 5, driven by the ground truth's depth
(invalid pixels count as far), so on sparse LiDAR only an approximation. Earlier depthforge names
still work (``canonical_name``): ``gaussian-noise`` is ``gaussian_noise``, ``night`` is
``physics-night``; plain ``fog`` and ``snow`` are now KITTI-C's.

Determinism: ``imagecorruptions`` draws from numpy's global RNG. Each call seeds it with
``rng.integers(2**32)`` and puts the previous global state back afterwards (under a lock), so the same
``rng`` gives the same image, equal to ``np.random.seed(that seed)`` then ``imagecorruptions.corrupt``,
and the caller's global RNG is left as it was. Another thread drawing from numpy's global RNG during a
call would interleave with it; depthforge draws from it nowhere else.

``imagecorruptions`` 1.1.2 (2020, its last release) predates setuptools 81, numpy 2 and scikit-image
0.19. These shims make it run, each set inside its own module, never in numpy, scikit-image or
``sys.modules`` at large:
- ``pkg_resources.resource_filename`` (frost's images), gone with setuptools 81, and
  ``scipy.ndimage.interpolation`` (deprecated, gone in SciPy 2): stand-ins while it is imported;
- ``np.float_`` (fog's plasma fractal): its module sees numpy with ``float_ = float64``;
- ``gaussian(multichannel=True)`` (glass_blur): passed on as ``channel_axis=-1``;
- ``random_noise`` (impulse_noise) draws from its own unseeded generator since scikit-image 0.19: it
  gets a seed drawn from numpy's global RNG, as the other corruptions use.
"""

import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage
import skimage.color
import skimage.filters
import skimage.util
from PIL import Image, ImageOps

from depthforge.depth.spaces import DepthSpace
from depthforge.generate.control import nearness
from depthforge.generate.physics import EFFECTS, apply_condition

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _resource_filename(module: str, name: str) -> str:
    return str(Path(sys.modules[module].__file__ or "").parent / name)


class _Numpy1(types.ModuleType):
    """numpy with numpy 1's ``float_``, for ``imagecorruptions``' module only."""

    float_ = np.float64

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _gaussian(image: np.ndarray, sigma: float = 1.0, multichannel: bool = False, **kwargs: Any) -> np.ndarray:
    return skimage.filters.gaussian(image, sigma=sigma, channel_axis=-1 if multichannel else None, **kwargs)


def _random_noise(image: np.ndarray, mode: str, **kwargs: Any) -> np.ndarray:
    return skimage.util.random_noise(image, mode, rng=np.random.randint(2**31), **kwargs)


@contextmanager
def _stand_ins(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """``modules`` imported by their names inside the block; ``sys.modules`` as it was after it."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module


def _load_imagecorruptions() -> types.ModuleType:
    """``imagecorruptions`` with the shims of the module docstring."""
    pkg_resources = types.ModuleType("pkg_resources")
    pkg_resources.resource_filename = _resource_filename  # type: ignore[attr-defined]
    with _stand_ins({"pkg_resources": pkg_resources, "scipy.ndimage.interpolation": scipy.ndimage}):
        import imagecorruptions
    module = imagecorruptions.corruptions
    module.np = _Numpy1("numpy")
    module.gaussian = _gaussian
    module.sk = types.SimpleNamespace(
        color=skimage.color, util=types.SimpleNamespace(random_noise=_random_noise)
    )
    return imagecorruptions


imagecorruptions = _load_imagecorruptions()
_GLOBAL_RNG = threading.Lock()


@contextmanager
def _seeded_global_rng(rng: np.random.Generator) -> Iterator[None]:
    """numpy's global RNG seeded from ``rng`` inside the block, and as it was after it."""
    with _GLOBAL_RNG:
        saved = np.random.get_state()
        np.random.seed(int(rng.integers(2**32)))
        try:
            yield
        finally:
            np.random.set_state(saved)


_PHOTONS = (60, 25, 12, 5, 3)  # imagecorruptions' shot noise
_SIGMAS = (0.08, 0.12, 0.18, 0.26, 0.38)  # imagecorruptions' Gaussian noise


def _sensor_noise(values: np.ndarray, photons: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson then Gaussian noise on [0, 1] ``values``, truncated to uint8 as RoboDepth does."""
    shot = np.clip(rng.poisson(values * photons) / photons, 0, 1)
    return (np.clip(shot + rng.normal(0, sigma, values.shape), 0, 1) * 255).astype(np.uint8)


def dark(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    values = image / 255
    low, high = values.min(), values.max()
    stretched = ((values - low) / max(high - low, 1e-6)) ** 2 * (0.6, 0.5, 0.4, 0.3, 0.2)[level - 1]
    return _sensor_noise(stretched, 10 * _PHOTONS[level - 1], 0.1 * _SIGMAS[level - 1], rng)


def color_quant(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(ImageOps.posterize(Image.fromarray(image), 6 - level))


def iso_noise(image: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    return _sensor_noise(image / 255, 25, 0.7 * _SIGMAS[level - 1], rng)


ROBODEPTH_OWN: dict[str, Corruption] = {f.__name__: f for f in (dark, color_quant, iso_noise)}
KITTI_C = (
    *("brightness", "dark", "fog", "frost", "snow", "contrast"),
    *("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "elastic_transform", "color_quant"),
    *("gaussian_noise", "impulse_noise", "shot_noise", "iso_noise", "pixelate", "jpeg_compression"),
)
"""RoboDepth's corruptions, in its order: weather and lighting, sensor and movement, data and processing."""
PHYSICS = tuple(f"physics-{name}" for name in EFFECTS)
CORRUPTIONS = (*KITTI_C, *PHYSICS)


def canonical_name(name: str) -> str:
    """The name in ``CORRUPTIONS`` for ``name``, which may be an earlier depthforge name
    (``gaussian-noise``, ``night``)."""
    for candidate in (name, name.replace("-", "_"), f"physics-{name}"):
        if candidate in CORRUPTIONS:
            return candidate
    raise ValueError(f"unknown corruption '{name}'; known: {', '.join(CORRUPTIONS)}")


def _physics(
    image: np.ndarray, name: str, level: int, rng: np.random.Generator, depth: np.ndarray, space: DepthSpace
) -> np.ndarray:
    near = nearness(np.where(np.isfinite(depth) & (depth > 0), depth, np.nan), space)
    if near.shape != image.shape[:2]:
        near = np.asarray(Image.fromarray(near).resize(image.shape[1::-1], Image.Resampling.BILINEAR))
    return apply_condition(name.removeprefix("physics-"), image, near, rng, severity=level / 5)[0]


def corrupt(
    image: np.ndarray,
    name: str,
    level: int,
    rng: np.random.Generator,
    depth: np.ndarray | None = None,
    space: DepthSpace = DepthSpace.METRIC_DEPTH,
) -> np.ndarray:
    """``image`` (uint8 RGB, at least 32 x 32) under corruption ``name`` at ``level`` (1-5); physics
    conditions need ``depth``."""
    if not 1 <= level <= 5:
        raise ValueError(f"severity must be 1-5, got {level}")
    name = canonical_name(name)
    if name in ROBODEPTH_OWN:
        return ROBODEPTH_OWN[name](image, level, rng)
    if name in PHYSICS:
        if depth is None:
            raise ValueError(f"the '{name}' condition needs depth")
        return _physics(image, name, level, rng, depth, space)
    with _seeded_global_rng(rng):
        return imagecorruptions.corrupt(image, severity=level, corruption_name=name)
