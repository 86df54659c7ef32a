"""The dataset folder that `label`, `generate` and `generate-objects` write and `finetune` reads.

```
DATASET/
  easy/ID.png                  easy images, upright RGB (EXIF applied)
  labels/ID.npy                teacher labels, float32, in the space their row names
  objects/ID.png               object instance maps (0 = background), for easy images that came with one
  hard/CONDITION/ID-K.png      generated images, at their source's size, aligned with its label
  regions/CONDITION/ID-K.png   for transparent / mirror samples: the pixels made so (255)
  conditions/MODEL/ID.npy      conditioning depth from --condition-model, when one is used
  manifest/label-*.jsonl       one row per easy image
  manifest/generate-*.jsonl    one row per generated sample
  manifest/import-*.jsonl      one row per hard image made elsewhere (`depthforge import`)
  metadata.jsonl               every usable image's flat row, for datasets' "imagefolder"
  README.md                    the dataset card: hub front matter (a config per condition), settings, counts
```
Reading it back takes two lines:

    from depthforge.data.dataset import DatasetFolder
    samples = DatasetFolder("DATASET").samples()   # rows with "image", "label", "condition", ...

or, as a Hugging Face dataset (PIL "image", float32 "depth"), `hf_dataset("DATASET")`.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from depthforge.data.manifest import Row, read_rows
from depthforge.io import write_atomic

if TYPE_CHECKING:
    import datasets

LABEL_STAGE = "label"
GENERATE_STAGE = "generate"
IMPORT_STAGE = "import"
"""Hard images made elsewhere, brought in by `depthforge import`."""


@dataclass(frozen=True)
class DatasetFolder:
    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def manifest(self) -> Path:
        return self.root / "manifest"

    def easy_image(self, easy_id: str) -> str:
        return f"easy/{easy_id}.png"

    def label(self, easy_id: str) -> str:
        return f"labels/{easy_id}.npy"

    def objects(self, easy_id: str) -> str:
        return f"objects/{easy_id}.png"

    def hard_image(self, sample_id: str) -> str:
        return f"hard/{sample_id}.png"

    def region(self, sample_id: str) -> str:
        return f"regions/{sample_id}.png"

    def condition_depth(self, model_slug: str, easy_id: str) -> str:
        return f"conditions/{model_slug}/{easy_id}.npy"

    def labels(self) -> list[Row]:
        """One row per labelled easy image."""
        return read_rows(self.manifest, LABEL_STAGE)

    def generated(self) -> list[Row]:
        """One row per hard sample, generated here or imported (dropped ones included, with ``kept``
        false)."""
        return read_rows(self.manifest, GENERATE_STAGE) + read_rows(self.manifest, IMPORT_STAGE)

    def samples(self) -> list[Row]:
        """Every usable image, easy and hard, with ``image`` and ``label`` as absolute paths."""
        rows = [{**row, "condition": "easy"} for row in self.labels()]
        rows += [row for row in self.generated() if row["kept"]]
        return [
            {**row, "image": str(self.root / row["image"]), "label": str(self.root / row["label"])}
            for row in rows
        ]

    def write_metadata(self) -> None:
        """``metadata.jsonl`` for datasets' imagefolder: one flat row per usable image (see `hf_dataset`)."""
        rows = [{**row, "condition": "easy"} for row in self.labels()]
        rows += [row for row in self.generated() if row["kept"]]
        text = "".join(json.dumps(_metadata_row(row)) + "\n" for row in rows)
        write_atomic(self.root / "metadata.jsonl", lambda tmp: tmp.write_text(text))

    def write_card(self, settings: dict[str, Any]) -> None:
        """The dataset card, ``README.md``: the hub's front matter (`_card_metadata`), what made the data,
        and how much there is."""
        summaries = summarise_conditions(self.generated())
        front = yaml.safe_dump(_card_metadata([c.condition for c in summaries if c.kept]), sort_keys=False)
        lines = [
            "---",
            front.rstrip(),
            "---",
            "",
            "# depthforge dataset",
            "",
            "Easy images labelled by a depth network, and hard images generated from them that share",
            "their labels (see the depthforge README). Read it with `DatasetFolder(path).samples()`, or",
            "with `depthforge.data.dataset.hf_dataset(path)` (`pip install 'depthforge[hf]'`): PIL `image`,",
            "float32 `depth` (the label), `condition`, `id`, `easy_id`, `prompt`, `seed`. Plain",
            "`load_dataset(path, CONDITION)` gives one condition (config `easy`, or a generated one); the",
            "depth label is then the path `label_file`, a float32 .npy.",
            "",
            "## Counts",
            "",
            "| condition | images | flagged | dropped as inconsistent | skipped (no usable region) "
            "| inconsistency median | worst |",
            "|---|---|---|---|---|---|---|",
            f"| easy | {len(self.labels())} | 0 | 0 | 0 | | |",
            *(
                f"| {c.condition} | {c.kept} | {c.flagged} | {c.dropped} | {c.skipped} "
                f"| {_score(c.median_inconsistency)} | {_score(c.worst_inconsistency)} |"
                for c in summaries
            ),
            "",
            "## Settings of the last run",
            "",
            "```json",
            json.dumps(settings, indent=2, sort_keys=True, default=str),
            "```",
            "",
        ]
        write_atomic(self.root / "README.md", lambda tmp: tmp.write_text("\n".join(lines)))


@dataclass(frozen=True)
class ConditionSummary:
    """What a condition's generated rows hold: images kept, flagged, dropped and skipped, and the
    spread of their consistency scores."""

    condition: str
    kept: int
    flagged: int
    dropped: int
    skipped: int
    median_inconsistency: float | None
    worst_inconsistency: float | None


def summarise_conditions(rows: list[Row]) -> list[ConditionSummary]:
    """One summary per condition of generated ``rows``, by condition name."""
    by_condition: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_condition[row["condition"]].append(row)
    summaries = []
    for condition, group in sorted(by_condition.items()):
        scores = [row["inconsistency"] for row in group if row.get("inconsistency") is not None]
        summaries.append(
            ConditionSummary(
                condition,
                kept=sum(1 for row in group if row["kept"]),
                flagged=sum(1 for row in group if row.get("consistent") is False),
                dropped=sum(1 for row in group if not row["kept"] and not row.get("skipped")),
                skipped=sum(1 for row in group if row.get("skipped")),
                median_inconsistency=float(np.median(scores)) if scores else None,
                worst_inconsistency=max(scores) if scores else None,
            )
        )
    return summaries


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def depth_stats(depth: np.ndarray) -> dict[str, float | None]:
    """Summary of a depth map's finite values, stored with its row."""
    finite = depth[np.isfinite(depth)]
    if not finite.size:
        return {"valid_fraction": 0.0, "min": None, "max": None, "mean": None, "median": None}
    return {
        "valid_fraction": round(finite.size / depth.size, 6),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.mean()),
        "median": float(np.median(finite)),
    }


def _metadata_row(row: Row) -> dict[str, Any]:
    """A manifest row as imagefolder reads it: ``file_name`` (decoded as ``image``), the label's path as
    ``label_file`` (no ``*_file_name`` key, which imagefolder would decode as an image), flat values only."""
    return {
        "file_name": row["image"],
        "id": row["id"],
        "easy_id": row.get("easy_id", row["id"]),
        "condition": row["condition"],
        "prompt": row.get("prompt"),
        "negative_prompt": row.get("negative_prompt"),
        "seed": row.get("seed"),
        "label_file": row["label"],
        "label_space": row["label_space"],
        "inconsistency": row.get("inconsistency"),
        "region_file": row.get("region"),
    }


def _card_metadata(conditions: list[str]) -> dict[str, Any]:
    """The card's YAML front matter: the hub's task and tags, and one config per condition (``easy``
    and each generated one) beside ``default`` (every image)."""
    images = ["metadata.jsonl", "easy/*.png", "hard/**/*.png"]
    every = {"config_name": "default", "default": True, "data_files": [{"split": "train", "path": images}]}
    configs = [every]
    for condition, pattern in [("easy", "easy/*.png"), *((c, f"hard/{c}/**/*.png") for c in conditions)]:
        configs.append(
            {
                "config_name": condition,
                "data_files": [{"split": "train", "path": ["metadata.jsonl", pattern]}],
                "filters": [["condition", "==", condition]],
            }
        )
    return {
        "task_categories": ["depth-estimation"],
        "tags": ["depthforge", "depth", "synthetic", *conditions],
        "configs": configs,
    }


def hf_dataset(path: str | Path, split: str = "train") -> "datasets.Dataset":
    """The dataset folder as a Hugging Face dataset (datasets' imagefolder over ``metadata.jsonl``): PIL
    ``image``, float32 ``depth`` loaded from the row's ``label_file``, and the metadata's columns."""
    try:
        import datasets
    except ImportError as error:
        raise ImportError("hf_dataset needs Hugging Face datasets: pip install 'depthforge[hf]'") from error
    loaded = datasets.load_dataset("imagefolder", data_dir=str(path), split=split)
    return loaded.with_transform(partial(_with_depth, Path(path)))


def _with_depth(root: Path, batch: dict[str, list]) -> dict[str, list]:
    return {**batch, "depth": [np.load(root / name).astype(np.float32) for name in batch["label_file"]]}
