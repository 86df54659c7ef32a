import numpy as np
import pytest

from depthforge.generate.materials import mirror, transparent
from depthforge.generate.physics import apply_material
from depthforge.generate.regions import NoRegion, Regions
from depthforge.generate.shapes import shapes
from tests.generate.scenes import BOX, WALL, box_on_wall


def test_a_flat_mirror_facing_the_camera_shows_the_world_behind_the_camera_as_it_goes_on_ahead():
    scene, box = box_on_wall()
    linear, params = mirror(scene, Regions(box.astype(np.uint8), "objects"), np.random.default_rng(0), 1.0)
    shown = linear[box].mean(0)
    assert np.abs(shown - BOX).sum() > 0.5  # no longer the red box
    # Behind the camera, at the box's elevations, the world goes on as the wall: the wall's colour,
    # dimmed by the metal's reflectance.
    ratio = shown / WALL
    assert ratio.min() > 0.5 and ratio.max() < 1.1 and ratio.max() / ratio.min() < 1.2
    assert params["shapes"] == ["object"]
    np.testing.assert_array_equal(linear[~box], scene.linear[~box])


def test_wide_objects_get_a_flat_front_and_tall_ones_a_cylinder():
    scene, box = box_on_wall()
    tall = np.zeros_like(box)
    tall[14:34, 8:14] = True
    scene.distance[tall] = 5.0
    facing, kinds = shapes(
        scene, Regions(box.astype(np.uint8) + 2 * tall.astype(np.uint8), "objects"), np.random.default_rng(0)
    )
    assert kinds == ["object", "object"]
    np.testing.assert_allclose(facing[box], np.tile([0.0, 0.0, -1.0], (int(box.sum()), 1)))
    sideways = facing[tall][:, 0]
    assert sideways.min() < -0.1 and sideways.max() > 0.1  # its sides turn away


def test_glass_shows_what_lies_behind_an_object_and_a_dim_room_behind_a_panel():
    scene, box = box_on_wall()
    panel = np.zeros_like(box)
    panel[38:46, 4:20] = True
    instances = box.astype(np.uint8) + 2 * panel.astype(np.uint8)
    linear, params = transparent(scene, Regions(instances, "objects"), np.random.default_rng(0), 0.3)
    assert params["shapes"] == ["object", "panel"]
    behind_box = linear[box].mean(0)
    assert np.abs(behind_box - BOX).sum() > np.abs(behind_box - WALL).sum()  # the wall shows through
    assert linear[panel].mean() < 0.6 * scene.linear[panel].mean()  # a room behind a window is dim


def test_only_the_region_changes_and_the_same_seed_gives_the_same_bytes():
    scene, box = box_on_wall()
    image = scene.encode(scene.linear)
    nearness = 1 - scene.distance / 20
    objects = box.astype(np.uint8)
    for condition in ("transparent", "mirror"):
        a = apply_material(condition, image, nearness, objects, np.random.default_rng(3))
        b = apply_material(condition, image, nearness, objects, np.random.default_rng(3))
        assert a.image.tobytes() == b.image.tobytes() and a.params == b.params
        changed = (a.image != image).any(-1)
        assert changed.any() and not (changed & ~a.region).any()
        np.testing.assert_array_equal(a.region, box)


def test_no_usable_region_raises_naming_why():
    scene, _ = box_on_wall()
    image = scene.encode(scene.linear)
    speck = np.zeros(image.shape[:2], np.uint8)
    speck[5, 5] = 1
    with pytest.raises(NoRegion, match="no object of at least"):
        apply_material("mirror", image, np.zeros(image.shape[:2]), speck, np.random.default_rng(0))
