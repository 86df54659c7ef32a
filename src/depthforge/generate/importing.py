"""`depthforge import`: hard images made elsewhere (another generator, released sets) as rows of a
dataset, beside its own generated ones; finetune then uses them like any other.

Each file is paired with an easy image by its path below the folder (suffix removed): a regular
expression whose group ``id`` is the easy image's id matches it whole. The condition is given, or
is the file's first folder. An image must have its easy image's size, or, with ``resize``, its
aspect (within 2%). Rows go to the ``import`` stage of the manifest (``DatasetFolder.generated``
reads both), with the source file recorded; the structure consistency is scored against the label
like the dataset's own generated images.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from depthforge.data.dataset import IMPORT_STAGE, DatasetFolder
from depthforge.data.manifest import Row
from depthforge.generate.consistency import score_by_space
from depthforge.generate.job import Consistency, hard_row
from depthforge.io import ImageReadError, find_images, read_rgb
from depthforge.jobs import WHOLE, ItemError, JobSummary, Results, Shard, run_job

DEFAULT_PATTERN = r"(?P<id>.+?)(?:[-_]\d+)?"
"""The easy id, then optionally ``-K`` or ``_K``: ``night/000012_3.png`` pairs with ``000012``."""
ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class ImportItem:
    """One file to import: its row id, the file, its easy image's row and its condition."""

    id: str
    source: Path
    easy: Row
    condition: str


def pair_files(
    folder: Path, easy_rows: list[Row], pattern: str, condition: str | None
) -> tuple[list[ImportItem], list[str]]:
    """The files below ``folder`` paired with easy images, and one line for each that is not.
    Without ``condition``, a file's first folder is its condition."""
    by_id = {row["id"]: row for row in easy_rows}
    expression = re.compile(pattern)
    found, problems = find_images([folder])
    items = []
    for source, name in found:
        stem = name.with_suffix("").as_posix()
        file_condition, _, rest = ("", "", stem) if condition else stem.partition("/")
        file_condition = condition or file_condition
        if not rest:
            problems.append(f"{source}: no condition folder above it (or give --condition)")
        elif not (match := expression.fullmatch(rest)) or "id" not in match.groupdict():
            problems.append(f"{source}: its name '{rest}' does not match --pattern {pattern}")
        elif match["id"] not in by_id:
            problems.append(f"{source}: no easy image '{match['id']}' in the dataset")
        else:
            items.append(
                ImportItem(f"{file_condition}/imported/{rest}", source, by_id[match["id"]], file_condition)
            )
    return items, problems


def _fitted(item: ImportItem, resize: bool) -> np.ndarray:
    """The image at its easy image's size; ``ItemError`` naming the file when it cannot be."""
    try:
        image = read_rgb(item.source)
    except ImageReadError as error:
        raise ItemError(str(error)) from error
    height, width = item.easy["height"], item.easy["width"]
    if image.shape[:2] == (height, width):
        return image
    sizes = f"{image.shape[0]}x{image.shape[1]}, its easy image {item.easy['id']} is {height}x{width}"
    aspect = (image.shape[1] / image.shape[0]) / (width / height)
    if not resize:
        raise ItemError(f"{item.source}: {sizes} (pass --resize to resize it)")
    if abs(aspect - 1) > ASPECT_TOLERANCE:
        raise ItemError(f"{item.source}: {sizes}, another aspect: not resized")
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def import_images(
    dataset: DatasetFolder,
    items: list[ImportItem],
    consistency: Consistency | None,
    resize: bool = False,
    batch_size: int = 8,
    shard: Shard = WHOLE,
    report: Callable[[str], None] = print,
) -> JobSummary:
    """Write each item's image and row (resumably); score them with ``consistency``'s teacher."""

    def process(batch: list[ImportItem]) -> Results:
        fitted: list[np.ndarray | ItemError] = []
        for item in batch:
            try:
                fitted.append(_fitted(item, resize))
            except ItemError as error:
                fitted.append(error)
        good = [
            (item, image) for item, image in zip(batch, fitted, strict=True) if isinstance(image, np.ndarray)
        ]
        scores = _scores(dataset, good, consistency, batch_size)
        rows = iter(
            {**hard_row(dataset, item.id, item.easy, item.condition, image, score, consistency),
             "generator": {"backend": "import"}, "params": {"source": str(item.source)}}
            for (item, image), score in zip(good, scores, strict=True)
        )  # fmt: skip
        return [entry if isinstance(entry, ItemError) else next(rows) for entry in fitted]

    return run_job(items, dataset.manifest, IMPORT_STAGE, shard, process, batch_size, report)


def _scores(
    dataset: DatasetFolder,
    good: list[tuple[ImportItem, np.ndarray]],
    consistency: Consistency | None,
    batch_size: int,
) -> list[float | None]:
    """Each image's inconsistency against its label (None without a teacher)."""
    if consistency is None or not good:
        return [None] * len(good)
    labels = [np.load(dataset.root / item.easy["label"]) for item, _ in good]
    spaces = [item.easy["label_space"] for item, _ in good]
    images = [image for _, image in good]
    return list(score_by_space(consistency.teacher, images, labels, spaces, batch_size))
