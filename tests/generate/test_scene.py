import numpy as np
import pytest

from depthforge.generate.scene import Scene, normals, pseudo_distance


def test_pseudo_distance_spans_near_to_far():
    distance = pseudo_distance(np.array([0.0, 1.0]))
    assert distance[0] == pytest.approx(200.0) and distance[1] == pytest.approx(2.0)


def flat_scene(distance=10.0, height=24, width=32):
    return Scene(np.full((height, width, 3), 0.5, np.float32), np.full((height, width), distance, np.float32))


def test_points_lie_at_their_depth_and_project_back_to_their_pixel():
    scene = flat_scene()
    points = scene.points()
    assert np.allclose(points[..., 2], 10.0)  # a constant depth map is a fronto-parallel plane
    assert np.allclose(points[12, 16], [0, 0, 10])
    for y, x in [(0, 0), (5, 30), (23, 7)]:
        assert scene.project(points[y, x]) == pytest.approx((y, x), abs=1e-4)
    assert np.allclose(normals(points), [0, 0, -1], atol=1e-5)  # facing the camera


def test_normals_of_the_ground_point_up():
    scene = flat_scene(height=24, width=32)
    rows = np.maximum(np.arange(24, dtype=np.float32)[:, None] - 12, 0.5)  # rows below the horizon
    ground = Scene(scene.linear, np.broadcast_to(1.5 * scene.focal / rows, (24, 32)).copy())
    points = ground.points()[13:]
    assert np.allclose(points[..., 1], 1.5, atol=1e-4)  # a plane 1.5 m below the camera
    assert np.allclose(normals(points), [0, -1, 0], atol=1e-4)
