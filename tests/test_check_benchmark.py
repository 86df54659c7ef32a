import numpy as np
from typer.testing import CliRunner

from depthforge.cli import app
from tests.evaluate.fixtures import write_booster, write_cached_lidar

runner = CliRunner()


def check(name, root):
    return runner.invoke(app, ["check-benchmark", name, "--root", str(root)])


def test_a_complete_folder_is_counted_per_condition(tmp_path):
    result = check("depth4tom-booster", write_booster(tmp_path / "booster"))
    assert result.exit_code == 0, result.output
    assert "2 samples ready" in result.stdout and "0 problems" in result.stdout


def test_missing_and_broken_files_are_named_and_the_rest_counted(tmp_path):
    root = write_booster(tmp_path / "booster")
    scene = root / "train" / "balanced" / "Bathroom"
    (scene / "camera_00" / "im1.png").write_bytes(b"not a png")
    result = check("depth4tom-booster", root)
    assert result.exit_code == 1 and "im1.png" in result.stderr
    assert "1 samples ready" in result.stdout and "1 problems" in result.stdout
    (scene / "calib_00-02.xml").unlink()
    result = check("depth4tom-booster", root)
    assert result.exit_code == 1 and "calib_00-02.xml: missing" in result.stderr


def test_published_split_sizes_and_samples_without_ground_truth(tmp_path):
    root = write_cached_lidar(tmp_path / "nuscenes")
    np.savez_compressed(root / "depth" / "t1.npz", depth=np.zeros((48, 64), np.float32))
    result = check("md4all-nuscenes", root)
    assert result.exit_code == 0, result.output
    assert "night: 0 readable, 1 without any valid ground truth" in result.stdout
    assert "all: 2 readable, the published split has 6019 (differs)" in result.stdout
    assert "unknown benchmark" in check("booster", root).stderr
