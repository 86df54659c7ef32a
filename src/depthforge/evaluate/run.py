"""`depthforge evaluate`: cached inference, then scoring by a protocol, then the outputs.

```
OUT/predictions/MODEL/PRECISION/IMAGES/[VARIANT/]ID.npy  raw predictions at the image's resolution
                                   (the cache); predict-*.jsonl beside them: their manifest (resumable)
OUT/per_sample.csv                 one row per model x alignment x sample x category
OUT/summary.json                   per alignment x model x condition x category: mean metrics, count;
                                   units, dtype, device, outliers
OUT/report.md                      the paper-style tables, one set per alignment
OUT/figures/ID.png                 image | ground truth | each model's depth, over the scored pixels |
                                   colour scales | each model's AbsRel
```
PRECISION is the dtype and the kind of device (``float32-cpu``, ``bfloat16-cuda``) and IMAGES a hash
of one condition's images, so each model, precision, condition and variant has its own cache and
its own progress bar, labelled with the model's short name and the condition. Predictions made
elsewhere (``DIR/ID.npy``) are scored beside the models' own.
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
from depthforge.depth.model import DepthModel, resolve_device, resolve_dtype
from depthforge.depth.spaces import DepthSpace
from depthforge.evaluate.figures import figure_grid
from depthforge.evaluate.metrics import METRIC_NAMES, mean_metrics, metric_units, outliers
from depthforge.evaluate.protocols import Protocol
from depthforge.evaluate.readers import BenchmarkReader, ReaderError, Sample, SampleRef
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


def precision(dtype: str, device: str) -> tuple[str, str]:
    """The dtype (``float32``, ``bfloat16``, ...) and kind of device (``cpu``, ``cuda``) a model
    loaded with these options runs in; raises ``ValueError`` for an unknown one."""
    try:
        resolved = resolve_device(device)
        return str(resolve_dtype(dtype, resolved)).removeprefix("torch."), resolved.type
    except (KeyError, RuntimeError) as error:
        raise ValueError(f"unknown dtype '{dtype}' or device '{device}' ({error})") from error


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
    kind: tuple[str, str],
    variant: str = "",
    transform: Transform | None = None,
) -> dict[str, Row]:
    """Predict the samples not cached yet, a condition at a time (loading the model once, and only
    if anything is missing); return the rows by id.

    ``kind`` is the ``precision`` the model runs in: predictions made in another are never reused.
    A ``variant`` (e.g. a corruption and its severity) has its own cache; ``transform`` changes
    each image before inference.
    """
    fingerprint = model_fingerprint(name)
    model_key = model_slug(name) + (f"-{fingerprint}" if fingerprint else "")
    model = functools.cache(lambda: load(name))
    found: dict[str, Row] = {}
    for condition, group in by_condition(refs).items():
        folder = f"predictions/{model_key}/{'-'.join(kind)}/{images_fingerprint(group)}"
        folder += f"/{variant}" if variant else ""
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


def parse_predictions(spec: str) -> tuple[Path, DepthSpace]:
    """``DIR:SPACE`` (e.g. ``preds:relative_inverse_depth``) as the folder and its depth space; not
    disparity, which has no depth without the baseline and focal length of the camera that made it."""
    folder, _, space = spec.rpartition(":")
    spaces = [member.value for member in DepthSpace if member is not DepthSpace.DISPARITY]
    if space not in spaces:
        raise ValueError(f"--predictions {spec}: expected DIR:SPACE, SPACE one of {', '.join(spaces)}")
    if not Path(folder).is_dir():
        raise ValueError(f"{folder}: predictions folder not found")
    return Path(folder), DepthSpace(space)


def external_predictions(
    folder: Path, space: DepthSpace, refs: list[SampleRef], report: Callable[[str], None]
) -> dict[str, Row]:
    """Rows by id for predictions made elsewhere, ``FOLDER/ID.npy``; each missing one is reported."""
    rows: dict[str, Row] = {}
    for ref in refs:
        path = folder / f"{ref.id}.npy"
        if path.is_file():
            rows[ref.id] = {"id": ref.id, "path": str(path.absolute()), "space": space.value}
        else:
            report(f"{path}: missing prediction for {ref.id}")
    return rows


def load_prediction(path: Path) -> np.ndarray:
    """A depth map (its axes of size 1 dropped); ``ValueError`` naming the file if it is not one."""
    try:
        pred = np.squeeze(np.load(path))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read prediction ({error})") from error
    if pred.ndim != 2:
        raise ValueError(f"{path}: a prediction must be a 2-D depth map, not of shape {pred.shape}")
    return pred


@dataclass
class Evaluation:
    """Per-sample rows and per (alignment, model, condition, category) means."""

    protocol: Protocol
    models: list[str]
    unit: str
    table: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    dtype: str | None = None
    device: str | None = None

    def summary(self) -> dict[str, Any]:
        """``results``: the first alignment's means, ``results_by_alignment``: the others'."""
        groups: dict[tuple[str, str, str, str], list[dict[str, float]]] = defaultdict(list)
        for row in self.rows:
            for condition in {row["condition"], "all"}:
                groups[(row["alignment"], row["model"], condition, row["category"])].append(row)
        means = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
        for (alignment, model, condition, category), rows in sorted(groups.items()):
            means[alignment][model][condition][category] = mean_metrics(rows)
        alignments = list(dict.fromkeys(row["alignment"] for row in self.rows))
        return {
            "protocol": self.protocol.name,
            "description": self.protocol.description,
            "models": self.models,
            "units": metric_units(self.unit),
            "depth_range": list(self.protocol.limits),
            "averaging": "per image",
            "dtype": self.dtype,
            "device": self.device,
            "table": list(self.table),
            "alignments": alignments,
            "results": means[alignments[0]] if alignments else {},
            "results_by_alignment": {alignment: means[alignment] for alignment in alignments[1:]},
            "outliers": outliers(self.rows),
        }

    def scored(self) -> set[str]:
        """The samples scored for every model."""
        ids: dict[str, set[str]] = defaultdict(set)
        for row in self.rows:
            ids[row["model"]].add(row["id"])
        return set.intersection(*(ids[model] for model in self.models))


def score(
    evaluation: Evaluation,
    reader: BenchmarkReader,
    refs: list[SampleRef],
    out: Path,
    cached: dict[str, dict[str, Row]],
    report: Callable[[str], None],
    metric_alignments: tuple[Alignment, ...],
    condition: str | None = None,
) -> None:
    """Score every cached prediction against its ground truth into ``evaluation``, a metric one
    once per ``metric_alignments``, under ``condition`` if given, else the protocol's group of the
    sample's own. Unreadable samples and predictions, and samples without a pixel to score, are
    reported (those whose image could not be read were, when they were predicted)."""
    protocol = evaluation.protocol
    for ref in refs:
        found = {model: rows[ref.id] for model, rows in cached.items() if ref.id in rows}
        if not found:
            continue
        try:
            sample = reader.load(ref)
        except ReaderError as error:
            report(str(error))
            continue
        if not protocol.evaluated(sample).any():
            report(f"{ref.id}: no valid ground truth inside the protocol's range and crop; not scored")
            continue
        keys = {"id": ref.id, "condition": condition or protocol.condition_group(ref.condition)}
        for model, row in found.items():
            space = DepthSpace(row["space"])
            try:
                scores = _scores(protocol, out / row["path"], space, sample, metric_alignments)
            except ValueError as error:
                report(f"{ref.id} ({model}): cannot score ({error})")
                continue
            evaluation.rows += [{"model": model, **keys, **scored} for scored in scores]


def _scores(
    protocol: Protocol, path: Path, space: DepthSpace, sample: Sample, metric: tuple[Alignment, ...]
) -> list[dict[str, Any]]:
    """One prediction's metrics, a row per alignment (``metric`` for a metric one) and pixel category."""
    pred = load_prediction(path)
    return [
        {"alignment": alignment.value, "category": category, **metrics}
        for alignment in protocol.alignments_for(space, metric)
        for category, metrics in protocol.score(pred, space, sample, alignment).items()
    ]


def write_outputs(evaluation: Evaluation, out: Path) -> dict[str, Any]:
    """per_sample.csv, summary.json and report.md."""
    with (out / "per_sample.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, ["model", "alignment", "id", "condition", "category", *METRIC_NAMES])
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
    metric_alignments: tuple[Alignment, ...],
) -> list[Path]:
    """Figure grids for ``count`` readable samples, taken from the conditions in turn; each model's
    depth is aligned by its first alignment, an unreadable prediction left out."""
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
        predictions = {}
        for model, rows in cached.items():
            if ref.id not in rows:
                continue
            space = DepthSpace(rows[ref.id]["space"])
            alignment = protocol.alignments_for(space, metric_alignments)[0]
            try:
                pred = load_prediction(out / rows[ref.id]["path"])
            except ValueError:
                continue
            predictions[labels[model]] = protocol.aligned_depth(pred, space, sample, mask, alignment)
        path = out / "figures" / f"{ref.id}.png"
        save_png(path, figure_grid(sample.image, sample.depth, mask, predictions, sample.unit))
        written.append(path)
    return written
