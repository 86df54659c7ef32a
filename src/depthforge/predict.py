"""The predict stage: depth for files and folders of images, as ``.npy`` arrays and coloured PNGs.

The output folder holds, per image, ``NAME.npy`` (float32, in the model's depth space) and
``NAME.png`` (colour-mapped, near = warm), plus ``predictions.jsonl`` with one row per image that
records the source, the space and unit, and value statistics. A rerun into the same folder skips
the images already recorded there, so an interrupted run resumes.
"""

import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from depthforge.data.manifest import ManifestWriter
from depthforge.depth.model import DepthModel
from depthforge.depth.spaces import DepthSpace, to_inverse_depth
from depthforge.io import (
    ImageReadError,
    colorize,
    find_images,
    read_rgb,
    remove_stale_temp_files,
    save_npy,
    save_png,
)
from depthforge.locks import WriterLock
from depthforge.progress import Progress

INDEX_NAME = "predictions.jsonl"
log = logging.getLogger(__name__)


@dataclass
class PredictSummary:
    """What a predict run did."""

    written: int = 0
    already_done: int = 0
    failed: list[str] = field(default_factory=list)


def _load_index(index: Path, out: Path, model_name: str) -> set[str]:
    """Sources already predicted into ``out`` by the same model; raises if another model wrote it."""
    if not index.exists():
        return set()
    done = set()
    for line in index.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill; its image is predicted again
        if row["model"] != model_name:
            raise ValueError(
                f"{out} holds predictions of model '{row['model']}'; choose another output folder"
            )
        if (out / row["npy"]).exists() and (out / row["png"]).exists():
            done.add(row["source"])
    return done


def _nearness(depth: np.ndarray, space: DepthSpace) -> np.ndarray:
    import torch

    return to_inverse_depth(torch.from_numpy(depth), space).numpy()


def _write_one(out: Path, name: Path, source: Path, depth: np.ndarray, model: DepthModel) -> dict:
    npy, png = name.with_suffix(".npy"), name.with_suffix(".png")
    save_npy(out / npy, depth.astype(np.float32))
    save_png(out / png, colorize(_nearness(depth, model.space)))
    finite = depth[np.isfinite(depth)]
    return {
        "source": str(source),
        "npy": str(npy),
        "png": str(png),
        "model": model.name,
        "space": model.space.value,
        "unit": model.space.unit,
        "height": int(depth.shape[0]),
        "width": int(depth.shape[1]),
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
    }


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read_or_report(source: Path) -> np.ndarray | ImageReadError:
    try:
        return read_rgb(source)
    except ImageReadError as error:
        return error


def predict_images(
    inputs: Iterable[str | Path],
    model: DepthModel,
    out: Path,
    batch_size: int = 4,
    report: Callable[[str], None] = log.error,
) -> PredictSummary:
    """Predict depth for every image under ``inputs`` into ``out``; bad files are reported and skipped."""
    out.mkdir(parents=True, exist_ok=True)
    index = out / INDEX_NAME
    with WriterLock(index):
        remove_stale_temp_files(out)
        done = _load_index(index, out, model.name)
        images, problems = find_images(inputs)
        summary = PredictSummary(failed=list(problems))
        for problem in problems:
            report(problem)
        todo = [(source, name) for source, name in images if str(source) not in done]
        summary.already_done = len(images) - len(todo)
        with (
            ManifestWriter(index) as writer,
            ThreadPoolExecutor(max_workers=4) as readers,
            Progress(len(todo), "predict", "img") as progress,
        ):
            for batch in _batches(todo, batch_size):
                loaded = list(readers.map(_read_or_report, [source for source, _ in batch]))
                good = [
                    (item, pixels)
                    for item, pixels in zip(batch, loaded, strict=True)
                    if isinstance(pixels, np.ndarray)
                ]
                for pixels in loaded:
                    if isinstance(pixels, ImageReadError):
                        report(str(pixels))
                        summary.failed.append(str(pixels))
                depths = model.predict([pixels for _, pixels in good], batch_size=batch_size)
                rows = [
                    _write_one(out, name, source, depth, model)
                    for ((source, name), _), depth in zip(good, depths, strict=True)
                ]
                writer.append(rows)
                summary.written += len(rows)
                progress.update(len(batch))
    return summary
