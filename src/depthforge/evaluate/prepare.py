"""md4all's nuScenes and RobotCar ground truth, made from the raw datasets into the cached LiDAR
layout that the `md4all-nuscenes` and `md4all-robotcar` protocols read (``ROOT/index.csv``,
``ROOT/depth/ID.npz``).

nuScenes:
It follows md4all's ``data/nuscenes_dataset.py``: the front camera's keyframes of the validation
scenes (``create_splits_scenes()["val"]``; for ``v1.0-mini``, md4all's scenes 1 and 9); the
keyframe's ``LIDAR_TOP`` sweep projected with the devkit's ``map_pointcloud_to_image`` (points
nearer than 1 m and within one pixel of the border dropped); pixel coordinates truncated to
integers, a later point overwriting an earlier one on the same pixel; the condition from the
scene's description: ``night`` or ``day``, then ``rain`` or ``clear``, by substring.

The projection is the nuScenes devkit's own (the optional extra ``depthforge[nuscenes]``).

RobotCar follows md4all's ``data/robotcar/robotcar_dataset.py``: the camera-frame point clouds that
md4all's ``precompute_depth_gt.py`` builds with the RobotCar SDK (LMS-front scans over +-4 s, VO
poses: ``SCENE/lms_front_synchronized/vo/time_margin=+-4.0e+06/TIMESTAMP.pcd.bin``, 3 x N float32)
are projected as the SDK's ``CameraModel.project`` does for ``stereo/left`` (the ``stereo_wide_left``
model: fx fy cx cy, then the 4x4 image-to-camera transform), pixels rounded, the nearest point kept
per pixel. Only building the point clouds needs the SDK (not on PyPI); this step reads them.
"""

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.data.manifest import Row, read_rows
from depthforge.io import save_npz, write_atomic
from depthforge.jobs import WHOLE, ItemError, JobSummary, Shard, launch_state, run_job

STAGE = "prepare"
CAMERA = "CAM_FRONT"
MINI_VALIDATION = (1, 9)
"""md4all's validation scenes of ``v1.0-mini``, by position in the scene table."""


class PrepareError(RuntimeError):
    """The raw dataset cannot be prepared (missing devkit, tables or split)."""


@dataclass(frozen=True)
class Keyframe:
    """One camera keyframe to prepare: its id, where its data is (the nuScenes sample token, the
    RobotCar scene) and its condition."""

    id: str
    source: str
    condition: str


def condition_of(description: str) -> str:
    """md4all's weather label of a scene description: day or night, clear or rain."""
    text = description.lower()
    return ("night" if "night" in text else "day") + ("-rain" if "rain" in text else "-clear")


def _devkit(dataroot: Path, version: str) -> Any:
    try:
        from nuscenes.nuscenes import NuScenes
    except ImportError as error:
        raise PrepareError(
            f"preparing nuScenes needs the nuScenes devkit: pip install 'depthforge[nuscenes]' ({error})"
        ) from error
    if not (dataroot / version).is_dir():
        raise PrepareError(f"{dataroot / version}: no such folder (the devkit's tables of {version})")
    return NuScenes(version=version, dataroot=str(dataroot), verbose=False)


def _scenes(nusc: Any, split: str) -> list[dict]:
    """The scenes of ``split``: ``val`` (md4all's), or ``all``."""
    if split == "all":
        return list(nusc.scene)
    if split != "val":
        raise PrepareError(f"unknown split '{split}': val or all")
    if "mini" in nusc.version:
        return [scene for index, scene in enumerate(nusc.scene) if index in MINI_VALIDATION]
    from nuscenes.utils.splits import create_splits_scenes

    names = set(create_splits_scenes(verbose=False)["val"])
    return [scene for scene in nusc.scene if scene["name"] in names]


def keyframes(nusc: Any, split: str) -> list[Keyframe]:
    """The split's front-camera keyframes, in the sample table's order."""
    chosen = {scene["token"]: condition_of(scene["description"]) for scene in _scenes(nusc, split)}
    found = []
    for sample in nusc.sample:
        if sample["scene_token"] in chosen:
            camera = nusc.get("sample_data", sample["data"][CAMERA])
            found.append(
                Keyframe(Path(camera["filename"]).stem, sample["token"], chosen[sample["scene_token"]])
            )
    return found


def projected_depth(nusc: Any, sample_token: str) -> tuple[np.ndarray, Path]:
    """The keyframe's LiDAR depth (m, 0 = no point) at its image's size, and the image."""
    sample = nusc.get("sample", sample_token)
    lidar, camera = sample["data"]["LIDAR_TOP"], sample["data"][CAMERA]
    points, depth, image = nusc.explorer.map_pointcloud_to_image(lidar, camera)
    projection = np.zeros((image.size[1], image.size[0]), np.float32)
    columns, rows = points[:2].astype(np.int32)
    projection[rows, columns] = depth
    return projection, Path(nusc.dataroot) / nusc.get("sample_data", camera)["filename"]


ROBOTCAR_SCENES = {"2014-12-09-13-21-02": "day-clear", "2014-12-16-18-44-24": "night-clear"}
"""md4all's RobotCar test scenes and their conditions."""
ROBOTCAR_CLOUDS = "lms_front_synchronized/vo/time_margin=+-4.0e+06"
ROBOTCAR_CAMERA = "stereo/left"
ROBOTCAR_MODEL = "models/stereo_wide_left.txt"


def robotcar_depth(
    points: np.ndarray, model: np.ndarray, image_to_camera: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Camera-frame points ``[3, N]`` as the SDK projects them: into the image frame by the inverse of
    ``image_to_camera``, in front (z >= 0), kept where 0.5 <= u <= width - 1 and 0.5 <= v <=
    height - 1 (``model`` = fx, fy, cx, cy); pixels rounded, the nearest point per pixel, 0 elsewhere."""
    height, width = size
    homogeneous = np.vstack([points, np.ones((1, points.shape[1]))])
    x, y, z, _ = np.linalg.solve(image_to_camera, homogeneous)
    x, y, z = x[z >= 0], y[z >= 0], z[z >= 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = model[0] * x / z + model[2], model[1] * y / z + model[3]
    inside = (u >= 0.5) & (u <= width - 1) & (v >= 0.5) & (v <= height - 1)
    u, v, z = np.round(u[inside]).astype(int), np.round(v[inside]).astype(int), z[inside]
    depth = np.full(size, np.inf, np.float32)
    np.minimum.at(depth, (v, u), z.astype(np.float32))
    depth[~np.isfinite(depth) | (depth <= 0)] = 0
    return depth


def _robotcar_model(dataroot: Path) -> tuple[np.ndarray, np.ndarray]:
    """fx, fy, cx, cy and the image-to-camera transform of md4all's camera."""
    path = dataroot / ROBOTCAR_MODEL
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        rows = [[float(value) for value in line.split()] for line in lines]
        return np.array(rows[0][:4]), np.array(rows[1:5])
    except (OSError, ValueError, IndexError) as error:
        raise PrepareError(f"{path}: cannot read the camera model ({error})") from error


def robotcar_keyframes(dataroot: Path) -> list[Keyframe]:
    """md4all's test timestamps (``splits/SCENE_test.txt``) of its two scenes."""
    frames = []
    for scene, condition in ROBOTCAR_SCENES.items():
        split = dataroot / "splits" / f"{scene}_test.txt"
        if not split.is_file():
            raise PrepareError(f"{split}: missing (md4all's RobotCar split files)")
        for line in split.read_text().split("\n"):
            if line.strip():
                frames.append(Keyframe(f"{scene}/{line.split()[0]}", scene, condition))
    return frames


def prepare_robotcar(
    dataroot: Path, out: Path, shard: Shard = WHOLE, report: Callable[[str], None] = print
) -> tuple[JobSummary, Counter[str]]:
    """Make ``out``'s ground truth and index for md4all's RobotCar test split; return the job's
    summary and the number of frames per condition."""
    from PIL import Image

    model, image_to_camera = _robotcar_model(dataroot)
    frames = robotcar_keyframes(dataroot)

    def depth_of(frame: Keyframe) -> tuple[np.ndarray, Path]:
        scene, timestamp = frame.source, frame.id.split("/")[1]
        image = dataroot / scene / ROBOTCAR_CAMERA / f"{timestamp}.png"
        with Image.open(image) as opened:
            size = (opened.height, opened.width)
        cloud = np.fromfile(dataroot / scene / ROBOTCAR_CLOUDS / f"{timestamp}.pcd.bin", np.float32)
        return robotcar_depth(cloud.reshape(3, -1), model, image_to_camera, size), image

    return _prepare(frames, depth_of, out, shard, report)


def prepare_nuscenes(
    dataroot: Path,
    out: Path,
    version: str = "v1.0-trainval",
    split: str = "val",
    shard: Shard = WHOLE,
    report: Callable[[str], None] = print,
) -> tuple[JobSummary, Counter[str]]:
    """Make ``out``'s ground truth and index for ``split``; return the job's summary and the number of
    keyframes per condition in the index."""
    nusc = _devkit(dataroot, version)
    frames = keyframes(nusc, split)
    return _prepare(frames, lambda frame: projected_depth(nusc, frame.source), out, shard, report)


def _prepare(
    frames: list[Keyframe],
    depth_of: Callable[[Keyframe], tuple[np.ndarray, Path]],
    out: Path,
    shard: Shard,
    report: Callable[[str], None],
) -> tuple[JobSummary, Counter[str]]:
    """Write each frame's ``depth_of`` and its row (resumably), then the index of all of them."""

    def process(batch: list[Keyframe]) -> list[Row | ItemError]:
        rows: list[Row | ItemError] = []
        for frame in batch:
            try:
                depth, image = depth_of(frame)
            except (OSError, ValueError) as error:
                rows.append(ItemError(f"{frame.id}: {error}"))
                continue
            save_npz(out / "depth" / f"{frame.id}.npz", depth=depth)
            rows.append({"id": frame.id, "image": str(image), "condition": frame.condition})
        return rows

    summary = run_job(frames, out / "manifest", STAGE, shard, process, 8, report, unit="frame")
    state = launch_state()
    state.wait_for_everyone()
    if state.is_main_process:
        _write_index(out, [frame.id for frame in frames])
    return summary, Counter(frame.condition for frame in frames)


def _write_index(out: Path, order: list[str]) -> None:
    """``index.csv`` of the frames prepared so far, in the split's order."""
    rows = {row["id"]: row for row in read_rows(out / "manifest", STAGE)}

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as file:
            writer = csv.DictWriter(file, ["id", "image", "condition"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows[frame] for frame in order if frame in rows)

    write_atomic(out / "index.csv", write)
