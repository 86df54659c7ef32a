"""md4all's RobotCar test ground truth from its precomputed point clouds, in a tiny root."""

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.evaluate.prepare import ROBOTCAR_CLOUDS, ROBOTCAR_SCENES

# The SDK's stereo model: the image frame (z ahead) is the camera frame (x ahead) rotated.
IMAGE_TO_CAMERA = [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
POINTS = np.array(  # camera frame: x ahead, y right, z down
    [
        [10.0, 0.0, 0.0],  # -> pixel (32, 24), 10 m
        [5.0, 1.0, 0.5],  # -> (52, 34), 5 m
        [4.0, 0.004, 0.0],  # -> (32.1, 24), the same pixel, nearer: kept
        [10.0, -3.16, 0.0],  # -> u = 0.4, under the SDK's 0.5: dropped
        [-5.0, 0.0, 0.0],  # behind the camera: dropped
    ],
    np.float32,
)


def write_robotcar(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    rows = ["100 100 32 24", *(" ".join(map(str, row)) for row in IMAGE_TO_CAMERA)]
    (root / "models" / "stereo_wide_left.txt").write_text("\n".join(rows) + "\n")
    (root / "splits").mkdir()
    for index, scene in enumerate(ROBOTCAR_SCENES):
        stamp = f"14181325045375{index:02d}"
        (root / "splits" / f"{scene}_test.txt").write_text(f"{stamp}\n")
        (root / scene / "stereo" / "left").mkdir(parents=True)
        Image.new("RGB", (64, 48), (80, 80, 80)).save(root / scene / "stereo" / "left" / f"{stamp}.png")
        clouds = root / scene / ROBOTCAR_CLOUDS
        clouds.mkdir(parents=True)
        np.ascontiguousarray(POINTS.T).tofile(clouds / f"{stamp}.pcd.bin")  # 3 x N, as md4all stores it
    return root


def prepare(root, out):
    return CliRunner().invoke(app, ["prepare-robotcar", "--dataroot", str(root), "--out", str(out)])


def test_md4all_robotcar_ground_truth(tmp_path):
    root, out = write_robotcar(tmp_path / "robotcar"), tmp_path / "prepared"
    result = prepare(root, out)
    assert result.exit_code == 0, result.output
    assert "day-clear: 1" in result.stdout and "night-clear: 1" in result.stdout
    assert "md4all's split has 1411 frames in all, this one 2" in result.stdout
    depth = np.load(out / "depth" / "2014-12-09-13-21-02" / "1418132504537500.npz")["depth"]
    assert depth.shape == (48, 64) and np.count_nonzero(depth) == 2
    assert depth[24, 32] == 4.0 and depth[34, 52] == 5.0
    assert "0 frames prepared into" in prepare(root, out).stdout
    checked = CliRunner().invoke(app, ["check-benchmark", "md4all-robotcar", "--root", str(out)])
    assert checked.exit_code == 0 and "2 samples ready" in checked.stdout


def test_a_missing_split_or_camera_model_is_one_line(tmp_path):
    root = write_robotcar(tmp_path / "robotcar")
    (root / "splits" / "2014-12-16-18-44-24_test.txt").unlink()
    result = prepare(root, tmp_path / "out")
    assert result.exit_code == 2 and "2014-12-16-18-44-24_test.txt: missing" in result.stderr
    (root / "models" / "stereo_wide_left.txt").write_text("not numbers\n")
    result = prepare(root, tmp_path / "out")
    assert result.exit_code == 2 and "stereo_wide_left.txt: cannot read the camera model" in result.stderr
