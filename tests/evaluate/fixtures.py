"""Tiny benchmark folders written in each dataset's documented layout."""

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import smooth_image


def png16(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint16)).save(path)


def rgb(path: Path, height: int, width: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_image(height, width, seed)).save(path)


def ramp_depth(height: int, width: int) -> np.ndarray:
    """Metric depth growing from 2 m (bottom) to 20 m (top)."""
    return np.tile(np.linspace(20.0, 2.0, height, dtype=np.float32)[:, None], (1, width))


def write_generic(
    root: Path, conditions=("day", "night"), count: int = 2, size: tuple[int, int] = (48, 64)
) -> Path:
    for c_index, condition in enumerate(conditions):
        folder = root / condition
        for index in range(count):
            name = f"s{index}"
            rgb(folder / "images" / f"{name}.png", *size, 10 * c_index + index)
            png16(folder / "depth" / f"{name}.png", ramp_depth(*size) * 1000)  # mm in PNG16
            classes = np.zeros(size, np.uint8)
            classes[10:20, 10:30] = 1
            (folder / "categories").mkdir(exist_ok=True)
            Image.fromarray(classes).save(folder / "categories" / f"{name}.png")
    (root / "benchmark.json").write_text(
        json.dumps({"png_scale": 1000, "categories": {"tom": [1], "other": [0]}})
    )
    return root


def write_kitti(root: Path) -> Path:
    drive = "2011_09_26/2011_09_26_drive_0002_sync"
    for frame in ("0000000069", "0000000070"):
        rgb(root / drive / "image_02" / "data" / f"{frame}.png", 60, 200)
    gt = ramp_depth(60, 200) * 256
    gt[:, :5] = 0
    annotated = root / "data_depth_annotated/val/2011_09_26_drive_0002_sync/proj_depth/groundtruth"
    png16(annotated / "image_02" / "0000000069.png", gt)
    (root / "eigen_test_files.txt").write_text(f"{drive} 0000000069 l\n{drive} 0000000070 l\n")
    return root


def write_booster(root: Path, fx: float = 4000.0, baseline_mm: float = 80.0) -> Path:
    scene = root / "train" / "balanced" / "Bathroom"
    for index in range(2):
        rgb(scene / "camera_00" / f"im{index}.png", 64, 96, index)
    disparity = np.full((64, 96), 400.0, np.float32)  # 800 mm at full resolution
    np.save(scene / "disp_00.npy", disparity)
    Image.fromarray(np.full((64, 96), 255, np.uint8)).save(scene / "mask_00.png")
    classes = np.zeros((64, 96), np.uint8)
    classes[:32] = 2
    Image.fromarray(classes).save(scene / "mask_cat.png")
    (scene / "calib_00-02.xml").write_text(
        '<?xml version="1.0"?>\n<opencv_storage>\n'
        '<proj_matL type_id="opencv-matrix"><rows>3</rows><cols>4</cols>'
        f"<dt>d</dt><data>{fx} 0 48 0 0 {fx} 32 0 0 0 1 0</data></proj_matL>\n"
        f"<baselineLR>{-baseline_mm}</baselineLR>\n</opencv_storage>\n"
    )
    return root


def write_cached_lidar(root: Path, conditions=("day-clear", "night", "day-rain")) -> Path:
    (root / "depth").mkdir(parents=True)
    rows = []
    for index, condition in enumerate(conditions):
        rgb(root / "samples" / f"t{index}.jpg", 48, 64, index)
        sparse = np.zeros((48, 64), np.float32)
        sparse[::4, ::4] = ramp_depth(48, 64)[::4, ::4]
        np.savez_compressed(root / "depth" / f"t{index}.npz", depth=sparse)
        rows.append({"id": f"t{index}", "image": f"samples/t{index}.jpg", "condition": condition})
    with (root / "index.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, ["id", "image", "condition"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def evaluate_args(models: list, root: Path, out: Path, *extra: str) -> list[str]:
    """`depthforge evaluate` of ``models`` on a generic folder, on the CPU."""
    named = [arg for model in models for arg in ("--model", str(model))]
    return [
        "evaluate",
        *named,
        "--benchmark",
        "generic",
        "--root",
        str(root),
        "--out",
        str(out),
        *extra,
        "--device",
        "cpu",
    ]
