"""Where a transparent or mirror surface goes: the objects an easy image comes with, or regions
picked from the image's own 3D.

An object generator knows its objects (SimBench training renders write an instance map, 0 =
background, every other value one object). Without one, two kinds of region are proposed from
the label alone: **objects** that stand in front of their surroundings (a white top-hat of the
inverse depth: compact regions, clear of the frame's edges, markedly nearer than what is around
them), and **panels** on an upright smooth surface (a rectangle in the surface's own plane, as a
window or a wall mirror is; not on floors, nor on the farthest surface, the sky). Each usable
region is kept with probability ``KEEP``, at least one, drawn from the sample's generator.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

KEEP = 0.75
MIN_FRACTION = 0.001
"""Regions smaller than this share of the image (and than ``MIN_PIXELS``) are too small to use."""
MIN_PIXELS = 9
MAX_FRACTION = 0.3
"""Larger objects are surfaces of the scene (road, wall); proposed regions stop at ``MAX_PROPOSED``."""
MAX_PROPOSED = 0.08


class NoRegion(ValueError):
    """A sample has no usable region; the message says why."""


@dataclass(frozen=True)
class Regions:
    """The chosen regions of one sample: an instance map (0 = none) and where they came from."""

    instances: np.ndarray
    source: str

    @property
    def mask(self) -> np.ndarray:
        return self.instances > 0

    def each(self) -> list[np.ndarray]:
        return [self.instances == index for index in range(1, int(self.instances.max()) + 1)]


def min_pixels(shape: tuple[int, int]) -> int:
    return max(MIN_PIXELS, round(MIN_FRACTION * shape[0] * shape[1]))


def instance_masks(objects: np.ndarray) -> list[np.ndarray]:
    """One mask per object of an instance map, in id order."""
    return [objects == value for value in np.unique(objects) if value != 0]


def standing_objects(distance: np.ndarray, relief: float = 0.12) -> list[np.ndarray]:
    """Compact regions clear of the frame's edges whose inverse depth stands out by more than
    ``relief`` (relative) from the largest structures around them."""
    inverse = 1 / distance
    size = max(3, round(0.4 * min(distance.shape)))
    raised = ndimage.white_tophat(inverse, size=size) / inverse > relief
    labels, _ = ndimage.label(ndimage.binary_opening(raised))
    found = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        touches = box[0].start == 0 or box[1].start == 0
        touches |= box[0].stop == distance.shape[0] or box[1].stop == distance.shape[1]
        mask = labels == index
        compact = mask[box].mean() >= 0.3
        if compact and not touches:
            found.append(mask)
    return found


def _plane_axes(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-plane unit axes: ``right`` (horizontal) and ``up`` (the camera's up, y is down)."""
    up = np.array([0.0, -1.0, 0.0]) - normal * -normal[1]
    if np.linalg.norm(up) < 1e-3:  # a floor or ceiling seen from straight above or below
        up = np.array([0.0, 0.0, 1.0]) - normal * normal[2]
    up /= np.linalg.norm(up)
    return np.cross(up, normal), up


def fit_plane(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid and unit normal (facing the camera at the origin) of points ``[N, 3]``."""
    centre = points.mean(0)
    normal = np.linalg.svd(points - centre, full_matrices=False)[2][-1]
    return centre, normal if normal @ centre < 0 else -normal


def panels(
    points: np.ndarray,
    focal: float,
    rng: np.random.Generator,
    count: int,
    flatness: float = 0.03,
) -> list[np.ndarray]:
    """Up to ``count`` rectangles, each in the plane of a smooth upright patch of surface around a
    random pixel and kept to the pixels of that surface (within ``flatness`` of the plane, relative)."""
    height, width = points.shape[:2]
    found = []
    for _ in range(4 * count):
        y, x = (
            int(rng.integers(height // 8, height - height // 8)),
            int(rng.integers(width // 8, width - width // 8)),
        )
        reach = max(2, min(height, width) // 16)
        patch = points[max(0, y - reach) : y + reach + 1, max(0, x - reach) : x + reach + 1].reshape(-1, 3)
        centre, normal = fit_plane(patch)
        off_plane = np.abs((patch - centre) @ normal) / np.linalg.norm(centre)
        if off_plane.max() > flatness or abs(normal[1]) > 0.5 or centre[2] > 0.8 * points[..., 2].max():
            continue  # not a smooth upright surface there (or the sky)
        right, up = _plane_axes(normal)
        half_width = np.linalg.norm(centre) * np.tan(np.radians(rng.uniform(3, 9)))
        half_height = half_width * rng.uniform(0.5, 1.6)
        corners = [
            centre + sx * half_width * right + sy * half_height * up
            for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
        ]
        if min(corner[2] for corner in corners) <= 0:
            continue
        polygon = [(c[0] / c[2] * focal + width / 2, c[1] / c[2] * focal + height / 2) for c in corners]
        canvas = Image.new("1", (width, height))
        ImageDraw.Draw(canvas).polygon(polygon, fill=1)
        on_plane = np.abs((points - centre) @ normal) < flatness * np.linalg.norm(points, axis=-1)
        mask = np.asarray(canvas, bool) & on_plane
        if mask.any():
            found.append(mask)
        if len(found) == count:
            break
    return found


def usable(
    masks: list[np.ndarray], shape: tuple[int, int], largest: float = MAX_FRACTION
) -> list[np.ndarray]:
    """The masks large enough to show a material and small enough to be an object."""
    low, high = min_pixels(shape), largest * shape[0] * shape[1]
    return [mask for mask in masks if low <= mask.sum() <= high]


def choose_regions(
    objects: np.ndarray | None,
    points: np.ndarray,
    focal: float,
    rng: np.random.Generator,
) -> Regions:
    """The regions of one sample: each usable object (or proposed region) kept with probability
    ``KEEP``, at least one; raises ``NoRegion`` naming why when there is none."""
    shape = points.shape[:2]
    if objects is not None:
        candidates, source = usable(instance_masks(objects), shape), "objects"
        if not candidates:
            raise NoRegion(f"no object of at least {min_pixels(shape)} pixels in its object map")
    else:
        proposed = standing_objects(points[..., 2]) + panels(
            points, focal, rng, count=int(rng.integers(1, 4))
        )
        proposed = usable(proposed, shape, MAX_PROPOSED)
        candidates, source = proposed, "proposed"
        if not candidates:
            raise NoRegion("no object stands out in its label and no smooth upright surface was found")
    keep = rng.uniform(size=len(candidates)) < KEEP
    keep[int(rng.integers(len(candidates)))] = True
    instances = np.zeros(shape, np.uint8)
    for mask in (m for m, k in zip(candidates, keep, strict=True) if k):
        free = mask & (instances == 0)  # proposals may overlap: a pixel goes to the first
        if free.sum() >= min_pixels(shape):
            instances[free] = instances.max() + 1
    if not instances.any():
        raise NoRegion("its regions overlap, leaving none large enough")
    return Regions(instances, source)
