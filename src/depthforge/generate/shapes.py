"""The shapes of transparent and mirror regions: which way each of their pixels faces.

What glass or a mirror shows depends on its normals, and the label of a small object is too coarse
to give them. So a region is first classed as an *object* standing in front of what is behind it,
or a *panel* lying on a surface; an object gets an upright shape from its silhouette (cylinders
row by row, a flat top), turned and tilted at random, a panel the plane fitted to its points.
"""

import numpy as np
from scipy import ndimage

from depthforge.generate.regions import Regions, fit_plane
from depthforge.generate.scene import Scene


def stands_out(distance: np.ndarray, mask: np.ndarray, gap_px: int) -> bool:
    """Whether a region stands in front of what is behind it (an object) rather than lying on a
    surface (a panel): the pixels ``gap_px`` above its top edge are markedly farther than the edge."""
    rows, cols = np.nonzero(mask)
    tops = np.full(mask.shape[1], mask.shape[0])
    np.minimum.at(tops, cols, rows)
    columns = np.nonzero((tops < mask.shape[0]) & (tops >= gap_px))[0]
    if not columns.size:  # touching the top of the frame: compare with the pixels around it
        ring = ndimage.binary_dilation(mask, iterations=gap_px) & ~mask
        return bool(ring.any() and np.median(distance[ring]) > 1.15 * np.median(distance[mask]))
    ratio = distance[tops[columns] - gap_px, columns] / distance[tops[columns], columns]
    return bool(np.median(ratio) > 1.15)


def upright_normals(mask: np.ndarray, bend: float, top_px: int) -> np.ndarray:
    """Normals ``[N, 3]`` of an upright object shaped from its silhouette: each row a vertical
    cylinder turning by up to ``bend`` radians at its ends (0: a flat face, as a car's back;
    about 1.4: a bottle), under a flat top ``top_px`` rows deep that faces up (as seen from above)."""
    rows, cols = np.nonzero(mask)
    height, width = mask.shape
    left, right = np.full(height, width), np.full(height, -1)
    np.minimum.at(left, rows, cols)
    np.maximum.at(right, rows, cols)
    centre, half = (left + right) / 2, (right - left) / 2 + 0.5
    angle = np.clip((cols - centre[rows]) / half[rows], -1, 1) * bend
    found = np.stack([np.sin(angle), np.zeros_like(angle), -np.cos(angle)], -1)
    tops = np.full(width, height)
    np.minimum.at(tops, cols, rows)
    found[rows - tops[cols] < top_px] = [0.0, -1.0, 0.0]
    return found


TURN, TILT = 0.5, 0.3
"""Largest turn (about the vertical axis) and tilt (about the horizontal one) of an object's shape,
in radians: which way an object faces is not in its label."""


def _rotation(turn: float, tilt: float) -> np.ndarray:
    """A turn about the camera's y axis, then a tilt about its x axis."""
    cos_t, sin_t, cos_p, sin_p = np.cos(turn), np.sin(turn), np.cos(tilt), np.sin(tilt)
    about_y = np.array([[cos_t, 0, sin_t], [0, 1, 0], [-sin_t, 0, cos_t]])
    about_x = np.array([[1, 0, 0], [0, cos_p, -sin_p], [0, sin_p, cos_p]])
    return about_x @ about_y


def shapes(scene: Scene, regions: Regions, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Unit normals ``[H, W, 3]`` of every region's surface, facing the camera, and each region's
    kind. An ``object`` standing out gets an upright shape from its silhouette, turned and tilted
    at random: the label of a small object is too coarse to give its normals (a car often comes out
    as a bump of the road), while what a mirror or a glass shows depends on them. A ``panel`` lying
    on a surface takes the plane fitted to the label's points there."""
    points = scene.points()
    found = np.zeros_like(points)
    kinds = []
    for mask in regions.each():
        if stands_out(scene.distance, mask, gap_px=max(2, round(2 * scene.scale))):
            rows = np.nonzero(mask.any(1))[0]
            top_px = round(rng.uniform(0, 0.25) * (rows[-1] - rows[0] + 1))
            turn = _rotation(rng.uniform(-TURN, TURN), rng.uniform(-TILT, TILT))
            found[mask] = upright_normals(mask, rng.uniform(0, 1.4), top_px) @ turn.T
            kinds.append("object")
        else:
            found[mask] = fit_plane(points[mask])[1]
            kinds.append("panel")
    return found, kinds
