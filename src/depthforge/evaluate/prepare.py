"""md4all's nuScenes ground truth, made from the raw dataset into the cached LiDAR layout that the
`md4all-nuscenes` protocol reads (``ROOT/index.csv``, ``ROOT/depth/ID.npz``).

It follows md4all's ``data/nuscenes_dataset.py``: the front camera's keyframes of the validation
scenes (``create_splits_scenes()["val"]``; for ``v1.0-mini``, md4all's scenes 1 and 9); the
keyframe's ``LIDAR_TOP`` sweep projected with the devkit's ``map_pointcloud_to_image`` (points
nearer than 1 m and within one pixel of the border dropped); pixel coordinates truncated to
integers, a later point overwriting an earlier one on the same pixel; the condition from the
scene's description: ``night`` or ``day``, then ``rain`` or ``clear``, by substring.

The projection is the nuScenes devkit's own (the optional extra ``depthforge[nuscenes]``).
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
    """One front-camera keyframe to prepare."""

    id: str
    sample: str
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

    def process(batch: list[Keyframe]) -> list[Row | ItemError]:
        rows: list[Row | ItemError] = []
        for frame in batch:
            try:
                depth, image = projected_depth(nusc, frame.sample)
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
