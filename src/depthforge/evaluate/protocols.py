"""Evaluation protocols as named presets: which reader, range caps, crops, alignment, averaging.

Averages are per image (md4all, Monodepth2's KITTI code and Depth4ToM all average per image).
Range caps keep ground truth strictly inside ``(low, high)``, as those codes do. Predictions are
resized bilinearly to the ground truth's resolution before anything else. The generic protocol has
no range of its own: ``Protocol.for_reader`` takes it from ``benchmark.json`` or the ground truth.
Relative models are aligned by ``relative_alignment``; metric models are scored once per alignment
asked for (default ``DEFAULT_METRIC_ALIGNMENTS``), so that a metric student trained with a
scale-invariant loss can be compared with its teacher both as it is and aligned like a relative model.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from depthforge.depth.alignment import Alignment, align_least_squares, align_to_depth, normalize_min_max
from depthforge.depth.spaces import DepthSpace, depth_to_inverse, to_inverse_depth
from depthforge.evaluate.metrics import image_metrics
from depthforge.evaluate.readers import READERS, BenchmarkReader, ReaderError, Sample, SampleRef
from depthforge.io import DepthReadError

UNIT_PER_METRE = {"m": 1.0, "mm": 1000.0}
DEFAULT_METRIC_ALIGNMENTS = (Alignment.LSTSQ_INVERSE, Alignment.NONE)
"""Metric models are scored both aligned like relative ones and as they are, each in its own table."""
GT_RANGE_MARGIN = 0.01
"""A range taken from the ground truth is its span widened by this share each way, so that every
valid pixel lies strictly inside it."""


def garg_crop(size: tuple[int, int]) -> np.ndarray:
    """The crop of Garg et al. used on KITTI's Eigen split (as in Monodepth2's evaluation)."""
    height, width = size
    top, bottom = int(0.40810811 * height), int(0.99189189 * height)
    left, right = int(0.03594771 * width), int(0.96405229 * width)
    mask = np.zeros(size, bool)
    mask[top:bottom, left:right] = True
    return mask


def align_tom(
    pred: torch.Tensor,
    gt_depth: torch.Tensor,
    mask: torch.Tensor,
    baseline_x_focal: float,
    depth_range: tuple[float, float],
) -> torch.Tensor:
    """Depth4ToM (``evaluate_mono.py``, ``evalThread.run``): min-max normalise the prediction on
    ``mask``, least-squares fit it to the ground-truth disparity there, take depth = baseline x fx /
    disparity and clip it to the range. As there, an infinite depth (disparity 0) becomes the far
    limit and a negative fitted disparity, a negative depth, the near limit."""
    gt_disparity = depth_to_inverse(gt_depth) * baseline_x_focal
    disparity = align_least_squares(normalize_min_max(pred, mask), gt_disparity, mask)
    depth = baseline_x_focal / disparity
    low, high = depth_range
    return torch.where(torch.isinf(depth), high, depth).clamp(low, high)


def ground_truth_range(reader: BenchmarkReader, refs: list[SampleRef]) -> tuple[float, float]:
    """The span of the valid ground truth of ``refs``, widened by ``GT_RANGE_MARGIN``; unreadable
    samples are skipped here (scoring reports them)."""
    low, high = math.inf, -math.inf
    for ref in refs:
        try:
            depth = reader.read_depth(ref)
            values = depth[reader.read_valid(ref, depth)]
        except (ReaderError, DepthReadError):
            continue
        if values.size:
            low, high = min(low, float(values.min())), max(high, float(values.max()))
    if low > high:
        raise ReaderError(f"{reader.root}: no valid ground truth to take a depth range from")
    return low * (1 - GT_RANGE_MARGIN), high * (1 + GT_RANGE_MARGIN)


def _settings_range(reader: BenchmarkReader) -> tuple[float, float] | None:
    """``depth_range`` from a generic folder's ``benchmark.json``, if it gives one."""
    settings = getattr(reader, "settings", {})
    if "depth_range" not in settings:
        return None
    try:
        low, high = (float(value) for value in settings["depth_range"])
    except (TypeError, ValueError) as error:
        raise ReaderError(
            f"{reader.root / 'benchmark.json'}: depth_range must be [low, high] ({error})"
        ) from error
    if not 0 < low < high:
        raise ReaderError(f"{reader.root / 'benchmark.json'}: depth_range needs 0 < low < high")
    return low, high


@dataclass(frozen=True)
class Protocol:
    name: str
    reader: str
    depth_range: tuple[float, float] | None
    """Ground truth strictly inside is scored, predictions are clamped to it; ``None``: settled by
    ``for_reader``."""
    description: str
    relative_alignment: Alignment = Alignment.LSTSQ_INVERSE
    crop: Callable[[tuple[int, int]], np.ndarray] | None = None
    tom: bool = False
    """Depth4ToM's fit (``align_tom``) for every alignment in inverse depth."""
    table: tuple[str, ...] = ("abs_rel", "rmse", "delta<1.25")
    condition_groups: tuple[str, ...] = ()
    """Conditions reported, each holding the samples whose own condition contains its name."""

    def make_reader(self, root: str, **options: object) -> BenchmarkReader:
        return READERS[self.reader](root, **options)

    def for_reader(self, reader: BenchmarkReader, refs: list[SampleRef] | None = None) -> "Protocol":
        """This protocol with the range a generic folder's ``benchmark.json`` gives, else its own,
        else (the generic protocol) that of the ground truth of ``refs`` (default: every sample)."""
        found, source = _settings_range(reader), "benchmark.json"
        if found is None:
            if self.depth_range is not None:
                return self
            found = ground_truth_range(reader, reader.refs() if refs is None else refs)
            source = "ground truth"
        low, high = found
        description = f"{self.description}; depth range {low:.4g}-{high:.4g} {reader.unit} from the {source}"
        return replace(self, depth_range=found, description=description)

    @property
    def limits(self) -> tuple[float, float]:
        """The depth range, once settled."""
        if self.depth_range is None:
            raise ValueError(
                f"the {self.name} protocol's depth range is settled by for_reader: call it first"
            )
        return self.depth_range

    def condition_group(self, condition: str) -> str:
        """The condition a sample is reported under: the first of ``condition_groups`` its own
        contains (md4all's substring rule: ``night-rain`` counts as ``night``), else its own."""
        return next((group for group in self.condition_groups if group in condition), condition)

    def alignments_for(self, space: DepthSpace, metric: tuple[Alignment, ...]) -> tuple[Alignment, ...]:
        """How a prediction in ``space`` is scored: a relative one by the protocol, a metric one by
        each of ``metric``."""
        return (self.relative_alignment,) if space is DepthSpace.RELATIVE_INVERSE_DEPTH else metric

    def evaluated(self, sample: Sample) -> np.ndarray:
        """The pixels scored: valid ground truth strictly inside the range, within the crop."""
        low, high = self.limits
        mask = sample.valid & (sample.depth > low) & (sample.depth < high)
        return mask & self.crop(mask.shape) if self.crop else mask

    def aligned_depth(
        self, pred: np.ndarray, space: DepthSpace, sample: Sample, mask: np.ndarray, alignment: Alignment
    ) -> np.ndarray:
        """The prediction resized to the ground truth and brought to metric depth by ``alignment``.

        A pixel without depth in the prediction (NaN, or non-positive metric depth) counts as the
        farthest depth in range: scored as an error, never dropped.
        """
        size = sample.depth.shape
        tensor = torch.from_numpy(np.ascontiguousarray(pred, np.float32))[None, None]
        if tuple(pred.shape) != size:
            tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)
        tensor, gt, valid = tensor[:, 0], torch.from_numpy(sample.depth)[None], torch.from_numpy(mask)[None]
        if space.is_metric:
            # Metric models speak metres; the ground truth may be in millimetres.
            factor = UNIT_PER_METRE[sample.unit]
            tensor = tensor * factor if space is DepthSpace.METRIC_DEPTH else tensor / factor
        if self.tom and alignment is Alignment.LSTSQ_INVERSE:
            inverse = to_inverse_depth(tensor, space)
            fit = valid & torch.isfinite(inverse)
            depth = align_tom(inverse, gt, fit, sample.baseline_x_focal or 1.0, self.limits)
        else:
            depth = align_to_depth(tensor, space, gt, valid, alignment, self.limits)
        return torch.nan_to_num(depth, nan=self.limits[1])[0].numpy()

    def score(
        self, pred: np.ndarray, space: DepthSpace, sample: Sample, alignment: Alignment
    ) -> dict[str, dict[str, float]]:
        """Metrics per category (``all`` plus the sample's named categories)."""
        mask = self.evaluated(sample)
        depth = torch.from_numpy(self.aligned_depth(pred, space, sample, mask, alignment))
        gt = torch.from_numpy(sample.depth)
        categories = {"all": mask, **{name: m & mask for name, m in sample.categories.items()}}
        return {name: image_metrics(depth, gt, torch.from_numpy(m)) for name, m in categories.items()}


_TOM_TABLE = ("mae", "delta<1.05", "delta<1.25", "abs_rel")
_TOM_FIT = "relative: min-max, LS in disparity, depth clipped to the range (negative disparity: the near end)"
PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "md4all-nuscenes",
            "nuscenes",
            (0.1, 80.0),
            "md4all on nuScenes: LiDAR GT, 0.1-80 m, day-clear / day-rain / night, LS in inverse depth",
            condition_groups=("day-clear", "day-rain", "night"),
        ),
        Protocol(
            "md4all-robotcar",
            "robotcar",
            (0.1, 50.0),
            "md4all on RobotCar: top 768 of 960 rows, 0.1-50 m, day / night, LS in inverse depth",
            condition_groups=("day", "night"),
        ),
        Protocol(
            "kitti-eigen",
            "kitti-eigen",
            (1e-3, 80.0),
            "KITTI Eigen split, annotated GT, Garg crop, 1e-3-80 m",
            crop=garg_crop,
        ),
        Protocol("drivingstereo", "drivingstereo", (1e-3, 80.0), "DrivingStereo weather subsets, 1e-3-80 m"),
        Protocol(
            "depth4tom-booster",
            "booster",
            (1.0, 10_000.0),
            f"Depth4ToM on Booster train/balanced, quarter resolution, mm, ToM / Other / All; {_TOM_FIT}",
            tom=True,
            table=_TOM_TABLE,
        ),
        Protocol(
            "depth4tom-cleargrasp",
            "cleargrasp",
            (1.0, 10_000.0),
            f"Depth4ToM on ClearGrasp real split, full resolution, mm, ToM / Other / All; {_TOM_FIT}",
            tom=True,
            table=_TOM_TABLE,
        ),
        Protocol("middlebury", "middlebury", (1.0, 100_000.0), "Middlebury 2014, mm", table=_TOM_TABLE),
        Protocol("generic", "generic", None, "depthforge's generic folder layout"),
    )
}
