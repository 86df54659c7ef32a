"""`depthforge sim render`: rendered scenes with exact ground truth, in the generic benchmark layout.

```
OUT/benchmark.json                          depth range; categories: tom = class 1, other = class 0
OUT/CONDITION/images/FAMILY-NNNNN.png       the rendered image (sRGB, fixed exposure: night is dark)
OUT/CONDITION/depth/FAMILY-NNNNN.npy        camera-z depth in metres, 0 where the ray meets sky
OUT/CONDITION/intrinsics/FAMILY-NNNNN.json  fx, fy, cx, cy (px)
OUT/CONDITION/categories/FAMILY-NNNNN.png   1 on the objects that are glass or mirror in ``tom``, 0 elsewhere
OUT/CONDITION/objects/FAMILY-NNNNN.png      object instances (cars, windows, poles, table items), 0 = none
OUT/manifest/render-*.jsonl                 one row per scene (resumable, shardable)
```
Depth comes from a separate pass without medium or special materials, so fog and glass do not
change the ground truth: camera z of the first opaque surface of the layout. The ToM categories
are written for every condition, so a benchmark scores the same pixels in ``day`` (objects
opaque: what a self-distilled student can reach) as in ``tom``. The object maps are what an
object generator knows of its own scenes; the transparent and mirror conditions of the physics
backend use them when a training render is labelled.
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
from depthforge.sim.backend import load_scene, mitsuba, variant
from depthforge.sim.scenes import LAYOUTS, Layout, describe

STAGE = "render"
REVISION = 2
"""Of the rendered outputs; 2: deterministic scene builds, every window in the ToM masks, object
maps, streets that go on behind the camera, shops behind the shop windows."""
SIMBENCH_PIXEL_ROWS = [
    ("tom", "tom", "tom: ToM pixels"),
    ("day", "tom", "day: ToM pixels (objects opaque: the bound)"),
    ("tom", "other", "tom: other pixels"),
]
"""The rows of a SimBench report scored on some pixels only: glass and mirror objects in ``tom``,
the same objects opaque in ``day`` (what a student distilled from the teacher can reach), the rest."""
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


@dataclass(frozen=True)
class GroundTruth:
    depth: np.ndarray
    """Camera-z depth in metres, 0 for sky."""
    tom: np.ndarray
    """The layout's ToM candidates (glass or mirror in ``tom``)."""
    objects: np.ndarray
    """Object instances: the k-th object part of the layout is k, 0 elsewhere."""


def ground_truth(layout: Layout, size: tuple[int, int]) -> GroundTruth:
    """Depth and masks of ``layout`` seen by its camera at ``size`` (w, h)."""
    mi = mitsuba()
    scene = load_scene(describe(mi, layout, "aov", size, 1))
    channels = np.array(mi.render(scene, seed=0))
    distance, position, shape_index = channels[..., 0], channels[..., 1:4], channels[..., 4]
    origin, target = np.array(layout.origin), np.array(layout.target)
    forward = (target - origin) / np.linalg.norm(target - origin)
    hit = distance > 0
    depth = np.where(hit, (position - origin) @ forward, 0.0).astype(np.float32)
    # The shape_index AOV counts shapes from 1 in scene.shapes() order (0 where nothing is hit).
    hit_shape = np.where(hit, np.rint(shape_index).astype(int), 0)
    index_of = {shape.id(): index + 1 for index, shape in enumerate(scene.shapes())}
    tom = hit & np.isin(hit_shape, [index_of[part_id] for part_id in layout.tom_ids])
    objects = np.zeros(hit_shape.shape, np.uint8)
    for number, part_id in enumerate(layout.object_ids, start=1):
        objects[hit_shape == index_of[part_id]] = number
    return GroundTruth(depth, tom, objects)


def render_image(layout: Layout, condition: str, size: tuple[int, int], spp: int, seed: int) -> np.ndarray:
    """The layout in ``condition`` as a uint8 sRGB image (fixed exposure, clipped)."""
    mi = mitsuba()
    linear = np.array(mi.render(load_scene(describe(mi, layout, condition, size, spp)), seed=seed))[..., :3]
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
            truth = ground_truth(layout, size)
            for condition in conditions:
                folder = out / condition
                save_png(
                    folder / "images" / f"{item.id}.png",
                    render_image(layout, condition, size, spp, item.seed % 2**31),
                )
                save_npy(folder / "depth" / f"{item.id}.npy", truth.depth)
                text = json.dumps(intrinsics(layout, size))
                write_atomic(
                    folder / "intrinsics" / f"{item.id}.json", lambda tmp, text=text: tmp.write_text(text)
                )
                save_png(folder / "categories" / f"{item.id}.png", truth.tom.astype(np.uint8))
                save_png(folder / "objects" / f"{item.id}.png", truth.objects)
            rows.append(
                {
                    "id": item.id,
                    "family": item.family,
                    "seed": item.seed,
                    "conditions": conditions,
                    "size": list(size),
                    "spp": spp,
                    "variant": variant(),
                    "tom_pixels": int(truth.tom.sum()),
                    "object_pixels": int((truth.objects > 0).sum()),
                    "sky_pixels": int((truth.depth == 0).sum()),
                }
            )
        return rows

    decisive = {
        "family": family,
        "conditions": sorted(conditions),
        "seed": seed,
        "size": size,
        "spp": spp,
        "revision": REVISION,
    }
    items = plan_scenes(family, count, seed)
    return run_job(items, out / "manifest", STAGE, shard, process, 1, report, "scene", decisive)
