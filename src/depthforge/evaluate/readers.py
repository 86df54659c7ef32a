"""Benchmark readers. The base class fixes how a sample is read (image, metric ground truth, valid
pixels, per-pixel categories); each benchmark overrides only what differs, and documents the
on-disk layout it expects. Any file that cannot be read raises ``ReaderError`` naming it.
"""

import csv
import json
import re
import xml.etree.ElementTree as ElementTree
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from depthforge.io import DepthReadError, ImageReadError, read_depth_map, read_rgb


class ReaderError(ValueError):
    """A benchmark sample or file is missing or malformed."""


@dataclass(frozen=True)
class SampleRef:
    """Where one sample's files are, before reading them."""

    id: str
    image: Path
    condition: str = "all"
    files: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    id: str
    condition: str
    image: np.ndarray
    depth: np.ndarray
    """Metric ground truth in the reader's unit; 0 or NaN where unknown."""
    valid: np.ndarray
    categories: dict[str, np.ndarray] = field(default_factory=dict)
    """Named pixel masks (e.g. ``tom`` / ``other``), each within ``valid``."""
    baseline_x_focal: float | None = None
    """For stereo benchmarks: depth = baseline_x_focal / disparity, in the depth unit."""
    unit: str = "m"


class BenchmarkReader(ABC):
    """Lists a benchmark's samples and reads them."""

    unit = "m"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ReaderError(f"{self.root}: benchmark root is not a folder")

    @abstractmethod
    def refs(self) -> list[SampleRef]:
        """Every sample, in a fixed order."""

    @abstractmethod
    def read_depth(self, ref: SampleRef) -> np.ndarray:
        """Metric ground truth at the ground truth's resolution."""

    def read_image(self, ref: SampleRef) -> np.ndarray:
        try:
            return read_rgb(ref.image)
        except ImageReadError as error:
            raise ReaderError(str(error)) from error

    def read_valid(self, ref: SampleRef, depth: np.ndarray) -> np.ndarray:
        return np.isfinite(depth) & (depth > 0)

    def read_categories(self, ref: SampleRef, valid: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def stereo(self, ref: SampleRef) -> float | None:
        return None

    def load(self, ref: SampleRef) -> Sample:
        """Read one sample; raises ``ReaderError`` naming the file at fault."""
        image = self.read_image(ref)
        try:
            depth = self.read_depth(ref)
        except DepthReadError as error:
            raise ReaderError(str(error)) from error
        valid = self.read_valid(ref, depth)
        categories = {name: mask & valid for name, mask in self.read_categories(ref, valid).items()}
        return Sample(ref.id, ref.condition, image, depth, valid, categories, self.stereo(ref), self.unit)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise ReaderError(f"{path}: missing")
    return path


def _mask(path: Path) -> np.ndarray:
    """A single-channel mask or class map (the first channel of a colour one)."""
    try:
        with Image.open(_require(path)) as image:
            values = np.asarray(image)
    except OSError as error:
        raise ReaderError(f"{path}: cannot read mask ({error})") from error
    return values[..., 0] if values.ndim == 3 else values


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ReaderError(f"{path}: cannot read JSON ({error})") from error


class GenericFolder(BenchmarkReader):
    """Any folder in depthforge's generic layout (SimBench writes it too)::

        ROOT/[CONDITION/]images/NAME.(png|jpg)
        ROOT/[CONDITION/]depth/NAME.(npy|png|pfm|exr)        metric depth, or disparity/NAME.*
        ROOT/[CONDITION/]masks/NAME.png                      optional: non-zero = valid
        ROOT/[CONDITION/]categories/NAME.png                 optional: integer class per pixel
        ROOT/[CONDITION/]intrinsics/NAME.json                optional: {"fx", "fy", "cx", "cy", "baseline"}
        ROOT/benchmark.json                                  optional settings (below)

    Without ``images/`` at the root, every subfolder that has one is a condition. ``benchmark.json``
    may give ``png_scale`` (PNG16 depth value per unit, default 1000: millimetres to metres),
    ``disparity_png_scale`` (PNG16 disparity value per pixel, default 256), ``unit`` (default ``m``),
    ``depth_range`` ([low, high]; default: the ground truth's span, see ``Protocol.for_reader``)
    and ``categories`` (name -> list of class ids in ``categories/``). Disparity needs ``baseline``
    (in the unit) and ``fx`` (px) in the sample's intrinsics. Users' guide: docs/benchmark-layout.md.
    """

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        settings = self.root / "benchmark.json"
        self.settings: dict[str, Any] = _json(settings) if settings.is_file() else {}
        self.unit = self.settings.get("unit", "m")

    def _folders(self) -> list[tuple[str, Path]]:
        if (self.root / "images").is_dir():
            return [("all", self.root)]
        return [(p.name, p) for p in sorted(self.root.iterdir()) if (p / "images").is_dir()]

    def refs(self) -> list[SampleRef]:
        found = []
        for condition, folder in self._folders():
            for image in sorted((folder / "images").iterdir()):
                if image.suffix.lower() in {".png", ".jpg", ".jpeg"} and not image.name.startswith("."):
                    prefix = "" if condition == "all" else f"{condition}/"
                    found.append(SampleRef(f"{prefix}{image.stem}", image, condition, {"folder": folder}))
        return found

    def _find(self, ref: SampleRef, kind: str) -> Path | None:
        folder = ref.files["folder"] / kind
        matches = sorted(p for p in folder.iterdir() if p.stem == ref.image.stem) if folder.is_dir() else []
        return matches[0] if matches else None

    def _intrinsics(self, ref: SampleRef) -> dict[str, float]:
        path = self._find(ref, "intrinsics")
        return _json(path) if path else {}

    def read_depth(self, ref: SampleRef) -> np.ndarray:
        scale = float(self.settings.get("png_scale", 1000))
        depth = self._find(ref, "depth")
        if depth is not None:
            return read_depth_map(depth, scale)
        disparity = self._find(ref, "disparity")
        if disparity is None:
            raise ReaderError(f"{ref.files['folder']}: no depth/ or disparity/ file for {ref.image.name}")
        bf = self.stereo(ref)
        if bf is None:
            raise ReaderError(f"{ref.image}: disparity ground truth needs baseline and fx in its intrinsics")
        values = read_depth_map(disparity, float(self.settings.get("disparity_png_scale", 256)))
        with np.errstate(divide="ignore"):
            return np.where(values > 0, bf / values, 0).astype(np.float32)

    def stereo(self, ref: SampleRef) -> float | None:
        intrinsics = self._intrinsics(ref)
        return intrinsics["baseline"] * intrinsics["fx"] if {"baseline", "fx"} <= intrinsics.keys() else None

    def read_valid(self, ref: SampleRef, depth: np.ndarray) -> np.ndarray:
        valid = super().read_valid(ref, depth)
        mask = self._find(ref, "masks")
        return valid & (_mask(mask) > 0) if mask else valid

    def read_categories(self, ref: SampleRef, valid: np.ndarray) -> dict[str, np.ndarray]:
        path = self._find(ref, "categories")
        if path is None:
            return {}
        classes = _mask(path)
        return {name: np.isin(classes, ids) for name, ids in self.settings.get("categories", {}).items()}


class KittiEigen(BenchmarkReader):
    """KITTI, Eigen test split, with the annotated ground truth of the KITTI depth benchmark::

        ROOT/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png        (raw data)
        ROOT/data_depth_annotated/{train,val}/2011_09_26_drive_0002_sync/proj_depth/groundtruth/
             image_02/0000000069.png                                                   (uint16, m x 256)
        ROOT/eigen_test_files.txt     lines "2011_09_26/2011_09_26_drive_0002_sync 0000000069 l"

    Frames of the split without annotated ground truth are reported, not scored.
    """

    def __init__(self, root: str | Path, split: str | Path | None = None) -> None:
        super().__init__(root)
        self.split = Path(split) if split else self.root / "eigen_test_files.txt"

    def refs(self) -> list[SampleRef]:
        found = []
        for line in _require(self.split).read_text().splitlines():
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) < 3:
                raise ReaderError(f"{self.split}: malformed line '{line}' (expected 'DRIVE FRAME l|r')")
            drive, frame, side = parts[:3]
            camera = "image_02" if side == "l" else "image_03"
            image = self.root / drive / camera / "data" / f"{frame}.png"
            found.append(
                SampleRef(
                    f"{Path(drive).name}/{camera}/{frame}",
                    image,
                    files={"drive": Path(drive).name, "camera": camera, "frame": frame},
                )
            )
        return found

    def read_depth(self, ref: SampleRef) -> np.ndarray:
        relative = (
            Path(ref.files["drive"])
            / "proj_depth"
            / "groundtruth"
            / ref.files["camera"]
            / f"{ref.files['frame']}.png"
        )
        for split in ("val", "train"):
            path = self.root / "data_depth_annotated" / split / relative
            if path.is_file():
                return read_depth_map(path, 256.0)
        raise ReaderError(f"{self.root / 'data_depth_annotated' / '*' / relative}: no annotated ground truth")


class DrivingStereo(BenchmarkReader):
    """DrivingStereo's weather subsets::

    ROOT/{sunny,cloudy,foggy,rainy}/left-image-full-size/NAME.jpg
    ROOT/{sunny,cloudy,foggy,rainy}/depth-map-full-size/NAME.png          (uint16, m x 256)
    """

    WEATHERS = ("sunny", "cloudy", "foggy", "rainy")

    def refs(self) -> list[SampleRef]:
        found = []
        for weather in self.WEATHERS:
            folder = self.root / weather / "left-image-full-size"
            if folder.is_dir():
                images = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
                found += [SampleRef(f"{weather}/{p.stem}", p, weather) for p in images]
        return found

    def read_depth(self, ref: SampleRef) -> np.ndarray:
        return read_depth_map(
            _require(self.root / ref.condition / "depth-map-full-size" / f"{ref.image.stem}.png"), 256.0
        )


class CachedLidar(BenchmarkReader):
    """Driving sets whose LiDAR ground truth was projected into the camera once and cached
    (md4all's nuScenes and RobotCar protocols)::

        ROOT/index.csv           columns: id, image (path, relative to ROOT or absolute), condition
        ROOT/depth/ID.npz        metric depth at the image's resolution, 0 = no LiDAR point

    ``condition`` is md4all's weather string: day-clear, day-rain, night-clear or night-rain for
    nuScenes, day-clear or night-clear for RobotCar (the protocols report md4all's groups of them).
    ``project_to_image`` makes such a map from camera-frame points.
    """

    def refs(self) -> list[SampleRef]:
        index = _require(self.root / "index.csv")
        with index.open() as file:
            rows = list(csv.DictReader(file))
        try:
            return [SampleRef(row["id"], self.root / row["image"], row["condition"]) for row in rows]
        except KeyError as error:
            raise ReaderError(f"{index}: missing column {error}; expected id, image, condition") from error

    def read_depth(self, ref: SampleRef) -> np.ndarray:
        return read_depth_map(_require(self.root / "depth" / f"{ref.id}.npz"))


class RobotCarLidar(CachedLidar):
    """RobotCar in the cached LiDAR layout, image and ground truth cut to their top ``KEEP`` share of
    rows (768 of 960), as md4all's RobotCar configs do (``CROP.HEIGHT: 768``): the rest shows
    the car's bonnet."""

    KEEP = 0.8

    def _top(self, values: np.ndarray) -> np.ndarray:
        return values[: round(values.shape[0] * self.KEEP)]

    def read_image(self, ref: SampleRef) -> np.ndarray:
        return self._top(super().read_image(ref))

    def read_depth(self, ref: SampleRef) -> np.ndarray:
        return self._top(super().read_depth(ref))


def project_to_image(
    points: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int], nearest_pixel: bool = False
) -> np.ndarray:
    """Camera-frame points ``[N, 3]`` (z forward, m) to a depth map of ``size``; the nearest point
    wins where several fall on one pixel; 0 where none does. A point lands on the pixel its
    coordinates truncate to (md4all's nuScenes), or with ``nearest_pixel`` the one they round to
    (md4all's RobotCar, ``np.round``)."""
    height, width = size
    points = points[points[:, 2] > 0]
    uvw = points @ intrinsics.T
    pixel = np.round if nearest_pixel else np.floor
    u, v = pixel(uvw[:, 0] / uvw[:, 2]).astype(int), pixel(uvw[:, 1] / uvw[:, 2]).astype(int)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    u, v, z = u[inside], v[inside], points[inside, 2]
    depth = np.full(size, np.inf, np.float32)
    np.minimum.at(depth, (v, u), z.astype(np.float32))
    depth[np.isinf(depth)] = 0
    return depth


def _opencv_matrix(node: ElementTree.Element) -> np.ndarray:
    rows, cols = int(node.findtext("rows")), int(node.findtext("cols"))
    return np.array(node.findtext("data").split(), float).reshape(rows, cols)


class Booster(BenchmarkReader):
    """Booster, ``train/balanced``, at quarter resolution (the Depth4ToM protocol)::

        ROOT/train/balanced/SCENE/camera_00/im0.png ...   several images per scene, one ground truth
        ROOT/train/balanced/SCENE/disp_00.npy             full-resolution disparity (px)
        ROOT/train/balanced/SCENE/mask_00.png             valid pixels (non-zero)
        ROOT/train/balanced/SCENE/mask_cat.png            classes: 0, 1 = Other, 2, 3 = ToM
        ROOT/train/balanced/SCENE/calib_00-02.xml         OpenCV XML: proj_matL (fx), baselineLR (mm)

    Disparity is resized to a quarter with nearest neighbours and divided by 4 (the focal length
    shrinks with the image), so depth = baseline x fx / disparity in mm is unchanged.
    """

    unit = "mm"
    SCALE = 4

    def refs(self) -> list[SampleRef]:
        found = []
        for scene in sorted((self.root / "train" / "balanced").iterdir()):
            for image in sorted((scene / "camera_00").glob("im*.png")):
                found.append(SampleRef(f"{scene.name}/{image.stem}", image, files={"scene": scene}))
        return found

    def read_image(self, ref: SampleRef) -> np.ndarray:
        image = super().read_image(ref)
        size = (image.shape[1] // self.SCALE, image.shape[0] // self.SCALE)
        return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))

    def _quarter(self, values: np.ndarray) -> np.ndarray:
        """Nearest-neighbour quarter size, sampling pixel 4i as Depth4ToM's evaluation does."""
        return values[:: self.SCALE, :: self.SCALE]

    def read_depth(self, ref: SampleRef) -> np.ndarray:
        disparity = self._quarter(read_depth_map(_require(ref.files["scene"] / "disp_00.npy"))) / self.SCALE
        with np.errstate(divide="ignore"):
            return np.where(disparity > 0, self.stereo(ref) / disparity, 0).astype(np.float32)

    def stereo(self, ref: SampleRef) -> float:
        path = _require(ref.files["scene"] / "calib_00-02.xml")
        try:
            root = ElementTree.parse(path).getroot()
            fx = _opencv_matrix(root.find("proj_matL"))[0, 0]
            baseline = float(root.findtext("baselineLR"))
        except (ElementTree.ParseError, AttributeError, TypeError, ValueError) as error:
            raise ReaderError(f"{path}: malformed calibration ({error})") from error
        return abs(baseline) * fx / self.SCALE

    def read_valid(self, ref: SampleRef, depth: np.ndarray) -> np.ndarray:
        return super().read_valid(ref, depth) & (self._quarter(_mask(ref.files["scene"] / "mask_00.png")) > 0)

    def read_categories(self, ref: SampleRef, valid: np.ndarray) -> dict[str, np.ndarray]:
        classes = self._quarter(_mask(ref.files["scene"] / "mask_cat.png"))
        return {"tom": np.isin(classes, (2, 3)), "other": np.isin(classes, (0, 1))}


class ClearGrasp(BenchmarkReader):
    """ClearGrasp's real split, at full resolution::

        ROOT/real-test/d415/000000000-transparent-rgb-img.jpg
        ROOT/real-test/d415/000000000-opaque-depth-img.exr     depth (m) with the objects made opaque
        ROOT/real-test/d415/000000000-mask.png                 transparent objects (non-zero)

    and likewise ``real-test/d435``, ``real-val/d435``. Depth is reported in mm.
    """

    unit = "mm"

    def refs(self) -> list[SampleRef]:
        return [
            SampleRef(f"{p.parent.parent.name}/{p.parent.name}/{p.name.split('-')[0]}", p)
            for p in sorted(self.root.glob("real-*/d4*/*-transparent-rgb-img.jpg"))
        ]

    def _sibling(self, ref: SampleRef, suffix: str) -> Path:
        return _require(ref.image.with_name(ref.image.name.replace("transparent-rgb-img.jpg", suffix)))

    def read_depth(self, ref: SampleRef) -> np.ndarray:
        return read_depth_map(self._sibling(ref, "opaque-depth-img.exr")) * 1000.0

    def read_categories(self, ref: SampleRef, valid: np.ndarray) -> dict[str, np.ndarray]:
        tom = _mask(self._sibling(ref, "mask.png"))
        return {"tom": tom > 0, "other": tom == 0}


class Middlebury(BenchmarkReader):
    """Middlebury 2014 stereo (perfect calibration)::

        ROOT/SCENE/im0.png          left image
        ROOT/SCENE/disp0.pfm        left disparity (px), inf where unknown
        ROOT/SCENE/calib.txt        cam0=[f 0 cx; 0 f cy; 0 0 1], doffs=..., baseline=... (mm)

    Depth = baseline x f / (disparity + doffs), in mm.
    """

    unit = "mm"

    def refs(self) -> list[SampleRef]:
        return [
            SampleRef(p.parent.name, p, files={"scene": p.parent})
            for p in sorted(self.root.glob("*/im0.png"))
        ]

    def _calibration(self, ref: SampleRef) -> dict[str, float]:
        path = _require(ref.files["scene"] / "calib.txt")
        text = path.read_text()
        try:
            focal = float(re.search(r"cam0=\[\s*([\d.eE+-]+)", text).group(1))
            values = dict(re.findall(r"^(doffs|baseline)=([\d.eE+-]+)", text, re.MULTILINE))
            return {"f": focal, "doffs": float(values["doffs"]), "baseline": float(values["baseline"])}
        except (AttributeError, KeyError, ValueError) as error:
            raise ReaderError(f"{path}: malformed calibration ({error})") from error

    def read_depth(self, ref: SampleRef) -> np.ndarray:
        calibration = self._calibration(ref)
        disparity = read_depth_map(_require(ref.files["scene"] / "disp0.pfm"))
        valid = np.isfinite(disparity) & (disparity > 0)
        bf = calibration["baseline"] * calibration["f"]
        return np.where(valid, bf / np.where(valid, disparity + calibration["doffs"], 1), 0).astype(
            np.float32
        )


READERS: dict[str, type[BenchmarkReader]] = {
    "generic": GenericFolder,
    "kitti-eigen": KittiEigen,
    "drivingstereo": DrivingStereo,
    "nuscenes": CachedLidar,
    "robotcar": RobotCarLidar,
    "booster": Booster,
    "cleargrasp": ClearGrasp,
    "middlebury": Middlebury,
}
