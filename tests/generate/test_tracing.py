import numpy as np

from depthforge.generate.tracing import Surroundings, fill_in, trace
from tests.generate.scenes import BOX, SKY, WALL, box_on_wall


def test_a_ray_meets_the_surface_it_passes_behind_and_misses_read_the_surroundings():
    scene, box = box_on_wall()
    origin = scene.points()[26, 32][None]  # on the box, looking further into the scene
    ahead = scene.points()[26, 10][None] - origin  # toward a wall pixel left of the box
    colour = trace(scene, origin, ahead, box, Surroundings(scene, fill_in(scene.linear, ~box), 0.5))
    np.testing.assert_allclose(colour[0], WALL, atol=1e-3)
    upward = np.array([[0.0, -1.0, 0.05]])  # leaves the frame at the top: the sky
    colour = trace(scene, origin, upward, box, Surroundings(scene, fill_in(scene.linear, ~box), 0.5))
    np.testing.assert_allclose(colour[0], SKY, atol=0.02)


def test_the_surroundings_never_show_the_regions_themselves():
    scene, box = box_on_wall()
    backward = np.array([[0.0, 0.05, -1.0]])  # behind the camera, at the box's height
    seen = Surroundings(scene, fill_in(scene.linear, ~box), 0.5)(backward)[0]
    assert np.abs(seen - BOX).sum() > 0.5 and np.abs(seen - WALL).sum() < 0.1
