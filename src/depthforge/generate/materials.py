"""Transparent and mirror surfaces from the scene's own 3D: the physics backend's ToM conditions.

The easy image's label is lifted to camera-space points (``scene.Scene``); the chosen regions
(``regions.py``), given shapes (``shapes.py``), are re-shaded as if their surface were glass or
polished metal, and the label stays the easy label: the depth of the surface itself, which is what
a ToM benchmark scores.

- **mirror**: each pixel shows what its reflected ray meets (``tracing.py``), scaled by a
  reflectance and a faint tint.
- **transparent**: what lies behind the surface, farther away, with Fresnel reflection (Schlick,
  n = 1.5), an absorbing tint and dark rims. An object standing in front of the background shows
  the background (the image with its regions filled in from around them), shifted along its
  normals as through a lens; a panel lying on a surface (a window) shows a room behind it: a box
  extruded from the panel into the surface (interior mapping), its walls textured with darkened
  pieces of the image, so the glass shows a deep, dim interior with the right parallax.

Screen space rather than a Mitsuba re-render: a mesh lifted from one view has nothing behind its
objects (the background a glass must show) nor behind the camera (what a mirror facing it shows),
so a re-render would need the same guesses; and regions are a small share of the frame, so
marching a few hundred rays costs milliseconds on a CPU where a path-traced mesh costs seconds.
Everything random comes from the sample's generator.
"""

from typing import Any

import numpy as np
from scipy import ndimage

from depthforge.generate.regions import Regions, fit_plane
from depthforge.generate.scene import Scene
from depthforge.generate.shapes import shapes
from depthforge.generate.tracing import Surroundings, blur, fill_in, sample, trace

GLASS_F0 = 0.04  # normal-incidence reflectance of n = 1.5 glass
METAL_REFLECTANCE = (0.55, 0.97)  # polished steel and chrome .. aluminium and silver


def _reflections(
    scene: Scene, regions: Regions, facing: np.ndarray, surroundings: Surroundings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region pixel: the reflected colour, the view directions and the normals ``facing``."""
    mask = regions.mask
    points, normal = scene.points()[mask], facing[mask]
    view = points / np.linalg.norm(points, axis=-1, keepdims=True)
    # A surface turned away from the camera is not seen: bring such normals back to grazing.
    away = np.maximum((view * normal).sum(-1, keepdims=True) + 0.05, 0)
    normal = normal - away * view
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    reflected = view - 2 * (view * normal).sum(-1, keepdims=True) * normal
    return trace(scene, points, reflected, mask, surroundings), view, normal


def _world(scene: Scene, regions: Regions) -> np.ndarray:
    """The image without its regions: what is around and behind them."""
    return fill_in(scene.linear, ~ndimage.binary_dilation(regions.mask))


def mirror(
    scene: Scene, regions: Regions, rng: np.random.Generator, severity: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """Polished metal: the reflection, scaled by a reflectance and a faint tint; rougher (blurrier
    surroundings) as ``severity`` falls. The reflectance spans polished metals at normal
    incidence, from steel and chrome (about 0.55-0.65) to aluminium and silver (0.9-0.97)."""
    roughness = (1.0 + 3.0 * (1 - severity)) * scene.scale
    facing, kinds = shapes(scene, regions, rng)
    colour, _, _ = _reflections(
        scene, regions, facing, Surroundings(scene, _world(scene, regions), roughness)
    )
    reflectance = rng.uniform(*METAL_REFLECTANCE)
    tint = 1 + rng.uniform(-0.06, 0.06, 3)
    linear = scene.linear.copy()
    linear[regions.mask] = colour * reflectance * tint
    return linear, {
        "reflectance": round(reflectance, 4),
        "tint": tint.round(4).tolist(),
        "blur_px": round(roughness, 3),
        "shapes": kinds,
    }


def _rim(mask: np.ndarray, width: float) -> np.ndarray:
    """1 on a region's outline, falling to 0 ``width`` pixels inside."""
    inside = ndimage.distance_transform_edt(mask)
    return np.clip(1 - (inside - 1) / max(width, 1e-6), 0, 1)


def _behind_object(
    mask: np.ndarray, facing: np.ndarray, background: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """What a glass object standing in front of the background shows: the background, seen through
    a lens that shifts it along the normals (sampled from the image where that lands outside)."""
    rows, cols = np.nonzero(mask)
    radius = np.sqrt(mask.sum() / np.pi)
    strength = rng.uniform(0.4, 1.2) * radius
    shifted_rows = rows - facing[mask][:, 1] * strength
    shifted_cols = cols - facing[mask][:, 0] * strength
    return sample(background, shifted_rows, shifted_cols)


def _to_wall(start: np.ndarray, step: np.ndarray, low: float, high: float) -> np.ndarray:
    """How far each ray, at ``start`` and moving by ``step`` per unit, goes to the wall at ``low``
    or ``high`` it moves toward (infinitely far if it moves toward neither)."""
    bound = np.where(step > 0, high, low)
    return np.divide(bound - start, step, out=np.full_like(step, np.inf), where=np.abs(step) > 1e-9)


def _behind_panel(scene: Scene, mask: np.ndarray, rng: np.random.Generator, source: np.ndarray) -> np.ndarray:
    """What a glass panel on a surface shows: the room behind it (interior mapping). The room is
    the panel's rectangle extruded into the surface; each view ray goes on from the panel to the
    back wall, a side wall or the floor or ceiling, whichever it meets first."""
    points = scene.points()[mask]
    centre, normal = fit_plane(points)
    up = np.array([0.0, -1.0, 0.0]) + normal[1] * normal
    up = up / np.linalg.norm(up) if np.linalg.norm(up) > 1e-3 else np.array([0.0, 0.0, 1.0])
    right = np.cross(up, normal)
    across, along = (points - centre) @ right, (points - centre) @ up
    low, high = np.array([across.min(), along.min()]), np.array([across.max(), along.max()])
    deep = rng.uniform(0.8, 2.5) * max(high - low)
    view = points / np.linalg.norm(points, axis=-1, keepdims=True)
    inward = -(view @ normal)
    travel = np.stack(
        [
            deep / np.maximum(inward, 1e-6),  # the back wall
            _to_wall(across, view @ right, low[0], high[0]),  # a side wall
            _to_wall(along, view @ up, low[1], high[1]),  # the floor or the ceiling
        ],
        -1,
    )
    wall = np.argmin(travel, -1)
    distance = travel[np.arange(len(wall)), wall]
    # Where the ray meets its wall, in [0, 1] across the room, up it and into it.
    x = np.clip((across + distance * (view @ right) - low[0]) / (high[0] - low[0] + 1e-9), 0, 1)
    y = np.clip((along + distance * (view @ up) - low[1]) / (high[1] - low[1] + 1e-9), 0, 1)
    z = np.clip(distance * inward / deep, 0, 1)
    u, v = np.where(wall == 1, z, x), np.where(wall == 2, z, y)
    size = np.array(mask.shape, float)
    patch = rng.uniform(0.15, 0.4) * size
    offset = rng.uniform(0, 1, 2) * (size - patch)
    texture = sample(source, offset[0] + v * patch[0], offset[1] + u * patch[1])
    shade = np.array([1.0, 0.6, 0.45])[wall] * (1 - 0.6 * z)
    return texture * shade[:, None] * rng.uniform(0.15, 0.5)


def transparent(
    scene: Scene, regions: Regions, rng: np.random.Generator, severity: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """Glass: the background or a room behind each region, refracted, tinted, with Fresnel
    reflection of the surroundings and dark rims; the tint deepens with ``severity``."""
    facing, kinds = shapes(scene, regions, rng)
    background = _world(scene, regions)
    surroundings = Surroundings(scene, background, 1.5 * scene.scale)
    reflection, view, normal = _reflections(scene, regions, facing, surroundings)
    blurred = blur(scene.linear, scene.scale)
    behind = np.zeros_like(scene.linear)
    for mask, kind in zip(regions.each(), kinds, strict=True):
        if kind == "object":
            behind[mask] = _behind_object(mask, facing, background, rng)
        else:
            behind[mask] = _behind_panel(scene, mask, rng, blurred)
    cosine = np.abs((view * normal).sum(-1))
    fresnel = (GLASS_F0 + (1 - GLASS_F0) * (1 - cosine) ** 5)[:, None]
    absorption = rng.uniform(0.0, 0.6, 3) * severity
    tint = np.exp(-absorption)
    rim = _rim(regions.mask, max(1.0, scene.scale))[regions.mask][:, None] * rng.uniform(0.15, 0.5)
    glass = (1 - fresnel) * behind[regions.mask] * tint + fresnel * reflection
    glass = glass * (1 - rim) + 0.2 * rim * reflection
    linear = scene.linear.copy()
    linear[regions.mask] = glass
    return linear, {"tint": tint.round(4).tolist(), "shapes": kinds}


def image_noise(image: np.ndarray) -> float:
    """The image's own pixel noise in 8-bit levels: a robust spread of what a small blur removes,
    so that re-shaded pixels can be as grainy as the rest (a smooth patch in a grainy frame would
    give the material away)."""
    grey = image.astype(np.float32).mean(-1)
    residual = grey - ndimage.gaussian_filter(grey, 1.0)
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))))


MATERIALS = {"transparent": transparent, "mirror": mirror}
