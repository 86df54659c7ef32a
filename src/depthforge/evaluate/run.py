"""`depthforge evaluate`: cached inference, then scoring by a protocol, then the outputs.

```
OUT/predictions/MODEL/IMAGES/ID.npy raw predictions at the image's resolution (the cache)
OUT/manifest/predict-MODEL-IMAGES-*.jsonl one row per cached prediction (resumable like every stage)
OUT/per_sample.csv                 one row per model x sample x category
OUT/summary.json                   per model x condition x category: mean metrics, count, units
OUT/report.md                      the paper-style table
OUT/figures/ID.png                 image | each model's depth | each model's error
```
"""

import csv
import hashlib
import json
import math
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
from depthforge.evaluate.metrics import METRIC_NAMES, mean_metrics, metric_units
from depthforge.evaluate.protocols import Protocol
from depthforge.evaluate.readers import BenchmarkReader, ReaderError, SampleRef
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
    """Predict the samples not cached yet (loading the model only if there are any); return the rows.

    A ``variant`` (e.g. a corruption and its severity) has its own cache; ``transform`` changes
    each image before inference.
    """
    fingerprint = model_fingerprint(name)
    slug = model_slug(name) + (f"-{fingerprint}" if fingerprint else "") + f"/{images_fingerprint(refs)}"
    slug += f"/{variant}" if variant else ""
    stage = "predict-" + slug.replace("/", "-")
    done = {row["id"] for row in read_rows(out / "manifest", stage)}
    if any(ref.id not in done for ref in refs):
        model = load(name)

        def process(batch: list[SampleRef]) -> list[Row | ItemError]:
            images: list[np.ndarray | ItemError] = []
            for ref in batch:
                try:
                    image = reader.read_image(ref)
                    images.append(transform(ref, image) if transform else image)
                except ReaderError as error:
                    images.append(ItemError(str(error)))
            good = [image for image in images if isinstance(image, np.ndarray)]
            depths = iter(model.predict(good, batch_size))
            rows: list[Row | ItemError] = []
            for ref, image in zip(batch, images, strict=True):
                if isinstance(image, ItemError):
                    rows.append(image)
                    continue
                path = f"predictions/{slug}/{ref.id}.npy"
                save_npy(out / path, next(depths))
                rows.append({"id": ref.id, "path": path, "space": model.space.value, "model": name})
            return rows

        run_job(refs, out / "manifest", stage, WHOLE, process, batch_size, report)
    return {row["id"]: row for row in read_rows(out / "manifest", stage)}


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
            "averaging": "per image",
            "table": list(self.table),
            "results": means,
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


def _cell(value: float, reference: float | None, unit: str) -> str:
    if math.isnan(value):
        return "-"
    text = f"{value * 100:.2f}" if unit == "fraction" else f"{value:.3f}"
    if reference and not math.isnan(reference) and reference != value:
        text += f" ({(value - reference) / abs(reference):+.1%})"
    return text


def markdown_table(summary: dict[str, Any], metrics: tuple[str, ...]) -> str:
    """The paper's layout: per pixel category (all, then e.g. ToM / Other) a table with a row per
    model and a column group per condition, each cell ``metric (change against the first model)``;
    fractions are shown in %."""
    results, models, units = summary["results"], summary["models"], summary["units"]
    first = results[models[0]]
    conditions = sorted(first, key=lambda c: (c == "all", c))
    if len(conditions) == 2:  # one condition plus its identical "all"
        conditions = conditions[:1]
    categories = sorted(first["all"], key=lambda k: k != "all")
    lines = [f"**{summary['protocol']}**: {summary['description']}; averaged {summary['averaging']}.", ""]
    for category in categories:
        shown = [c for c in conditions if category in first[c]]  # e.g. ToM pixels exist in "tom" only
        header = [
            "model",
            *(f"{c} {m} ({'%' if units[m] == 'fraction' else units[m]})" for c in shown for m in metrics),
        ]
        lines += [f"Pixels: {category}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for model in models:
            cells = [model]
            for condition in shown:
                values = results[model].get(condition, {}).get(category, {})
                reference = first[condition][category]
                for metric in metrics:
                    value = values.get(metric, math.nan)
                    cells.append(
                        _cell(value, None if model == models[0] else reference[metric], units[metric])
                    )
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    counts = ", ".join(f"{c}: {first[c]['all']['count']}" for c in conditions)
    return "\n".join([*lines, f"Images per condition: {counts}.", ""])


def write_figures(
    protocol: Protocol,
    reader: BenchmarkReader,
    refs: list[SampleRef],
    out: Path,
    cached: dict[str, dict[str, Row]],
    count: int,
    metric_alignment: Alignment | None = None,
) -> list[Path]:
    """Figure grids for the first ``count`` readable samples."""
    written = []
    for ref in refs:
        if len(written) >= count:
            break
        try:
            sample = reader.load(ref)
        except ReaderError:
            continue
        mask = protocol.evaluated(sample)
        predictions = {
            model: protocol.aligned_depth(
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
        labels = {model_slug(model): depth for model, depth in predictions.items()}
        save_png(path, figure_grid(sample.image, sample.depth, mask, labels))
        written.append(path)
    return written
