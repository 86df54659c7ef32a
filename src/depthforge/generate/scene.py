"""An easy image lifted to 3D from its label: the ground every weight-free effect works on.

Effects work in linear RGB on a pseudo-metric distance made from the label (relative inverse depth
mapped to 2-200 m, so sky ends far away), back-projected to camera-space points with an assumed
field of view: the backend knows no intrinsics.
"""

from dataclasses import dataclass

import numpy as np

NEAR_M, FAR_M = 2.0, 200.0
GAMMA = 2.2
FOV_DEG = 65.0  # the horizontal field of view assumed when the label is lifted to 3D


@dataclass(frozen=True)
class Scene:
    """A linear-RGB image ``[H, W, 3]`` in [0, 1] and its distance in pseudo-metres ``[H, W]``."""

    linear: np.ndarray
    distance: np.ndarray

    @classmethod
    def from_image(cls, image: np.ndarray, nearness: np.ndarray) -> "Scene":
        """A uint8 sRGB image and its nearness in [0, 1] (1 = nearest)."""
        return cls((image.astype(np.float32) / 255) ** GAMMA, pseudo_distance(nearness))

    @property
    def scale(self) -> float:
        """Image size relative to 240 px high, so effects look the same at any resolution."""
        return self.linear.shape[0] / 240

    @property
    def focal(self) -> float:
        """Focal length in pixels for the assumed field of view."""
        return self.distance.shape[1] / (2 * np.tan(np.radians(FOV_DEG) / 2))

    def points(self) -> np.ndarray:
        """Camera-space points ``[H, W, 3]`` (x right, y down, z forward) of every pixel, taking the
        distance as camera z (as depth labels are), so planes stay planes."""
        height, width = self.distance.shape
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        rays = np.stack([(xs - width / 2) / self.focal, (ys - height / 2) / self.focal, np.ones_like(xs)], -1)
        return rays * self.distance[..., None]

    def project(self, point: np.ndarray) -> tuple[float, float]:
        """The pixel ``(y, x)`` of a camera-space point in front of the camera."""
        height, width = self.distance.shape
        return point[1] / point[2] * self.focal + height / 2, point[0] / point[2] * self.focal + width / 2

    def encode(self, linear: np.ndarray) -> np.ndarray:
        """Linear RGB back to uint8 sRGB, clipped."""
        return (np.clip(linear, 0, 1) ** (1 / GAMMA) * 255).round().astype(np.uint8)


def pseudo_distance(nearness: np.ndarray) -> np.ndarray:
    """Nearness in [0, 1] (1 = nearest) -> distance from ``NEAR_M`` to ``FAR_M``, linear in inverse depth."""
    inverse = 1 / FAR_M + nearness * (1 / NEAR_M - 1 / FAR_M)
    return (1 / inverse).astype(np.float32)


def normals(points: np.ndarray) -> np.ndarray:
    """Unit surface normals from neighbouring points, turned to face the camera."""
    found = np.cross(np.gradient(points, axis=0), np.gradient(points, axis=1))
    found /= np.linalg.norm(found, axis=-1, keepdims=True) + 1e-9
    facing = np.sign(-(found * points).sum(-1, keepdims=True))
    return found * np.where(facing == 0, 1, facing)
