"""The physics backend: depth-aware synthesis of fog, night, rain and snow, and transparent and
mirror surfaces (``materials.py``), on a CPU, with no weights.

Every effect works on the easy image lifted to 3D from its label (``scene.py``): fog scatters with
distance, night lights surfaces from lamps placed in the scene, rain and snow hide particles behind
nearer surfaces. Each effect draws its severity and every random choice from the sample's own
generator, so a sample depends on its seed alone.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from depthforge.generate.control import nearness
from depthforge.generate.materials import MATERIALS, image_noise
from depthforge.generate.regions import NoRegion, choose_regions
from depthforge.generate.request import Generated, Request
from depthforge.generate.scene import FAR_M, FOV_DEG, NEAR_M, Scene, normals
from depthforge.generate.seeds import numpy_rng

REVISION = 4  # of the effects' models: raise it when one changes what it makes (4: mirrors facing the camera)


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


@dataclass(frozen=True)
class Light:
    """A point light in camera space (x right, y down, z forward, pseudo-metres); with an ``axis``
    it is a spot of half-angle ``cone_deg``. ``power`` is the irradiance it gives 1 m away."""

    position: np.ndarray
    power: float
    colour: np.ndarray
    axis: np.ndarray | None = None
    cone_deg: float = 180.0

    def irradiance(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """RGB irradiance ``[H, W, 3]`` on surfaces: inverse-square falloff and Lambert's cosine."""
        to_light = self.position - points
        squared = (to_light**2).sum(-1)
        direction = to_light / np.sqrt(squared + 1e-12)[..., None]
        irradiance = np.clip((normals * direction).sum(-1), 0, 1) / (squared + 0.25)  # a lamp has a size
        if self.axis is not None:  # full on the axis, fading linearly in cosine to the cone's edge
            edge = np.cos(np.radians(self.cone_deg))
            irradiance *= np.clip(((-direction * self.axis).sum(-1) - edge) / (1 - edge), 0, 1)
        return self.power * irradiance[..., None] * self.colour


# Light colours (linear RGB): sodium and LED street lamps, a warm room lamp, moonlit ambient, night sky.
SODIUM, LED, WARM = np.array([1.0, 0.72, 0.42]), np.array([1.0, 0.95, 0.9]), np.array([1.0, 0.85, 0.65])
MOON, NIGHT_SKY = np.array([0.7, 0.8, 1.0]), np.array([0.4, 0.5, 1.0])
DOWN = np.array([0.0, 1.0, 0.0])


def _street_lamps(scene: Scene, points: np.ndarray, rng: np.random.Generator) -> list[Light]:
    """2-8 lamps, each hanging 1-4 m above a point on the scene (nearer than 60 m), drawn toward
    the camera so it lights what is around it."""
    height, width = scene.distance.shape
    lamps: list[Light] = []
    wanted = int(rng.integers(2, 9))
    for _ in range(4 * wanted):
        y, x = int(rng.uniform(0.1, 0.9) * height), int(rng.uniform(0, width))
        if scene.distance[y, x] < 60:
            position = points[y, x] * rng.uniform(0.6, 0.95) - rng.uniform(1, 4) * DOWN
            lamps.append(Light(position, rng.uniform(1, 6), SODIUM if rng.uniform() < 0.5 else LED))
        if len(lamps) == wanted:
            break
    return lamps


def _overhead_lamp(scene: Scene, points: np.ndarray, rng: np.random.Generator) -> Light:
    """A spot 1.5-4 m above a point in the lower middle of the frame, shining down (a room's lamp)."""
    height, width = scene.distance.shape
    below = points[int(rng.uniform(0.5, 0.8) * height), int(rng.uniform(0.3, 0.7) * width)]
    position = below - rng.uniform(1.5, 4.0) * DOWN
    return Light(position, rng.uniform(5, 20), WARM, DOWN, rng.uniform(35, 60))


def _headlights(rng: np.random.Generator) -> Light:
    """The camera's own car: a 30-degree spot just below the camera, along the road."""
    axis = np.array([0.0, 0.08, 1.0]) / np.hypot(0.08, 1.0)
    return Light(np.array([0.0, 0.6, 0.0]), rng.uniform(8, 30), LED, axis, 30.0)


def night(scene: Scene, rng: np.random.Generator, severity: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Relight the scene as at night: a dim ambient, street lamps, half the time an overhead lamp and
    half the time headlights, shaded on normals from the depth; a dark sky (light-polluted orange or
    blue); glows where lamps are in view; shot and read noise."""
    points = scene.points()
    surface = normals(points)
    ambient = _lerp(0.06, 0.008, severity)
    lamps = _street_lamps(scene, points, rng)
    overhead, headlights = bool(rng.uniform() < 0.5), bool(rng.uniform() < 0.5)
    lamps += [_overhead_lamp(scene, points, rng)] * overhead
    lights = lamps + [_headlights(rng)] * headlights
    light = ambient * MOON + sum(lamp.irradiance(points, surface) for lamp in lights)
    sky = np.clip((scene.distance - 120) / 60, 0, 1)[..., None]
    sky_colour = rng.uniform(0.002, 0.012) * (SODIUM if rng.uniform() < 0.4 else NIGHT_SKY)
    linear = scene.linear * light * (1 - sky) + sky_colour * sky
    glows = [
        (
            *scene.project(lamp.position),
            float(np.clip(12 / np.linalg.norm(lamp.position), 1.4, 12)) * scene.scale,
        )
        for lamp in lamps
        if lamp.position[2] > 0.5
    ]
    linear = linear + _glow_layer(scene.distance.shape, glows)[..., None] * WARM
    shot, read = _lerp(0.002, 0.01, severity), _lerp(0.002, 0.012, severity)
    noise = rng.standard_normal(linear.shape) * np.sqrt(shot * np.clip(linear, 0, None) + read**2)
    return linear + noise, {
        "ambient": ambient,
        "lamps": len(lamps) - overhead,
        "overhead": overhead,
        "headlights": headlights,
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


Effect = Callable[[Scene, np.random.Generator, float], tuple[np.ndarray, dict[str, Any]]]
EFFECTS: dict[str, Effect] = {"fog": fog, "night": night, "rain": rain, "snow": snow}
"""Conditions of the whole frame (also the corruptions of ``evaluate``)."""
CONDITIONS = (*EFFECTS, *MATERIALS)


def _severity(rng: np.random.Generator, severity: float | None) -> float:
    """``severity`` in [0, 1], drawn from ``rng`` (in [0.3, 1]) unless given."""
    return float(rng.uniform(0.3, 1.0)) if severity is None else severity


def apply_condition(
    condition: str,
    image: np.ndarray,
    nearness: np.ndarray,
    rng: np.random.Generator,
    severity: float | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``image`` (uint8 RGB) turned into a whole-frame ``condition``; returns the uint8 result and
    its parameters."""
    if condition not in EFFECTS:
        raise ValueError(f"the physics backend cannot render '{condition}'; it knows {', '.join(EFFECTS)}")
    severity = _severity(rng, severity)
    scene = Scene.from_image(image, nearness)
    linear, params = EFFECTS[condition](scene, rng, severity)
    return scene.encode(linear), {"severity": round(severity, 4), **params}


def apply_material(
    condition: str,
    image: np.ndarray,
    nearness: np.ndarray,
    objects: np.ndarray | None,
    rng: np.random.Generator,
    severity: float | None = None,
) -> Generated:
    """Regions of ``image`` made ``transparent`` or ``mirror``: the object instances of ``objects``
    (0 = background) if given, else regions proposed from the label. Only the region's pixels
    change, re-shaded and given the image's own grain; raises ``NoRegion`` if there is none to use."""
    severity = _severity(rng, severity)
    scene = Scene.from_image(image, nearness)
    regions = choose_regions(objects, scene.points(), scene.focal, rng)
    linear, params = MATERIALS[condition](scene, regions, rng, severity)
    mask = regions.mask
    noise = image_noise(image)
    shaded = scene.encode(linear[mask]).astype(np.float32) + rng.normal(0, noise, (int(mask.sum()), 3))
    result = image.copy()
    result[mask] = np.clip(shaded.round(), 0, 255).astype(np.uint8)
    params = {
        "severity": round(severity, 4),
        "regions": len(regions.each()),
        "region_source": regions.source,
        "noise": round(noise, 3),
        **params,
    }
    return Generated(result, params, region=mask)


def _generate(request: Request) -> Generated:
    rng, near = numpy_rng(request.seed), nearness(request.depth, request.space)
    if request.condition in MATERIALS:
        try:
            return apply_material(request.condition, request.image, near, request.objects, rng)
        except NoRegion as reason:
            return Generated(None, {}, skipped=str(reason))
    return Generated(*apply_condition(request.condition, request.image, near, rng))


class PhysicsGenerator:
    """The physics backend behind the common generator interface."""

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "physics",
            "revision": REVISION,
            "near_m": NEAR_M,
            "far_m": FAR_M,
            "fov_deg": FOV_DEG,
        }

    def batch_key(self, height: int, width: int) -> Any:
        return 0  # every request is made on its own

    def prepare(self, request: Request) -> Request:
        return request

    def __call__(self, requests: list[Request]) -> list[Generated]:
        return [_generate(request) for request in requests]
