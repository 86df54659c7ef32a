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
  metadata.jsonl               every image with its row, for datasets' "imagefolder"
  README.md                    the dataset card: settings and counts
```
Reading it back takes two lines:

    from depthforge.data.dataset import DatasetFolder
    samples = DatasetFolder("DATASET").samples()   # rows with "image", "label", "condition", ...
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.data.manifest import Row, read_rows
from depthforge.io import write_atomic

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
        """``metadata.jsonl`` in the convention of datasets' imagefolder (``file_name`` per image)."""
        rows = [{**row, "condition": "easy"} for row in self.labels()]
        rows += [row for row in self.generated() if row["kept"]]
        text = "".join(json.dumps({"file_name": row["image"], **row}, sort_keys=True) + "\n" for row in rows)
        write_atomic(self.root / "metadata.jsonl", lambda tmp: tmp.write_text(text))

    def write_card(self, settings: dict[str, Any]) -> None:
        """The dataset card, ``README.md``: what made the data, and how much there is."""
        lines = [
            "# depthforge dataset",
            "",
            "Easy images labelled by a depth network, and hard images generated from them that share",
            "their labels (see the depthforge README). Read it with `DatasetFolder(path).samples()`,",
            "or, with `pip install datasets`, `load_dataset('imagefolder', data_dir=path)`.",
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
                for c in summarise_conditions(self.generated())
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
