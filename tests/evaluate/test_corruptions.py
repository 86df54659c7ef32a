import json

import numpy as np
import pytest
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.evaluate.corruptions import CORRUPTIONS, IMAGE_CORRUPTIONS, corrupt
from tests.conftest import smooth_image
from tests.evaluate.fixtures import evaluate_args, ramp_depth, write_generic

IMAGE = smooth_image(48, 64)
DEPTH = ramp_depth(48, 64)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_changes_the_image_and_follows_the_seed(name):
    a = corrupt(IMAGE, name, 3, np.random.default_rng(1), DEPTH)
    b = corrupt(IMAGE, name, 3, np.random.default_rng(1), DEPTH)
    assert a.shape == IMAGE.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - IMAGE).mean() > 0.5


@pytest.mark.parametrize("name", ["gaussian-noise", "contrast", "defocus-blur", "fog", "dark"])
def test_severity_5_is_stronger_than_1(name):
    change = [
        np.abs(corrupt(IMAGE, name, level, np.random.default_rng(0), DEPTH).astype(int) - IMAGE).mean()
        for level in (1, 5)
    ]
    assert change[1] > change[0]


def test_bad_requests():
    with pytest.raises(ValueError, match="severity must be 1-5"):
        corrupt(IMAGE, "contrast", 6, np.random.default_rng(0))
    with pytest.raises(ValueError, match="needs depth"):
        corrupt(IMAGE, "fog", 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(IMAGE, "lava", 2, np.random.default_rng(0))
    assert len(IMAGE_CORRUPTIONS) == 10


def test_evaluate_under_a_corruption_reports_dee_per_severity(tiny_models, tmp_path):
    root = write_generic(tmp_path / "bench", conditions=("day",), count=2)
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        evaluate_args([tiny_models["dpt"]], root, out, "--corruption", "night", "--severities", "1,3"),
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "summary.json").read_text())["results"][str(tiny_models["dpt"])]
    assert {"night-1", "night-3", "all"} <= results.keys()
    assert "night-3 dee (score)" in (out / "report.md").read_text()
    assert len(list((out / "predictions").rglob("*.npy"))) == 4
