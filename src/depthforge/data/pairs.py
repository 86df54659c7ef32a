"""Training pairs for self-distillation: (hard image, label) and (easy image, label).

Pairs come from dataset folders (their manifests), filtered by condition and consistency score,
and mixed: each dataset has a weight, and within a dataset easy and hard pairs can have a fixed
share. The stream is indexed by position: sample ``p`` of a run is a pure function of the run's
seed and ``p`` (which pair, which crop, flip and colours), so the data order of a run is just a
number to checkpoint, and does not depend on the number of processes or workers.
"""

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from depthforge.config import AugmentConfig, DataConfig, GeometryConfig
from depthforge.data.augment import augment_pair
from depthforge.data.dataset import DatasetFolder
from depthforge.data.manifest import Row
from depthforge.depth.spaces import DepthSpace, to_inverse_depth
from depthforge.io import ImageReadError, read_rgb

log = logging.getLogger(__name__)
T = TypeVar("T")


class PairError(ValueError):
    """The training data cannot be used: empty, missing files, mismatched sizes."""


@dataclass(frozen=True)
class PairEntry:
    image: Path
    label: Path
    label_space: DepthSpace
    condition: str
    source: Path
    """The easy image the label was made from (the image itself for easy pairs)."""
    region: Path | None = None
    """The pixels made transparent or mirror, for such samples."""


MIN_FINITE_SHARE = 0.01
"""A label with fewer finite pixels than this share teaches nothing: its row is unusable."""


def _within(root: Path, relative: str) -> Path:
    """``root / relative``, refused (``PairError``) when the path leaves the dataset root; it is
    never opened."""
    path = Path(os.path.normpath(root / relative))
    if Path(relative).is_absolute() or not path.is_relative_to(os.path.normpath(root)):
        raise PairError(f"{root}: a manifest row names '{relative}', outside the dataset; refused")
    return path


def _easy_entry(root: Path, row: Row) -> PairEntry:
    image = _within(root, row["image"])
    return PairEntry(image, _within(root, row["label"]), DepthSpace(row["label_space"]), "easy", image)


def _hard_entry(root: Path, row: Row, easy: Row) -> PairEntry:
    return PairEntry(
        _within(root, row["image"]),
        _within(root, row["label"]),
        DepthSpace(row["label_space"]),
        row["condition"],
        _within(root, easy["image"]),
        _within(root, row["region"]) if row.get("region") else None,
    )


def _wanted(row: Row, labels: dict[str, Row], config: DataConfig) -> bool:
    """A generated row that was kept, whose easy image is labelled, and that passes the filters."""
    if not row["kept"] or row["easy_id"] not in labels:
        return False
    if config.conditions is not None and row["condition"] not in config.conditions:
        return False
    score = row.get("inconsistency")
    return config.max_inconsistency is None or score is None or score <= config.max_inconsistency


def _entries(
    dataset: DatasetFolder, config: DataConfig
) -> tuple[list[PairEntry], list[PairEntry], list[str]]:
    """The easy and the (filtered) hard pairs of one dataset folder, and its rows' paths that leave it."""
    root = dataset.root
    labels = {row["id"]: row for row in dataset.labels()}
    easy, hard, refused = [], [], []
    for row in labels.values():
        try:
            easy.append(_easy_entry(root, row))
        except PairError as error:
            refused.append(str(error))
    for row in dataset.generated():
        if _wanted(row, labels, config):
            try:
                hard.append(_hard_entry(root, row, labels[row["easy_id"]]))
            except PairError as error:
                refused.append(str(error))
    return easy, hard, refused


def collect_pairs(
    config: DataConfig, report: Callable[[str], None] = log.warning
) -> tuple[list[list[PairEntry]], np.ndarray]:
    """Groups of usable pairs and their sampling probabilities.

    Every row is checked first (``pair_problems``); each unusable one is reported in one line and
    left out, or, with ``config.strict``, refuses the run. Raises ``PairError`` when nothing usable
    is left in a dataset or a group.
    """
    if not config.sources:
        raise PairError("no training data: name at least one dataset folder")
    for source in config.sources:
        if not source.path.is_dir():
            raise PairError(f"{source.path}: no such dataset folder")
    found = [(source, *_entries(DatasetFolder(source.path), config)) for source in config.sources]
    _refuse_empty_filter(config, any(hard for _, _, hard, _ in found))
    everything = {entry for _, easy, hard, _ in found for entry in easy + hard}
    bad = {
        entry: f"{problem}; in the {entry.condition} pair of {entry.image.name}"
        for entry, problem in pair_problems(everything).items()
    }
    refused = [line for *_, lines in found for line in lines]
    _report_unusable(sorted([*bad.values(), *refused]), len(everything) + len(refused), config.strict, report)
    groups: list[list[PairEntry]] = []
    weights: list[float] = []
    for source, easy, hard, _ in found:
        easy, hard = [e for e in easy if e not in bad], [e for e in hard if e not in bad]
        for entries, share, _ in _parts(source.path, easy, hard, config):
            groups.append(entries)
            weights.append(source.weight * share)
    return groups, np.asarray(weights) / sum(weights)


def _refuse_empty_filter(config: DataConfig, any_hard: bool) -> None:
    """A condition filter that leaves no hard image would train on easy images only: refused,
    naming the conditions the data has (``conditions: []`` asks for easy images only, on purpose)."""
    if any_hard or not config.conditions:
        return
    present = sorted(
        {row["condition"] for s in config.sources for row in DatasetFolder(s.path).generated() if row["kept"]}
    )
    limit = config.max_inconsistency
    within = "" if limit is None else f" within max_inconsistency {limit}"
    has = ", ".join(present) if present else "no hard images (run generate first)"
    raise PairError(
        f"data.conditions [{', '.join(config.conditions)}] leaves no hard images{within}; the data has {has}"
    )


def pair_counts(groups: list[list[PairEntry]]) -> dict[str, int]:
    """Training pairs per condition: the hard conditions by name, then easy."""
    counts = Counter(entry.condition for entry in {e for group in groups for e in group})
    return dict(sorted(counts.items(), key=lambda item: (item[0] == "easy", item[0])))


def _report_unusable(lines: list[str], total: int, strict: bool, report: Callable[[str], None]) -> None:
    """One line per unusable row and a count; raises ``PairError`` after them when ``strict``."""
    for line in lines:
        report(line)
    if lines:
        verdict = "refused (--strict)" if strict else "skipped, training on the rest"
        summary = f"{len(lines)} of {total} training rows unusable: {verdict}"
        if strict:
            raise PairError(summary)
        report(summary)


def _parts(
    path: Path, easy: list[PairEntry], hard: list[PairEntry], config: DataConfig
) -> list[tuple[list[PairEntry], float, str]]:
    """One dataset's groups and their shares: all pairs together, or easy and hard mixed at
    ``config.easy_fraction``."""
    if not easy and not hard:
        raise PairError(
            f"{path}: no usable training pairs (empty manifest, unusable rows, or all filtered out by "
            f"conditions={config.conditions}, max_inconsistency={config.max_inconsistency})"
        )
    if config.easy_fraction is None:
        return [(easy + hard, 1.0, "all")]
    parts = [(easy, config.easy_fraction, "easy"), (hard, 1 - config.easy_fraction, "hard")]
    for entries, share, kind in parts:
        if share > 0 and not entries:
            raise PairError(f"{path}: no usable {kind} pairs to mix in")
    return [part for part in parts if part[1] > 0]


def _map(function: Callable[[Path], T], paths: list[Path]) -> dict[Path, T]:
    """``function`` of each path, on a few threads (decoding and reading release the GIL)."""
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        return dict(zip(paths, pool.map(function, paths), strict=True))


def pair_problems(entries: set[PairEntry]) -> dict[PairEntry, str]:
    """Why each unusable pair cannot be trained on, in one line naming the file. Every file is
    read once, however many pairs share it (an easy image and its label serve all its hard pairs)."""
    images = _map(_image_shape, list({path for e in entries for path in (e.image, e.source)}))
    labels = _map(_label_facts, list({e.label for e in entries}))
    masks = _map(_mask_shape, list({e.region for e in entries if e.region is not None}))
    problems = {entry: _pair_problem(entry, images, labels, masks) for entry in entries}
    return {entry: problem for entry, problem in problems.items() if problem}


def _pair_problem(
    entry: PairEntry,
    images: dict[Path, tuple[int, int] | str],
    labels: dict[Path, tuple[tuple[int, ...], float] | str],
    masks: dict[Path, tuple[int, int] | str],
) -> str | None:
    """The first thing wrong with a pair, from what was read of its files."""
    shape, source = images[entry.image], images[entry.source]
    for found in (shape, source, labels[entry.label]):
        if isinstance(found, str):
            return found
    label_shape, finite = labels[entry.label]
    if label_shape != shape:
        sizes = f"{'x'.join(map(str, label_shape))} but {entry.image} is {shape[0]}x{shape[1]}"
        return f"{entry.label}: label is {sizes}"
    if finite < MIN_FINITE_SHARE:
        return f"{entry.label}: label finite on {finite:.1%} of its pixels, {MIN_FINITE_SHARE:.0%} needed"
    mask = masks[entry.region] if entry.region is not None else shape
    if isinstance(mask, str):
        return mask
    if mask != shape:
        return (
            f"{entry.region}: region mask is {mask[0]}x{mask[1]} but {entry.image} is {shape[0]}x{shape[1]}"
        )
    return None


def _image_shape(path: Path) -> tuple[int, int] | str:
    """(h, w) of a decodable image, else why not."""
    if not path.is_file():
        return f"{path}: missing"
    try:
        height, width = read_rgb(path).shape[:2]
    except ImageReadError as error:
        return str(error)
    return height, width


def _label_facts(path: Path) -> tuple[tuple[int, ...], float] | str:
    """A label's shape and share of finite pixels, else why it cannot be read."""
    if not path.is_file():
        return f"{path}: missing"
    try:
        label = np.load(path)
    except (OSError, ValueError, EOFError) as error:
        return f"{path}: cannot read label ({error})"
    return label.shape, float(np.isfinite(label).mean()) if label.size else 0.0


def _mask_shape(path: Path) -> tuple[int, int] | str:
    """(h, w) of a region mask, from its header, else why not."""
    if not path.is_file():
        return f"{path}: missing"
    try:
        with Image.open(path) as mask:
            width, height = mask.size
    except (OSError, ValueError) as error:
        return f"{path}: cannot read region mask ({error})"
    return height, width


def _image(path: Path) -> torch.Tensor:
    try:
        return torch.from_numpy(read_rgb(path)).permute(2, 0, 1).float() / 255
    except ImageReadError as error:
        raise PairError(str(error)) from error


def _label(entry: PairEntry) -> torch.Tensor:
    """The label in inverse-depth space (metric teachers' depth inverted), NaN where invalid."""
    return to_inverse_depth(torch.from_numpy(np.load(entry.label).astype(np.float32)), entry.label_space)


def _region(entry: PairEntry, size: tuple[int, int]) -> torch.Tensor:
    """``[1, H, W]``: 1 on the pixels made transparent or mirror, 0 elsewhere (everywhere for
    samples without a region)."""
    if entry.region is None:
        return torch.zeros(1, *size)
    with Image.open(entry.region) as mask:
        return torch.from_numpy(np.asarray(mask) > 0).float()[None]


def load_pair(
    entry: PairEntry,
    geometry: GeometryConfig,
    augment: AugmentConfig | None = None,
    rng: np.random.Generator | None = None,
    with_source: bool = False,
) -> dict[str, torch.Tensor]:
    """One pair as tensors: ``image``, ``label`` (inverse depth, 0 where invalid), ``mask``,
    ``region`` and, if asked, ``source``. Without ``rng`` the crop is centred and nothing is random
    (validation)."""
    image, label = _image(entry.image), _label(entry)
    extra = [_image(entry.source)] if with_source else []
    extra.append(_region(entry, tuple(label.shape)))
    image, label, stacked = augment_pair(image, label, geometry, augment, rng, torch.cat(extra))
    sample = {
        "image": image,
        "label": torch.nan_to_num(label),
        "mask": torch.isfinite(label),
        "region": stacked[-1] > 0.5,
    }
    return {**sample, "source": stacked[:3]} if with_source else sample


class PairStream(Dataset):
    """Training samples by position; ``stream[p]`` is the same for a given seed wherever it is read."""

    def __init__(
        self,
        groups: list[list[PairEntry]],
        probabilities: np.ndarray,
        geometry: GeometryConfig,
        augment: AugmentConfig,
        seed: int,
        with_source: bool = False,
    ) -> None:
        self.groups, self.probabilities = groups, probabilities
        self.geometry, self.augment, self.seed, self.with_source = geometry, augment, seed, with_source

    def __len__(self) -> int:
        return sum(len(group) for group in self.groups)

    def entry(self, rng: np.random.Generator) -> PairEntry:
        group = self.groups[int(rng.choice(len(self.groups), p=self.probabilities))]
        return group[int(rng.integers(len(group)))]

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, position])
        sample = load_pair(self.entry(rng), self.geometry, self.augment, rng, self.with_source)
        return {**sample, "position": torch.tensor(position)}


class PositionSampler(Sampler[int]):
    """The positions one process reads, from ``start_step`` on.

    Step ``s`` covers global positions ``s * B .. (s + 1) * B - 1`` (``B`` = batch size over all
    processes and accumulation steps); micro-batch ``m`` of process ``r`` takes the slice
    ``(m * world + r) * b .. + b`` of it, ``b = B / (world * accumulation)``.
    """

    def __init__(
        self, start_step: int, end_step: int, batch_size: int, accumulation: int, rank: int, world: int
    ) -> None:
        if batch_size % (accumulation * world):
            split = accumulation * world
            raise ValueError(f"batch {batch_size} is not a multiple of processes x accumulation, {split}")
        self.start, self.end, self.batch, self.accumulation = start_step, end_step, batch_size, accumulation
        self.rank, self.world = rank, world
        self.micro = batch_size // (accumulation * world)

    def __iter__(self) -> Iterator[int]:
        for step in range(self.start, self.end):
            for m in range(self.accumulation):
                first = step * self.batch + (m * self.world + self.rank) * self.micro
                yield from range(first, first + self.micro)

    def __len__(self) -> int:
        return (self.end - self.start) * self.accumulation * self.micro
