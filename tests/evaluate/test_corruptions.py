import json

import numpy as np
import pytest
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.evaluate import corruptions
from depthforge.evaluate.corruptions import (
    CORRUPTIONS,
    KITTI_C,
    PHYSICS,
    ROBODEPTH_OWN,
    canonical_name,
    corrupt,
)
from tests.conftest import smooth_image
from tests.evaluate.fixtures import evaluate_args, ramp_depth, write_generic

IMAGE = smooth_image(48, 64)
DEPTH = ramp_depth(48, 64)
FROM_IMAGECORRUPTIONS = [name for name in KITTI_C if name not in ROBODEPTH_OWN]


def change(name: str, level: int, seed: int = 0) -> float:
    corrupted = corrupt(IMAGE, name, level, np.random.default_rng(seed), DEPTH)
    return float(np.abs(corrupted.astype(int) - IMAGE).mean())


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_changes_the_image_and_follows_the_seed(name):
    a = corrupt(IMAGE, name, 3, np.random.default_rng(1), DEPTH)
    b = corrupt(IMAGE, name, 3, np.random.default_rng(1), DEPTH)
    assert a.shape == IMAGE.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - IMAGE).mean() > 0.5


@pytest.mark.parametrize(
    "name",
    ["gaussian_noise", "contrast", "defocus_blur", "fog", "dark", "color_quant", "iso_noise", "physics-fog"],
)
def test_severity_grows_with_the_level(name):
    changes = [change(name, level) for level in range(1, 6)]
    assert changes == sorted(changes) and len(set(changes)) == 5


@pytest.mark.parametrize("name", FROM_IMAGECORRUPTIONS)
def test_equals_imagecorruptions_with_the_drawn_seed_and_leaves_the_global_rng_alone(name):
    np.random.seed(123)
    ours = corrupt(IMAGE, name, 3, np.random.default_rng(7))
    after = np.random.random()
    np.random.seed(123)
    assert after == np.random.random()
    np.random.seed(int(np.random.default_rng(7).integers(2**32)))
    theirs = corruptions.imagecorruptions.corrupt(IMAGE, severity=3, corruption_name=name)
    assert np.array_equal(ours, theirs)


def test_names_are_robodepths_and_earlier_names_still_work():
    assert len(KITTI_C) == 18 and set(ROBODEPTH_OWN) == {"dark", "color_quant", "iso_noise"}
    assert sorted(FROM_IMAGECORRUPTIONS) == sorted(corruptions.imagecorruptions.get_corruption_names())
    assert PHYSICS == ("physics-fog", "physics-night", "physics-rain", "physics-snow")
    mapped = {"gaussian-noise": "gaussian_noise", "jpeg-compression": "jpeg_compression", "dark": "dark"}
    mapped |= {"night": "physics-night", "rain": "physics-rain", "fog": "fog", "physics-fog": "physics-fog"}
    assert {old: canonical_name(old) for old in mapped} == mapped
    old = corrupt(IMAGE, "motion-blur", 4, np.random.default_rng(2))
    assert np.array_equal(old, corrupt(IMAGE, "motion_blur", 4, np.random.default_rng(2)))


def test_bad_requests():
    with pytest.raises(ValueError, match="severity must be 1-5"):
        corrupt(IMAGE, "contrast", 6, np.random.default_rng(0))
    with pytest.raises(ValueError, match="'physics-night' condition needs depth"):
        corrupt(IMAGE, "night", 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown corruption 'lava'; known: brightness, dark, fog"):
        corrupt(IMAGE, "lava", 2, np.random.default_rng(0))


def test_evaluate_under_a_corruption_reports_dee_per_severity(tiny_models, tmp_path):
    root = write_generic(tmp_path / "bench", conditions=("day",), count=2)
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        evaluate_args([tiny_models["dpt"]], root, out, "--corruption", "night", "--severities", "1,3"),
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "summary.json").read_text())["results"][str(tiny_models["dpt"])]
    assert {"physics-night-1", "physics-night-3", "all"} <= results.keys()
    assert "physics-night-3 dee (score)" in (out / "report.md").read_text()
    assert len(list((out / "predictions").rglob("*.npy"))) == 4
