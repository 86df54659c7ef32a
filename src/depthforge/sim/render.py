"""`depthforge sim render`: rendered scenes with exact ground truth, in the generic benchmark layout.

```
OUT/benchmark.json                          depth range; categories: tom = class 1, other = class 0
OUT/CONDITION/images/FAMILY-NNNNN.png       the rendered image (sRGB, fixed exposure: night is dark)
OUT/CONDITION/depth/FAMILY-NNNNN.npy        camera-z depth in metres, 0 where the ray meets sky
OUT/CONDITION/intrinsics/FAMILY-NNNNN.json  fx, fy, cx, cy (px)
OUT/tom/categories/FAMILY-NNNNN.png         1 on glass and mirror objects, 0 elsewhere
OUT/manifest/render-*.jsonl                 one row per scene (resumable, shardable)
```
Depth comes from a separate pass without medium or special materials, so fog and glass do not
change the ground truth: camera z of the first opaque surface of the layout.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from depthforge.generate.seeds import sample_seed
from depthforge.io import save_npy, save_png, write_atomic
from depthforge.jobs import WHOLE, ItemError, JobSummary, Shard, run_job
from depthforge.sim.backend import mitsuba, variant
from depthforge.sim.scenes import LAYOUTS, Layout, describe

STAGE = "render"
DEPTH_RANGES = {"street": [0.5, 150.0], "tabletop": [0.05, 10.0]}
"""Evaluation range caps per family (written to benchmark.json): the scenes' own extents."""


@dataclass(frozen=True)
class SceneItem:
    id: str
    family: str
    seed: int


def intrinsics(layout: Layout, size: tuple[int, int]) -> dict[str, float]:
    """Pinhole intrinsics of the layout's camera (Mitsuba's ``fov`` spans the image width)."""
    width, height = size
    fx = (width / 2) / math.tan(math.radians(layout.fov) / 2)
    return {"fx": fx, "fy": fx, "cx": width / 2, "cy": height / 2}


def ground_truth(layout: Layout, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Camera-z depth (m, 0 for sky) and the mask of the layout's ToM candidates."""
    mi = mitsuba()
    scene = mi.load_dict(describe(mi, layout, "aov", size, 1))
    channels = np.array(mi.render(scene, seed=0))
    distance, position, shape_index = channels[..., 0], channels[..., 1:4], channels[..., 4]
    origin, target = np.array(layout.origin), np.array(layout.target)
    forward = (target - origin) / np.linalg.norm(target - origin)
    hit = distance > 0
    depth = np.where(hit, (position - origin) @ forward, 0.0).astype(np.float32)
    ids = [shape.id() for shape in scene.shapes()]
    # The shape_index AOV counts shapes from 1 in scene.shapes() order (0 where nothing is hit).
    tom_indices = [index + 1 for index, shape_id in enumerate(ids) if shape_id in set(layout.tom_ids)]
    tom = hit & np.isin(np.rint(shape_index).astype(int), tom_indices)
    return depth, tom


def render_image(layout: Layout, condition: str, size: tuple[int, int], spp: int, seed: int) -> np.ndarray:
    """The layout in ``condition`` as a uint8 sRGB image (fixed exposure, clipped)."""
    mi = mitsuba()
    linear = np.array(mi.render(mi.load_dict(describe(mi, layout, condition, size, spp)), seed=seed))[..., :3]
    return (np.clip(linear, 0, 1) ** (1 / 2.2) * 255).round().astype(np.uint8)


def plan_scenes(family: str, count: int, seed: int) -> list[SceneItem]:
    if family not in LAYOUTS:
        raise ValueError(f"unknown scene family '{family}'; known: {', '.join(LAYOUTS)}")
    return [SceneItem(f"{family}-{i:05d}", family, sample_seed(seed, f"{family}/{i}")) for i in range(count)]


def render_scenes(
    out: Path,
    family: str,
    conditions: list[str],
    count: int,
    seed: int,
    size: tuple[int, int],
    spp: int = 32,
    shard: Shard = WHOLE,
    report: Callable[[str], None] = print,
) -> JobSummary:
    """Render ``count`` scenes of ``family`` in every condition, with ground truth, into ``out``."""
    settings = {
        "unit": "m",
        "depth_range": DEPTH_RANGES.get(family, [0.05, 200.0]),
        "categories": {"tom": [1], "other": [0]},
    }
    write_atomic(out / "benchmark.json", lambda tmp: tmp.write_text(json.dumps(settings, indent=2)))

    def process(batch: list[SceneItem]) -> list[dict[str, Any] | ItemError]:
        rows: list[dict[str, Any] | ItemError] = []
        for item in batch:
            layout = LAYOUTS[item.family](np.random.default_rng(item.seed))
            depth, tom = ground_truth(layout, size)
            for condition in conditions:
                folder = out / condition
                save_png(
                    folder / "images" / f"{item.id}.png",
                    render_image(layout, condition, size, spp, item.seed % 2**31),
                )
                save_npy(folder / "depth" / f"{item.id}.npy", depth)
                text = json.dumps(intrinsics(layout, size))
                write_atomic(
                    folder / "intrinsics" / f"{item.id}.json", lambda tmp, text=text: tmp.write_text(text)
                )
                if condition == "tom":
                    save_png(folder / "categories" / f"{item.id}.png", tom.astype(np.uint8))
            rows.append(
                {
                    "id": item.id,
                    "family": item.family,
                    "seed": item.seed,
                    "conditions": conditions,
                    "size": list(size),
                    "spp": spp,
                    "variant": variant(),
                    "tom_pixels": int(tom.sum()),
                    "sky_pixels": int((depth == 0).sum()),
                }
            )
        return rows

    decisive = {"family": family, "conditions": sorted(conditions), "seed": seed, "size": size, "spp": spp}
    items = plan_scenes(family, count, seed)
    return run_job(items, out / "manifest", STAGE, shard, process, 1, report, "scene", decisive)
