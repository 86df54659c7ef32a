"""The shapes of transparent and mirror regions: which way each of their pixels faces.

What glass or a mirror shows depends on its normals, and the label of a small object is too coarse
to give them. So a region is first classed as an *object* standing in front of what is behind it,
or a *panel* lying on a surface; an object gets an upright shape facing the camera from its silhouette
(a flat front if it is wide, cylinders row by row under a flat top if it is tall), a panel the
plane fitted to its points.
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


def shapes(scene: Scene, regions: Regions, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Unit normals ``[H, W, 3]`` of every region's surface, facing the camera, and each region's
    kind. An ``object`` standing out is taken upright and facing the camera (a car along its road,
    a glass on its table): the label of a small object is too coarse to give its normals (a car
    often comes out as a bump of the road), while what a mirror or a glass shows depends on them.
    A wide object (a car, a box) gets a flat front; a tall one (a bottle, a pole) a cylinder
    bending by a random amount, under a flat top of random depth. A ``panel`` lying on a surface
    takes the plane fitted to the label's points there."""
    points = scene.points()
    found = np.zeros_like(points)
    kinds = []
    for mask in regions.each():
        if stands_out(scene.distance, mask, gap_px=max(2, round(2 * scene.scale))):
            rows, cols = np.nonzero(mask)
            height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
            tall = height > width
            bend = rng.uniform(0, 1.4) if tall else 0.0
            top_px = round(rng.uniform(0, 0.25) * height) if tall else 0
            found[mask] = upright_normals(mask, bend, top_px)
            kinds.append("object")
        else:
            found[mask] = fit_plane(points[mask])[1]
            kinds.append("panel")
    return found, kinds
