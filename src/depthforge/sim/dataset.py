"""Rendered scenes as a training dataset folder whose labels are the exact rendered depth."""

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from depthforge.data.dataset import LABEL_STAGE, DatasetFolder
from depthforge.data.manifest import ManifestWriter, part_path, read_rows
from depthforge.depth.spaces import DepthSpace
from depthforge.io import read_rgb
from depthforge.label import label_row


def ground_truth_dataset(rendered: Iterable[Path], dataset: DatasetFolder, condition: str = "day") -> int:
    """Add every ``condition`` image of the rendered folders to ``dataset`` as an easy image labelled
    with its rendered metric depth (sky, depth 0, is an invalid label pixel). Returns rows added."""
    done = {row["id"] for row in read_rows(dataset.manifest, LABEL_STAGE)}
    added = 0
    with ManifestWriter(part_path(dataset.manifest, LABEL_STAGE, 0, 1)) as writer:
        for root in rendered:
            for image_path in sorted((root / condition / "images").glob("*.png")):
                easy_id = f"{root.name}/{image_path.stem}"
                if easy_id in done:
                    continue
                depth = np.load(root / condition / "depth" / f"{image_path.stem}.npy")
                row = label_row(
                    dataset, easy_id, read_rgb(image_path), depth, DepthSpace.METRIC_DEPTH, "rendered"
                )
                writer.append([{**row, "source": str(image_path)}])
                added += 1
    return added
