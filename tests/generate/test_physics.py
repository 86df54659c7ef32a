import numpy as np
import pytest

from depthforge.generate.physics import EFFECTS, Light, apply_condition
from tests.conftest import smooth_image


def ramp(height=48, width=64):
    """Nearness falling from 1 (bottom) to 0 (top)."""
    return np.tile(np.linspace(0, 1, height, dtype=np.float32)[:, None], (1, width))


def luminance(image):
    return (image.astype(np.float64) @ [0.2126, 0.7152, 0.0722]).mean()


def test_fog_brings_farther_pixels_closer_to_the_airlight():
    image = np.full((48, 64, 3), (40, 90, 30), np.uint8)
    fogged, params = apply_condition("fog", image, ramp(), np.random.default_rng(0))
    airlight = (np.array(params["airlight"]) ** (1 / 2.2)) * 255
    gap = np.abs(fogged[:, 0].astype(float) - airlight).sum(axis=1)  # one column, far (top) to near
    assert gap[0] < gap[24] < gap[-1]
    assert np.all(np.diff(gap) >= -1.5)  # monotone up to 8-bit rounding


def test_night_is_far_darker_than_day_away_from_the_lamps():
    image = smooth_image(48, 64)
    eighty_metres = np.full((48, 64), (1 / 80 - 1 / 200) / (1 / 2 - 1 / 200), np.float32)
    for seed in range(5):
        dark, _ = apply_condition("night", image, eighty_metres, np.random.default_rng(seed))
        assert luminance(dark) < 0.4 * luminance(image)


@pytest.mark.parametrize("condition", list(EFFECTS))
def test_identical_seeds_give_identical_outputs(condition):
    image = smooth_image(48, 64)
    a, params_a = apply_condition(condition, image, ramp(), np.random.default_rng(7))
    b, params_b = apply_condition(condition, image, ramp(), np.random.default_rng(7))
    c, _ = apply_condition(condition, image, ramp(), np.random.default_rng(8))
    assert a.tobytes() == b.tobytes() and params_a == params_b
    assert a.tobytes() != c.tobytes()
    assert a.shape == image.shape and a.dtype == np.uint8


def test_rain_and_snow_change_the_image():
    image = smooth_image(48, 64)
    for condition in ("rain", "snow"):
        changed, _ = apply_condition(condition, image, ramp(), np.random.default_rng(1))
        assert np.abs(changed.astype(int) - image).mean() > 5


def test_unknown_condition_is_refused():
    # Materials need regions: they are not whole-frame conditions.
    with pytest.raises(ValueError, match="cannot render 'mirror'"):
        apply_condition("mirror", smooth_image(8, 8), ramp(8, 8), np.random.default_rng(0))


def test_a_lamp_lights_near_surfaces_more_and_a_spot_nothing_outside_its_cone():
    points = np.array([[[0, 0, 10], [0, 0, 20], [5, 0, 10]]], np.float32)  # all facing the camera
    normals = np.tile(np.array([0, 0, -1], np.float32), (1, 3, 1))
    lamp = Light(np.array([0.0, 0.0, 0.0]), 100.0, np.ones(3))
    irradiance = lamp.irradiance(points, normals)[0, :, 0]
    assert irradiance[0] == pytest.approx(100 / 100.25)  # a lamp is 0.5 m across
    assert irradiance[0] > irradiance[2] > irradiance[1] > 0  # nearer, then off-axis, then farther
    spot = Light(np.array([0.0, 0.0, 0.0]), 100.0, np.ones(3), np.array([0.0, 0.0, 1.0]), 10.0)
    lit = spot.irradiance(points, normals)[0, :, 0]
    assert lit[0] == pytest.approx(irradiance[0]) and lit[2] == 0.0  # 26.6 degrees off the axis


def test_night_makes_the_sky_darker_than_the_lit_ground():
    image = np.full((48, 64, 3), 200, np.uint8)  # a bright, uniform day image
    for seed in range(5):
        dark, _ = apply_condition("night", image, ramp(), np.random.default_rng(seed))
        sky, ground = luminance(dark[:6]), luminance(dark[-12:])
        assert sky < 40 and sky < ground
