"""The label stage: teacher depth for easy images, written once and reused by every later stage."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthforge.data.dataset import LABEL_STAGE, DatasetFolder, depth_stats
from depthforge.data.manifest import Row
from depthforge.depth.model import DepthModel
from depthforge.depth.spaces import DepthSpace
from depthforge.io import ImageReadError, find_images, read_rgb, save_npy, save_png
from depthforge.jobs import WHOLE, ItemError, JobSummary, Shard, run_job


@dataclass(frozen=True)
class EasyImage:
    id: str
    source: Path


def plan_easy_images(inputs: Iterable[str | Path]) -> tuple[list[EasyImage], list[str]]:
    """Easy images under ``inputs``; the id is the path below the given folder, without suffix."""
    found, problems = find_images(inputs)
    return [EasyImage(str(name.with_suffix("")), source) for source, name in found], problems


def teacher_settings(teacher: DepthModel) -> dict[str, str]:
    """What decides a dataset's labels: resuming with another teacher is refused."""
    return {"teacher": teacher.name, "label_space": teacher.space.value}


def label_row(
    dataset: DatasetFolder,
    easy_id: str,
    image: np.ndarray,
    depth: np.ndarray,
    space: DepthSpace,
    teacher: str,
) -> Row:
    """Write an easy image and its label (in ``space``, made by ``teacher``) into the dataset;
    return its manifest row."""
    save_png(dataset.root / dataset.easy_image(easy_id), image)
    save_npy(dataset.root / dataset.label(easy_id), depth.astype(np.float32))
    return {
        "id": easy_id,
        "image": dataset.easy_image(easy_id),
        "label": dataset.label(easy_id),
        "label_space": space.value,
        "label_unit": space.unit,
        "label_stats": depth_stats(depth),
        "teacher": teacher,
        "height": int(image.shape[0]),
        "width": int(image.shape[1]),
    }


def label_images(
    inputs: Iterable[str | Path],
    model: DepthModel,
    dataset: DatasetFolder,
    shard: Shard = WHOLE,
    batch_size: int = 8,
    report: Callable[[str], None] = print,
) -> JobSummary:
    """Label every image under ``inputs`` into ``dataset``; bad files are reported and skipped."""
    items, problems = plan_easy_images(inputs)
    for problem in problems:
        report(problem)

    def process(batch: list[EasyImage]) -> list[Row | ItemError]:
        loaded: list[np.ndarray | ItemError] = []
        for item in batch:
            try:
                loaded.append(read_rgb(item.source))
            except ImageReadError as error:
                loaded.append(ItemError(str(error)))
        good = [
            (item, image) for item, image in zip(batch, loaded, strict=True) if isinstance(image, np.ndarray)
        ]
        depths = iter(model.predict([image for _, image in good], batch_size=batch_size))
        rows: list[Row | ItemError] = []
        for item, image in zip(batch, loaded, strict=True):
            if isinstance(image, ItemError):
                rows.append(image)
            else:
                row = label_row(dataset, item.id, image, next(depths), model.space, model.name)
                rows.append({**row, "source": str(item.source)})
        return rows

    summary = run_job(
        items,
        dataset.manifest,
        LABEL_STAGE,
        shard,
        process,
        batch_size,
        report,
        settings=teacher_settings(model),
    )
    summary.failed[:0] = problems
    return summary
