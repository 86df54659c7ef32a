"""Screen-space ray tracing through an image lifted to 3D, for reflections and refractions.

A ray is marched through the lifted scene (``scene.Scene``) and meets the first pixel it passes
behind. What the image does not show is guessed from what it does: out of the frame and behind
the camera, the *surroundings*, the image seen as a panorama (rows by elevation, columns by
azimuth), blurred; behind the camera the world goes on as it does ahead, mirrored about the camera
plane (the way back down a street continues the way ahead).
Written here because no library traces rays through a single depth map; scipy.ndimage does the
filtering and the sampling.
"""

import numpy as np
from scipy import ndimage

from depthforge.generate.scene import Scene

STEPS = 48
"""Samples along a ray, spaced geometrically from 1% to 6 times its start's distance."""


def sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples ``[N, 3]`` of ``image`` at fractional pixels (clamped to the frame)."""
    coords = np.stack([rows, cols])
    return np.stack(
        [ndimage.map_coordinates(image[..., c], coords, order=1, mode="nearest") for c in range(3)], -1
    )


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([ndimage.gaussian_filter(image[..., c], sigma) for c in range(image.shape[-1])], -1)


def fill_in(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``image`` with its unknown pixels filled from the known ones around them (normalised box
    filters of growing size, so a pixel takes the nearest scale that reaches known pixels)."""
    filled, missing = image.copy(), ~known
    weight_of = known.astype(np.float32)
    for size in (3, 5, 9, 17, 33, 65):
        if not missing.any():
            break
        weight = ndimage.uniform_filter(weight_of, size)
        ready = missing & (weight > 0.02)
        sums = np.stack([ndimage.uniform_filter(image[..., c] * weight_of, size) for c in range(3)], -1)
        filled[ready] = sums[ready] / weight[ready, None]
        missing &= ~ready
    filled[missing] = image[known].mean(0) if known.any() else 0.5
    return filled


class Surroundings:
    """The world around the camera, guessed from ``world`` (the image with its regions filled in
    from around them: they are not out there): rows by elevation, columns by azimuth (mirrored
    beyond the frame's edges; behind the camera as ahead of it), blurred by ``sigma`` pixels."""

    def __init__(self, scene: Scene, world: np.ndarray, sigma: float) -> None:
        self.scene = scene
        self.image = blur(world, sigma)

    def __call__(self, directions: np.ndarray) -> np.ndarray:
        height, width = self.scene.distance.shape
        unit = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
        elevation = np.arcsin(np.clip(-unit[:, 1], -1, 1))
        rows = height / 2 - self.scene.focal * np.tan(np.clip(elevation, -1.3, 1.3))
        # What lies behind the camera looks like what lies ahead, mirrored about the camera plane
        # (the way back down a street continues the way ahead): a backward direction reads the view
        # at the same azimuth.
        azimuth = np.arctan2(unit[:, 0], np.abs(unit[:, 2]))
        across = azimuth / np.arctan(width / 2 / self.scene.focal)  # -1..1 in view
        across = np.abs((across + 1) % 4 - 2) - 1  # mirrored beyond the edges
        return sample(self.image, rows, width / 2 + across * width / 2)


def trace(
    scene: Scene, origins: np.ndarray, directions: np.ndarray, own: np.ndarray, surroundings: Surroundings
) -> np.ndarray:
    """Linear RGB ``[N, 3]`` of what each ray meets: the first scene pixel it passes behind
    (screen-space ray marching, ignoring the ``own`` pixels it starts from), else the surroundings.

    A ray going backward (as off a mirror facing the camera) is not marched: the lifted scene
    has nothing behind the camera, and its near geometry is a guess (relative depth has no known
    scale or shift). It takes the surroundings in its direction, mirrored about the camera plane:
    the far field of a world that goes on behind the camera as it does ahead (exact, in the limit,
    for a straight street), so a mirror facing the camera shows the way back down the street at
    the distance the street has there."""
    height, width = scene.distance.shape
    count = len(origins)
    hit_rows, hit_cols = np.zeros(count), np.zeros(count)
    hit, entered = np.zeros(count, bool), np.zeros(count, bool)
    done = directions[:, 2] < 0  # backward: the surroundings
    reach = np.linalg.norm(origins, axis=-1)
    previous = np.zeros(count)
    for scale in np.geomspace(0.01, 6.0, STEPS):
        t = reach * scale
        points = origins + t[:, None] * directions
        ahead = points[:, 2] > 1e-3
        z = np.where(ahead, points[:, 2], 1.0)
        rows = points[:, 1] / z * scene.focal + height / 2
        cols = points[:, 0] / z * scene.focal + width / 2
        inside = ahead & (rows >= 0) & (rows <= height - 1) & (cols >= 0) & (cols <= width - 1)
        done |= entered & ~inside  # a ray that has left the frame does not come back
        entered |= inside
        r = np.clip(np.rint(rows), 0, height - 1).astype(int)
        c = np.clip(np.rint(cols), 0, width - 1).astype(int)
        surface = scene.distance[r, c]
        thickness = 0.15 * surface + (t - previous) * np.abs(directions[:, 2])
        met = inside & ~done & ~own[r, c] & (z >= surface) & (z - surface < thickness)
        hit_rows[met], hit_cols[met] = rows[met], cols[met]
        hit |= met
        done |= met
        previous = t
    colours = surroundings(directions)
    if hit.any():
        colours[hit] = sample(scene.linear, hit_rows[hit], hit_cols[hit])
    return colours
