import numpy as np
import pytest

from depthforge.generate.regions import (
    NoRegion,
    choose_regions,
    fit_plane,
    min_pixels,
    panels,
    standing_objects,
)
from depthforge.generate.scene import Scene

BOX = (slice(18, 30), slice(26, 38))


def wall_with_box(height=48, width=64):
    """Points of a wall at 20 m under a band of sky (200 m), with a box at 6 m in the middle."""
    distance = np.full((height, width), 20.0, np.float32)
    distance[:6] = 200.0
    distance[BOX] = 6.0
    return Scene(np.zeros((height, width, 3), np.float32), distance)


def test_given_objects_are_used_and_each_is_kept_or_not_by_the_seed():
    scene = wall_with_box()
    objects = np.zeros((48, 64), np.uint8)
    objects[8:14, 2:8], objects[BOX], objects[40:46, 50:60], objects[0, 0] = 1, 2, 3, 4
    kept = []
    for seed in range(20):
        regions = choose_regions(objects, scene.points(), scene.focal, np.random.default_rng(seed))
        assert regions.source == "objects" and regions.mask.any()
        assert not regions.mask[0, 0]  # one pixel is too small to show a material
        assert not (regions.mask & (objects == 0)).any()
        kept.append(len(regions.each()))
    assert min(kept) >= 1 and max(kept) == 3 and len(set(kept)) > 1


def test_too_small_objects_are_a_named_reason():
    scene = wall_with_box()
    objects = np.zeros((48, 64), np.uint8)
    objects[:2, :2] = 1
    assert min_pixels((48, 64)) > 4
    with pytest.raises(NoRegion, match="no object of at least"):
        choose_regions(objects, scene.points(), scene.focal, np.random.default_rng(0))


def test_without_objects_a_box_standing_out_is_proposed():
    scene = wall_with_box()
    found = standing_objects(scene.distance)
    assert len(found) == 1
    box = np.zeros((48, 64), bool)
    box[BOX] = True
    assert (found[0] & box).sum() / (found[0] | box).sum() > 0.8


def test_panels_lie_on_an_upright_surface_never_across_nor_on_the_sky():
    scene = wall_with_box()
    points = scene.points()
    found = panels(points, scene.focal, np.random.default_rng(1), count=3)
    assert found
    for mask in found:
        depths = scene.distance[mask]
        assert np.ptp(depths) < 1e-3 and depths[0] < 200  # all on the wall or all on the box
        _, normal = fit_plane(points[mask])
        np.testing.assert_allclose(np.abs(normal), [0, 0, 1], atol=1e-3)


def test_a_frame_of_sky_and_road_has_no_region_and_says_why():
    distance = np.full((32, 32), 200.0, np.float32)
    rows = np.arange(16, 32, dtype=np.float32)[:, None] - 15.5
    distance[16:] = np.broadcast_to(1.5 * 25 / rows, (16, 32))  # a flat road below the horizon
    scene = Scene(np.zeros((32, 32, 3), np.float32), distance)
    with pytest.raises(NoRegion, match="no object stands out in its label and no smooth upright surface"):
        choose_regions(None, scene.points(), scene.focal, np.random.default_rng(0))


def test_overlapping_proposals_never_leave_an_empty_region():
    scene = wall_with_box()
    for seed in range(30):
        regions = choose_regions(None, scene.points(), scene.focal, np.random.default_rng(seed))
        assert all(mask.sum() >= min_pixels((48, 64)) for mask in regions.each())
