import numpy as np

from depthforge.generate.shapes import stands_out, upright_normals
from tests.generate.scenes import box_on_wall


def test_objects_stand_out_and_panels_lie_on_their_surface():
    scene, box = box_on_wall()
    panel = np.zeros_like(box)
    panel[40:46, 4:14] = True  # a patch of the wall
    assert stands_out(scene.distance, box, 2)
    assert not stands_out(scene.distance, panel, 2)


def test_upright_normals_face_the_camera_turn_at_the_flanks_and_up_on_top():
    _, box = box_on_wall()
    flat = upright_normals(box, bend=0.0, top_px=2)
    normals = np.zeros((*box.shape, 3))
    normals[box] = flat
    np.testing.assert_allclose(normals[18:20, 24:40], np.broadcast_to([0, -1, 0], (2, 16, 3)))
    np.testing.assert_allclose(normals[20:34, 24:40], np.broadcast_to([0, 0, -1], (14, 16, 3)), atol=1e-9)
    normals[box] = upright_normals(box, bend=1.2, top_px=0)
    assert normals[26, 24, 0] < -0.8 and normals[26, 39, 0] > 0.8  # the flanks face left and right
    np.testing.assert_allclose(np.linalg.norm(normals[box], axis=-1), 1.0)
