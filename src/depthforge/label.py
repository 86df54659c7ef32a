"""The label stage: teacher depth for easy images, written once and reused by every later stage.

An easy image may come with an object instance map (0 = background, each other value one
object), which the transparent and mirror conditions turn into glass or metal: for
``.../images/NAME.EXT`` it is ``.../objects/NAME.png``, as SimBench renders write them.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from depthforge.data.dataset import LABEL_STAGE, DatasetFolder, depth_stats
from depthforge.data.manifest import Row
from depthforge.depth.model import DepthModel
from depthforge.depth.spaces import DepthSpace
from depthforge.io import ImageReadError, find_images, read_object_map, read_rgb, save_npy, save_png
from depthforge.jobs import WHOLE, Finish, ItemError, JobSummary, Results, Shard, run_job


@dataclass(frozen=True)
class EasyImage:
    id: str
    source: Path

    @property
    def object_map(self) -> Path | None:
        """The image's object instance map, if one lies beside it."""
        if self.source.parent.name != "images":
            return None
        path = self.source.parent.parent / "objects" / f"{self.source.stem}.png"
        return path if path.is_file() else None


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
    objects: np.ndarray | None = None,
) -> Row:
    """Write an easy image, its label (in ``space``, made by ``teacher``) and its object map, if
    any, into the dataset; return its manifest row."""
    save_png(dataset.root / dataset.easy_image(easy_id), image)
    save_npy(dataset.root / dataset.label(easy_id), depth.astype(np.float32))
    if objects is not None:
        save_png(
            dataset.root / dataset.objects(easy_id),
            objects.astype(np.uint8 if objects.max() < 256 else np.uint16),
        )
    return {
        "id": easy_id,
        "image": dataset.easy_image(easy_id),
        "label": dataset.label(easy_id),
        "label_space": space.value,
        "label_unit": space.unit,
        "label_stats": depth_stats(depth),
        "teacher": teacher,
        "objects": dataset.objects(easy_id) if objects is not None else None,
        "height": int(image.shape[0]),
        "width": int(image.shape[1]),
    }


FLAT_SPREAD = 0.1
"""A label whose values span less than this share of their median is nearly constant."""


def flat_label_warning(rows: list[Row]) -> str | None:
    """A warning when most labels are nearly constant: the teacher sees almost no depth in the
    images (e.g. ``simbench-teacher``, trained on renders only, on real photos)."""
    flat = [
        row
        for row in rows
        if (stats := row["label_stats"])["median"] is not None
        and stats["max"] - stats["min"] < FLAT_SPREAD * max(abs(stats["median"]), 1e-12)
    ]
    if not rows or len(flat) * 2 <= len(rows):
        return None
    stats = flat[0]["label_stats"]
    return (
        f"{len(flat)} of {len(rows)} labels are nearly constant (values within {FLAT_SPREAD:.0%} of their "
        f"median; {flat[0]['label']}: {stats['min']:.4g} to {stats['max']:.4g}): the teacher "
        f"{rows[0]['teacher']} sees almost no depth in these images, so training on them teaches "
        "little; a teacher trained on real photos (e.g. depth-anything-v2-small) fits them better"
    )


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

    def read(batch: list[EasyImage]) -> list[tuple[np.ndarray, np.ndarray | None] | ItemError]:
        """Each image and its object map, or why it cannot be read (on the reader thread)."""
        loaded: list[tuple[np.ndarray, np.ndarray | None] | ItemError] = []
        for item in batch:
            try:
                image = read_rgb(item.source)
                found = item.object_map
                loaded.append((image, read_object_map(found, image.shape[:2]) if found else None))
            except ImageReadError as error:
                loaded.append(ItemError(str(error)))
        return loaded

    def process(
        batch: list[EasyImage], loaded: list[tuple[np.ndarray, np.ndarray | None] | ItemError]
    ) -> Finish:
        """Predict now; write the files and rows on the writer thread (``Finish``)."""
        good = [entry for entry in loaded if not isinstance(entry, ItemError)]
        depths = iter(model.predict([image for image, _ in good], batch_size=batch_size))
        made = [entry if isinstance(entry, ItemError) else (*entry, next(depths)) for entry in loaded]

        def finish() -> Results:
            rows: Results = []
            for item, entry in zip(batch, made, strict=True):
                if isinstance(entry, ItemError):
                    rows.append(entry)
                else:
                    image, objects, depth = entry
                    row = label_row(dataset, item.id, image, depth, model.space, model.name, objects)
                    rows.append({**row, "source": str(item.source)})
            return rows

        return finish

    summary = run_job(
        items,
        dataset.manifest,
        LABEL_STAGE,
        shard,
        process,
        batch_size,
        report,
        settings=teacher_settings(model),
        read=read,
    )
    summary.failed[:0] = problems
    return summary
