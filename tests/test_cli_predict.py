import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from depthforge.cli import app
from tests.conftest import smooth_image

runner = CliRunner()


def make_folder(root):
    (root / "sub").mkdir(parents=True)
    Image.fromarray(smooth_image(40, 60, 1)).save(root / "a.png")
    Image.fromarray(smooth_image(31, 45, 2)).save(root / "sub" / "b.jpg")
    Image.fromarray(smooth_image(40, 60, 3)).convert("L").save(root / "c.png")
    good = root / "d.jpg"
    Image.fromarray(smooth_image(64, 64, 4)).save(good, quality=95)
    (root / "truncated.jpg").write_bytes(good.read_bytes()[:300])
    return root


def test_predict_writes_every_good_image_and_one_line_for_the_bad_one(tiny_models, tmp_path):
    images = make_folder(tmp_path / "photos")
    out = tmp_path / "depth"
    result = runner.invoke(
        app, ["predict", str(images), "--model", str(tiny_models["zoedepth"]), "--out", str(out)]
    )
    assert result.exit_code == 1
    errors = [
        part for line in result.stderr.splitlines() for part in line.split("\r") if part.startswith("error:")
    ]
    assert len(errors) == 1 and "truncated.jpg" in errors[0]
    for name, shape in {"a": (40, 60), "sub/b": (31, 45), "c": (40, 60), "d": (64, 64)}.items():
        depth = np.load(out / f"{name}.npy")
        assert depth.shape == shape and depth.dtype == np.float32
        assert np.asarray(Image.open(out / f"{name}.png")).shape == (*shape, 3)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    assert {row["space"] for row in rows} == {"metric_depth"} and rows[0]["unit"] == "m"
    assert "truncated.jpg" in (out / "predict.log").read_text()
    assert "4 predicted" in result.stdout and "1 failed" in result.stdout


def test_rerun_resumes_and_a_clean_folder_exits_zero(tiny_models, tmp_path):
    images = make_folder(tmp_path / "photos")
    (images / "truncated.jpg").unlink()
    out = tmp_path / "depth"
    args = ["predict", str(images), "--model", str(tiny_models["depth-anything"]), "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    (out / "c.npy").unlink()
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert "1 predicted" in again.stdout and "3 already there" in again.stdout
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 5


def test_another_model_into_the_same_folder_is_refused(tiny_models, tmp_path):
    images = make_folder(tmp_path / "photos")
    out = tmp_path / "depth"
    runner.invoke(
        app, ["predict", str(images / "a.png"), "--model", str(tiny_models["dpt"]), "--out", str(out)]
    )
    other = runner.invoke(
        app, ["predict", str(images / "a.png"), "--model", str(tiny_models["zoedepth"]), "--out", str(out)]
    )
    assert other.exit_code == 2 and "holds predictions of model" in other.stderr


def test_unknown_model_is_one_clear_line_with_the_fix(tmp_path):
    Image.fromarray(smooth_image(16, 16)).save(tmp_path / "a.png")
    result = runner.invoke(
        app, ["predict", str(tmp_path), "--model", "nobody/nothing", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    expected = (
        "cannot load depth model 'nobody/nothing': it is not in the local cache and the hub cannot be "
        "reached (HF_HUB_OFFLINE=1 is set); download it where there is a network "
        "(`hf download nobody/nothing`)"
    )
    assert expected in result.stderr
    assert "Traceback" not in result.output
    typo = runner.invoke(
        app, ["predict", str(tmp_path), "--model", "depth-anything-v2-smal", "--out", str(tmp_path / "o")]
    )
    assert typo.exit_code == 2 and "did you mean 'depth-anything-v2-small'?" in typo.stderr
    assert not (tmp_path / "o").exists()


def test_inputs_without_images_stop_before_the_model_loads(tmp_path, monkeypatch):
    from depthforge.depth.model import DepthModel

    monkeypatch.setattr(DepthModel, "from_pretrained", lambda *a, **k: pytest.fail("model loaded"))
    (tmp_path / "empty").mkdir()
    for command in ("predict", "label"):
        result = runner.invoke(
            app, [command, str(tmp_path / "empty"), "-m", "simbench-teacher", "-o", str(tmp_path / "out")]
        )
        assert result.exit_code == 2 and f"no images in {tmp_path / 'empty'}" in result.stderr
        assert not (tmp_path / "out").exists()


def test_a_command_in_a_log_file_has_no_library_bars_and_progress_as_lines(tiny_models, tmp_path):
    import os
    import subprocess
    import sys

    Image.fromarray(smooth_image(32, 32)).save(tmp_path / "a.png")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"}
    }
    command = [sys.executable, "-m", "depthforge.cli", "predict", str(tmp_path / "a.png")]
    command += ["-m", str(tiny_models["dpt"]), "-o", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert "Loading weights" not in done.stderr and "\r" not in done.stderr
    assert "predict: 1/1 img (100%)" in done.stderr
