"""`depthforge evaluate`: cached inference, then scoring by a protocol, then the outputs.

```
OUT/predictions/MODEL/IMAGES/[VARIANT/]ID.npy   raw predictions at the image's resolution (the cache),
OUT/predictions/MODEL/IMAGES/[VARIANT/]predict-*.jsonl  their manifest (resumable)
OUT/per_sample.csv                 one row per model x sample x category
OUT/summary.json                   per model x condition x category: mean metrics, count, units; outliers
OUT/report.md                      the paper-style table
OUT/figures/ID.png                 image | ground truth | each model's depth, over the scored pixels |
                                   colour scales | each model's AbsRel
```
IMAGES is a hash of one condition's images, so each model, condition and variant has its own cache
and its own progress bar, labelled with the model's short name and the condition.
"""

import csv
import functools
import hashlib
import itertools
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.data.manifest import Row, read_rows
from depthforge.depth.alignment import Alignment
from depthforge.depth.model import DepthModel
from depthforge.depth.spaces import DepthSpace
from depthforge.evaluate.figures import figure_grid
from depthforge.evaluate.metrics import METRIC_NAMES, mean_metrics, metric_units, outliers
from depthforge.evaluate.protocols import Protocol
from depthforge.evaluate.readers import BenchmarkReader, ReaderError, SampleRef
from depthforge.evaluate.tables import markdown_table, model_label, model_labels
from depthforge.io import save_npy, save_png
from depthforge.jobs import WHOLE, ItemError, run_job


def model_slug(name: str) -> str:
    return name.strip("/").replace("/", "--")


def model_fingerprint(name: str) -> str:
    """For a local folder, a short hash of its config and weight files' sizes and times, so that a
    model retrained into the same folder gets a fresh cache; empty for hub ids."""
    folder = Path(name)
    if not folder.is_dir():
        return ""
    files = sorted([*folder.glob("*.json"), *folder.glob("*.safetensors")])
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha1(repr(stats).encode()).hexdigest()[:8]


def images_fingerprint(refs: list[SampleRef]) -> str:
    """A short hash of the images' paths, sizes and times, so that a benchmark re-made in the same
    place (or another one with the same sample ids) gets a fresh cache."""
    stamps = []
    for ref in refs:
        try:
            stat = ref.image.stat()
            stamps.append((ref.id, str(ref.image.resolve()), stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamps.append((ref.id, str(ref.image), -1, -1))  # reported when it is read
    return hashlib.sha1(repr(stamps).encode()).hexdigest()[:8]


Transform = Callable[[SampleRef, np.ndarray], np.ndarray]


PREDICT_STAGE = "predict"
"""The manifest stage of cached predictions (one manifest per model, condition and variant folder)."""


def by_condition(refs: list[SampleRef]) -> dict[str, list[SampleRef]]:
    """``refs`` grouped by condition, in order of first appearance."""
    groups: dict[str, list[SampleRef]] = defaultdict(list)
    for ref in refs:
        groups[ref.condition].append(ref)
    return groups


def cache_predictions(
    name: str,
    reader: BenchmarkReader,
    refs: list[SampleRef],
    out: Path,
    load: Callable[[str], DepthModel],
    batch_size: int,
    report: Callable[[str], None],
    variant: str = "",
    transform: Transform | None = None,
) -> dict[str, Row]:
    """Predict the samples not cached yet, a condition at a time (loading the model once, and only
    if anything is missing); return the rows by id.

    A ``variant`` (e.g. a corruption and its severity) has its own cache; ``transform`` changes
    each image before inference.
    """
    fingerprint = model_fingerprint(name)
    model_key = model_slug(name) + (f"-{fingerprint}" if fingerprint else "")
    model = functools.cache(lambda: load(name))
    found: dict[str, Row] = {}
    for condition, group in by_condition(refs).items():
        folder = f"predictions/{model_key}/{images_fingerprint(group)}" + (f"/{variant}" if variant else "")
        words = [model_label(name), "" if condition == "all" else condition, variant]
        done = {row["id"] for row in read_rows(out / folder, PREDICT_STAGE)}
        if any(ref.id not in done for ref in group):
            process = _predictor(name, model, reader, transform, out, folder, batch_size)
            desc = " ".join(["predict", *filter(None, words)])
            run_job(group, out / folder, PREDICT_STAGE, WHOLE, process, batch_size, report, desc=desc)
        found |= {row["id"]: row for row in read_rows(out / folder, PREDICT_STAGE)}
    return found


def _predictor(
    name: str,
    model: Callable[[], DepthModel],
    reader: BenchmarkReader,
    transform: Transform | None,
    out: Path,
    folder: str,
    batch_size: int,
) -> Callable[[list[SampleRef]], list[Row | ItemError]]:
    """The job's ``process``: read (and transform) a batch's images, predict, save one ``.npy`` each."""

    def process(batch: list[SampleRef]) -> list[Row | ItemError]:
        images: list[np.ndarray | ItemError] = []
        for ref in batch:
            try:
                image = reader.read_image(ref)
                images.append(transform(ref, image) if transform else image)
            except ReaderError as error:
                images.append(ItemError(str(error)))
        good = [image for image in images if isinstance(image, np.ndarray)]
        depths = iter(model().predict(good, batch_size))
        rows: list[Row | ItemError] = []
        for ref, image in zip(batch, images, strict=True):
            if isinstance(image, ItemError):
                rows.append(image)
                continue
            path = f"{folder}/{ref.id}.npy"
            save_npy(out / path, next(depths))
            rows.append({"id": ref.id, "path": path, "space": model().space.value, "model": name})
        return rows

    return process


@dataclass
class Evaluation:
    """Per-sample rows and per (model, condition, category) means."""

    protocol: Protocol
    models: list[str]
    unit: str
    table: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        groups: dict[tuple[str, str, str], list[dict[str, float]]] = defaultdict(list)
        for row in self.rows:
            for condition in {row["condition"], "all"}:
                groups[(row["model"], condition, row["category"])].append(row)
        means = defaultdict(lambda: defaultdict(dict))
        for (model, condition, category), rows in sorted(groups.items()):
            means[model][condition][category] = mean_metrics(rows)
        return {
            "protocol": self.protocol.name,
            "description": self.protocol.description,
            "models": self.models,
            "units": metric_units(self.unit),
            "depth_range": list(self.protocol.limits),
            "averaging": "per image",
            "table": list(self.table),
            "results": means,
            "outliers": outliers(self.rows),
        }


def score(
    evaluation: Evaluation,
    reader: BenchmarkReader,
    refs: list[SampleRef],
    out: Path,
    cached: dict[str, dict[str, Row]],
    report: Callable[[str], None],
    metric_alignment: Alignment | None = None,
    condition: str | None = None,
) -> None:
    """Score every cached prediction against its ground truth into ``evaluation`` (under
    ``condition`` if given, else each sample's own); unreadable samples are reported (those whose
    image could not be read were, when they were predicted)."""
    protocol = evaluation.protocol
    for ref in refs:
        if not any(ref.id in rows for rows in cached.values()):
            continue
        try:
            sample = reader.load(ref)
        except ReaderError as error:
            report(str(error))
            continue
        for model, rows in cached.items():
            if ref.id not in rows:
                continue
            pred = np.load(out / rows[ref.id]["path"])
            try:
                scores = protocol.score(pred, DepthSpace(rows[ref.id]["space"]), sample, metric_alignment)
            except ValueError as error:
                report(f"{ref.id} ({model}): cannot score ({error})")
                continue
            for category, metrics in scores.items():
                evaluation.rows.append(
                    {
                        "model": model,
                        "id": ref.id,
                        "condition": condition or ref.condition,
                        "category": category,
                        **metrics,
                    }
                )


def write_outputs(evaluation: Evaluation, out: Path) -> dict[str, Any]:
    """per_sample.csv, summary.json and report.md."""
    with (out / "per_sample.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, ["model", "id", "condition", "category", *METRIC_NAMES])
        writer.writeheader()
        writer.writerows(evaluation.rows)
    summary = evaluation.summary()
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=True))
    (out / "report.md").write_text(markdown_table(summary, evaluation.table))
    return summary


def in_turns(refs: list[SampleRef]) -> list[SampleRef]:
    """``refs`` reordered: the first sample of every condition, then the second of every one, ..."""
    turns = itertools.zip_longest(*by_condition(refs).values())
    return [ref for turn in turns for ref in turn if ref is not None]


def write_figures(
    protocol: Protocol,
    reader: BenchmarkReader,
    refs: list[SampleRef],
    out: Path,
    cached: dict[str, dict[str, Row]],
    count: int,
    metric_alignment: Alignment | None = None,
) -> list[Path]:
    """Figure grids for ``count`` readable samples, taken from the conditions in turn."""
    labels = model_labels(list(cached))
    written = []
    for ref in in_turns(refs):
        if len(written) >= count:
            break
        try:
            sample = reader.load(ref)
        except ReaderError:
            continue
        mask = protocol.evaluated(sample)
        predictions = {
            labels[model]: protocol.aligned_depth(
                np.load(out / rows[ref.id]["path"]),
                DepthSpace(rows[ref.id]["space"]),
                sample,
                mask,
                metric_alignment,
            )
            for model, rows in cached.items()
            if ref.id in rows
        }
        path = out / "figures" / f"{ref.id}.png"
        save_png(path, figure_grid(sample.image, sample.depth, mask, predictions, sample.unit))
        written.append(path)
    return written
