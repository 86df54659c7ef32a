"""A tiny nuScenes-format dataroot (the devkit's tables, two scenes of one keyframe each) prepared
with md4all's rules."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.evaluate.prepare import condition_of

pytest.importorskip("nuscenes", reason="the nuScenes devkit (depthforge[nuscenes])")

K = [[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]]
IDENTITY = {"translation": [0.0, 0.0, 0.0], "rotation": [1.0, 0.0, 0.0, 0.0]}
POINTS = np.array(  # LiDAR frame = camera frame (identity calibration and poses): x right, y down, z ahead
    [
        [0.0, 0.0, 10.0],  # -> pixel (32, 24), 10 m
        [1.0, 0.5, 5.0],  # -> (52, 34), 5 m
        [0.2, 0.1, 0.5],  # 0.5 m: nearer than 1 m, dropped
        [-3.15, 0.0, 10.0],  # -> x = 0.5: inside the image, but within its 1-px border: dropped
        [0.004, 0.0, 4.0],  # -> (32.1, 24): the same pixel as the first, written later: 4 m
    ],
    np.float32,
)


def write_nuscenes(root: Path) -> Path:
    tables: dict[str, list] = {name: [] for name in ("category", "attribute", "visibility", "instance")}
    tables["sample_annotation"] = []
    tables["sensor"] = [
        {"token": "s-lidar", "channel": "LIDAR_TOP", "modality": "lidar"},
        {"token": "s-cam", "channel": "CAM_FRONT", "modality": "camera"},
    ]
    tables["calibrated_sensor"] = [
        {"token": "c-lidar", "sensor_token": "s-lidar", "camera_intrinsic": [], **IDENTITY},
        {"token": "c-cam", "sensor_token": "s-cam", "camera_intrinsic": K, **IDENTITY},
    ]
    tables["ego_pose"] = [{"token": "pose", "timestamp": 0, **IDENTITY}]
    tables["log"] = [{"token": "log", "logfile": "", "vehicle": "", "date_captured": "", "location": ""}]
    tables["map"] = [{"token": "map", "log_tokens": ["log"], "category": "", "filename": "maps/map.png"}]
    tables["scene"], tables["sample"], tables["sample_data"] = [], [], []
    for index, description in enumerate(["Night, parked cars, ped crossing", "Rain, intersection"]):
        sample, stem = f"sample{index}", f"n000-2018__CAM_FRONT__{index:04d}"
        tables["scene"].append(
            {"token": f"scene{index}", "name": f"scene-{index:04d}", "description": description,
             "log_token": "log", "nbr_samples": 1, "first_sample_token": sample, "last_sample_token": sample}
        )  # fmt: skip
        tables["sample"].append(
            {"token": sample, "timestamp": index, "scene_token": f"scene{index}", "prev": "", "next": ""}
        )
        common = {"sample_token": sample, "ego_pose_token": "pose", "is_key_frame": True, "timestamp": index,
                  "prev": "", "next": ""}  # fmt: skip
        lidar = f"samples/LIDAR_TOP/{index}.pcd.bin"
        tables["sample_data"] += [
            {"token": f"l{index}", "calibrated_sensor_token": "c-lidar", "filename": lidar,
             "fileformat": "pcd", "height": 0, "width": 0, **common},
            {"token": f"c{index}", "calibrated_sensor_token": "c-cam",
             "filename": f"samples/CAM_FRONT/{stem}.jpg", "fileformat": "jpg", "height": 48, "width": 64,
             **common},
        ]  # fmt: skip
        (root / "samples" / "LIDAR_TOP").mkdir(parents=True, exist_ok=True)
        (root / "samples" / "CAM_FRONT").mkdir(parents=True, exist_ok=True)
        columns = np.zeros((len(POINTS), 5), np.float32)  # x, y, z, intensity, ring
        columns[:, :3] = POINTS
        columns.tofile(root / lidar)
        Image.new("RGB", (64, 48), (90, 90, 90)).save(root / "samples" / "CAM_FRONT" / f"{stem}.jpg")
    (root / "maps").mkdir()
    Image.new("L", (8, 8)).save(root / "maps" / "map.png")
    (root / "v1.0-mini").mkdir()
    for name, rows in tables.items():
        (root / "v1.0-mini" / f"{name}.json").write_text(json.dumps(rows))
    return root


def prepare(dataroot, out):
    args = ["prepare-nuscenes", "--dataroot", str(dataroot), "--version", "v1.0-mini", "--split", "all"]
    return CliRunner().invoke(app, [*args, "--out", str(out)])


def test_md4all_ground_truth_and_conditions(tmp_path):
    dataroot, out = write_nuscenes(tmp_path / "nuscenes"), tmp_path / "prepared"
    result = prepare(dataroot, out)
    assert result.exit_code == 0, result.output
    assert "2 frames prepared" in result.stdout and "night-clear: 1" in result.stdout
    index = (out / "index.csv").read_text().splitlines()
    assert index[0] == "id,image,condition" and len(index) == 3
    assert index[1].endswith(",night-clear") and index[2].endswith(",day-rain")
    depth = np.load(out / "depth" / "n000-2018__CAM_FRONT__0000.npz")["depth"]
    assert depth.shape == (48, 64) and np.count_nonzero(depth) == 2
    assert depth[24, 32] == 4.0 and depth[34, 52] == 5.0  # the later point wins its pixel; 0.5 m dropped
    again = prepare(dataroot, out)
    assert (
        again.exit_code == 0
        and "0 frames prepared into" in again.stdout
        and "; 2 already there" in again.stdout
    )
    checked = CliRunner().invoke(app, ["check-benchmark", "md4all-nuscenes", "--root", str(out)])
    assert checked.exit_code == 0 and "2 samples ready" in checked.stdout


def test_conditions_follow_md4all():
    assert condition_of("Night, rain, parked cars") == "night-rain"
    assert condition_of("Rain, peds") == "day-rain" and condition_of("Wait at intersection") == "day-clear"
