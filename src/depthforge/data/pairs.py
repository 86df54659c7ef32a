"""Training pairs for self-distillation: (hard image, label) and (easy image, label).

Pairs come from dataset folders (their manifests), filtered by condition and consistency score,
and mixed: each dataset has a weight, and within a dataset easy and hard pairs can have a fixed
share. The stream is indexed by position: sample ``p`` of a run is a pure function of the run's
seed and ``p`` (which pair, which crop, flip and colours), so the data order of a run is just a
number to checkpoint, and does not depend on the number of processes or workers.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from depthforge.config import AugmentConfig, DataConfig, GeometryConfig
from depthforge.data.augment import augment_pair
from depthforge.data.dataset import DatasetFolder
from depthforge.depth.spaces import DepthSpace, to_inverse_depth
from depthforge.io import ImageReadError, read_rgb


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


def _entries(dataset: DatasetFolder, config: DataConfig) -> tuple[list[PairEntry], list[PairEntry]]:
    """The easy and the (filtered) hard pairs of one dataset folder."""
    root = dataset.root
    labels = {row["id"]: row for row in dataset.labels()}

    easy = [
        PairEntry(
            root / r["image"], root / r["label"], DepthSpace(r["label_space"]), "easy", root / r["image"]
        )
        for r in labels.values()
    ]
    hard = []
    for row in dataset.generated():
        if not row["kept"] or row["easy_id"] not in labels:
            continue
        if config.conditions is not None and row["condition"] not in config.conditions:
            continue
        score = row.get("inconsistency")
        if config.max_inconsistency is not None and score is not None and score > config.max_inconsistency:
            continue
        source = root / labels[row["easy_id"]]["image"]
        hard.append(
            PairEntry(
                root / row["image"],
                root / row["label"],
                DepthSpace(row["label_space"]),
                row["condition"],
                source,
                root / row["region"] if row.get("region") else None,
            )
        )
    return easy, hard


def collect_pairs(config: DataConfig) -> tuple[list[list[PairEntry]], np.ndarray]:
    """Groups of pairs and their sampling probabilities; raises ``PairError`` when nothing is usable."""
    groups: list[list[PairEntry]] = []
    weights: list[float] = []
    if not config.sources:
        raise PairError("no training data: name at least one dataset folder")
    for source in config.sources:
        easy, hard = _entries(DatasetFolder(source.path), config)
        if not easy and not hard:
            raise PairError(
                f"{source.path}: no training pairs (empty manifest, or all filtered out by "
                f"conditions={config.conditions}, max_inconsistency={config.max_inconsistency})"
            )
        if config.easy_fraction is None:
            parts = [(easy + hard, 1.0)]
        else:
            parts = [(easy, config.easy_fraction), (hard, 1 - config.easy_fraction)]
        for entries, share in parts:
            if share > 0:
                if not entries:
                    raise PairError(
                        f"{source.path}: no {'easy' if entries is easy else 'hard'} pairs to mix in"
                    )
                groups.append(entries)
                weights.append(source.weight * share)
    probabilities = np.asarray(weights) / sum(weights)
    return groups, probabilities


def check_pairs(groups: list[list[PairEntry]], limit: int = 5) -> None:
    """Every file exists and every label matches its image's size, checked from headers, before training."""
    problems = []
    for entry in {e for group in groups for e in group}:
        for path in {entry.image, entry.label, entry.source} | ({entry.region} if entry.region else set()):
            if not path.is_file():
                problems.append(f"{path}: missing")
        if entry.image.is_file() and entry.label.is_file():
            try:
                with Image.open(entry.image) as image:
                    width, height = image.size
                shape = np.load(entry.label, mmap_mode="r").shape
            except (OSError, ValueError) as error:
                problems.append(f"{entry.image}: unreadable ({error})")
                continue
            if shape != (height, width):
                problems.append(
                    f"{entry.label}: label is {shape[0]}x{shape[1]} but {entry.image} is {height}x{width}"
                )
    if problems:
        shown = "; ".join(sorted(problems)[:limit])
        raise PairError(f"{len(problems)} problem(s) in the training data, e.g. {shown}")


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
