"""The physics backend: depth-aware synthesis of fog, night, rain and snow, on a CPU, with no weights.

Every effect works in linear RGB on a pseudo-metric distance map made from the label (relative
inverse depth is mapped to 2-200 m, so sky ends far away), and draws its severity and every random
choice from the sample's own generator, so a sample depends on its seed alone.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from depthforge.generate.control import nearness
from depthforge.generate.request import Request
from depthforge.generate.seeds import numpy_rng

NEAR_M, FAR_M = 2.0, 200.0
GAMMA = 2.2


@dataclass(frozen=True)
class Scene:
    """A linear-RGB image ``[H, W, 3]`` in [0, 1] and its distance in pseudo-metres ``[H, W]``."""

    linear: np.ndarray
    distance: np.ndarray

    @property
    def scale(self) -> float:
        """Image size relative to 240 px high, so effects look the same at any resolution."""
        return self.linear.shape[0] / 240


def pseudo_distance(nearness: np.ndarray) -> np.ndarray:
    """Nearness in [0, 1] (1 = nearest) -> distance from ``NEAR_M`` to ``FAR_M``, linear in inverse depth."""
    inverse = 1 / FAR_M + nearness * (1 / NEAR_M - 1 / FAR_M)
    return (1 / inverse).astype(np.float32)


def _lerp(low: float, high: float, t: float) -> float:
    return low + (high - low) * t


def _scatter(scene: Scene, linear: np.ndarray, visibility_m: float, airlight: np.ndarray) -> np.ndarray:
    """Koschmieder's law: ``I = J t + A (1 - t)``, ``t = exp(-beta d)``, ``beta = 3.912 / visibility``."""
    transmission = np.exp(-3.912 / visibility_m * scene.distance)[..., None]
    return linear * transmission + airlight * (1 - transmission)


def fog(scene: Scene, rng: np.random.Generator, severity: float) -> tuple[np.ndarray, dict[str, Any]]:
    visibility = _lerp(300.0, 30.0, severity)
    airlight = rng.uniform(0.7, 0.9) * np.array([0.97, 1.0, 1.03])
    return _scatter(scene, scene.linear, visibility, airlight), {
        "visibility_m": visibility,
        "airlight": airlight.round(4).tolist(),
    }


def _glow_layer(shape: tuple[int, int], centres: list[tuple[float, float, float]]) -> np.ndarray:
    """Sum of Gaussian glows, each ``(y, x, radius)``, peak 1."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    layer = np.zeros(shape, np.float32)
    for y, x, radius in centres:
        layer += np.exp(-((ys - y) ** 2 + (xs - x) ** 2) / (2 * radius**2))
    return layer


def night(scene: Scene, rng: np.random.Generator, severity: float) -> tuple[np.ndarray, dict[str, Any]]:
    height, width = scene.distance.shape
    exposure = _lerp(0.25, 0.04, severity)
    sodium = rng.uniform()
    tint = sodium * np.array([1.0, 0.72, 0.42]) + (1 - sodium) * np.array([0.62, 0.75, 1.0])
    far = np.clip((scene.distance - 60) / 100, 0, 1)[..., None]  # the sky goes darker still
    linear = scene.linear * exposure * tint * (1 - 0.8 * far)
    count = int(rng.integers(4, 13))
    lights = []
    for _ in range(count):
        y, x = rng.uniform(0.15, 0.65) * height, rng.uniform(0, 1) * width
        closeness = NEAR_M / scene.distance[int(y), int(x)]
        lights.append((y, x, _lerp(2, 14, min(1.0, 4 * closeness)) * scene.scale))
    linear = linear + 0.9 * _glow_layer((height, width), lights)[..., None] * np.array([1.0, 0.85, 0.6])
    shot, read = _lerp(0.002, 0.01, severity), _lerp(0.002, 0.012, severity)
    noise = rng.standard_normal(linear.shape) * np.sqrt(shot * np.clip(linear, 0, None) + read**2)
    return linear + noise, {
        "exposure": exposure,
        "sodium_share": round(float(sodium), 4),
        "lights": count,
        "noise": [shot, read],
    }


def _particles(
    scene: Scene,
    rng: np.random.Generator,
    count: int,
    draw: Callable[[ImageDraw.ImageDraw, float, float, float], None],
) -> np.ndarray:
    """A [0, 1] layer of particles (streaks, flakes), each at a random distance of 1-40 m and
    hidden where the scene is nearer than it. ``draw(canvas, y, x, distance)`` paints one."""
    height, width = scene.distance.shape
    canvas = Image.new("L", (width, height))
    pen = ImageDraw.Draw(canvas)
    for _ in range(count):
        y, x, distance = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(1, 40)
        if scene.distance[int(y), int(x)] > distance:
            draw(pen, y, x, distance)
    return np.asarray(canvas.filter(ImageFilter.GaussianBlur(0.6 * scene.scale)), np.float32) / 255


def rain(scene: Scene, rng: np.random.Generator, severity: float) -> tuple[np.ndarray, dict[str, Any]]:
    wet = _lerp(0.9, 0.6, severity)
    linear = _scatter(scene, scene.linear * wet, _lerp(900.0, 120.0, severity), np.full(3, 0.55))
    angle = rng.normal(0, 0.2)
    area = scene.distance.size / (320 * 240)
    count = int(_lerp(300, 1600, severity) * area)

    def streak(pen: ImageDraw.ImageDraw, y: float, x: float, distance: float) -> None:
        length = 40 * scene.scale / distance**0.5
        dy, dx = length * np.cos(angle), length * np.sin(angle)
        pen.line([(x, y), (x + dx, y + dy)], fill=int(255 * min(1.0, 3 / distance**0.5)), width=1)

    layer = _particles(scene, rng, count, streak)[..., None]
    return linear * (1 - 0.5 * layer) + 0.8 * layer * 0.5, {
        "wet_darkening": wet,
        "streaks": count,
        "angle_rad": round(float(angle), 4),
    }


def snow(scene: Scene, rng: np.random.Generator, severity: float) -> tuple[np.ndarray, dict[str, Any]]:
    cover = _lerp(0.05, 0.3, severity)
    linear = scene.linear * (1 - cover) + 0.85 * cover
    linear = _scatter(scene, linear, _lerp(700.0, 80.0, severity), np.full(3, 0.85))
    area = scene.distance.size / (320 * 240)
    count = int(_lerp(200, 1400, severity) * area)

    def flake(pen: ImageDraw.ImageDraw, y: float, x: float, distance: float) -> None:
        radius = float(np.clip(8 * scene.scale / distance, 0.6, 5))
        pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=230)

    layer = _particles(scene, rng, count, flake)[..., None]
    return linear * (1 - layer) + 0.95 * layer, {"cover": cover, "flakes": count}


EFFECTS: dict[str, Callable[[Scene, np.random.Generator, float], tuple[np.ndarray, dict[str, Any]]]] = {
    "fog": fog,
    "night": night,
    "rain": rain,
    "snow": snow,
}


def apply_condition(
    condition: str,
    image: np.ndarray,
    nearness: np.ndarray,
    rng: np.random.Generator,
    severity: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``image`` (uint8 RGB) turned into ``condition``; returns the uint8 result and its parameters.

    ``severity`` in [0, 1] is drawn from ``rng`` (in [0.3, 1]) unless given.
    """
    if condition not in EFFECTS:
        raise ValueError(f"the physics backend cannot render '{condition}'; it knows {', '.join(EFFECTS)}")
    severity = float(rng.uniform(0.3, 1.0)) if severity is None else severity
    scene = Scene((image.astype(np.float32) / 255) ** GAMMA, pseudo_distance(nearness))
    linear, params = EFFECTS[condition](scene, rng, severity)
    encoded = np.clip(linear, 0, 1) ** (1 / GAMMA)
    return (encoded * 255).round().astype(np.uint8), {"severity": round(severity, 4), **params}


class PhysicsGenerator:
    """The physics backend behind the common generator interface."""

    def describe(self) -> dict[str, Any]:
        return {"backend": "physics", "near_m": NEAR_M, "far_m": FAR_M}

    def __call__(self, requests: list[Request]) -> list[tuple[np.ndarray, dict[str, Any]]]:
        return [
            apply_condition(r.condition, r.image, nearness(r.depth, r.space), numpy_rng(r.seed))
            for r in requests
        ]
