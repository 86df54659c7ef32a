"""The figure of transparent and mirror examples in docs/generation.md.

Renders a few SimBench *training* scenes (day, with their object maps), labels them with the
bundled teacher, and applies the physics backend's transparent and mirror conditions, once with
the scene's objects and once with regions proposed from the label alone (one seed, so both
conditions take the same regions). Rows: scenes; columns: the easy image, then for the objects
and for the proposed regions: the regions outlined in red, transparent, mirror.

    .venv/bin/python scripts/tom_examples.py --out docs/figures/tom-examples.png
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from depthforge.depth.model import DepthModel
from depthforge.generate.control import nearness
from depthforge.generate.physics import apply_material
from depthforge.generate.regions import NoRegion
from depthforge.io import read_object_map, read_rgb
from depthforge.sim.render import render_scenes


def outlined(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    edge = region & ~ndimage.binary_erosion(region)
    marked = image.copy()
    marked[edge] = (255, 40, 40)
    return marked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures/tom-examples.png"))
    parser.add_argument("--scenes", type=int, default=3, help="per family")
    parser.add_argument("--seed", type=int, default=500, help="scene seed (not a demo seed)")
    parser.add_argument("--zoom", type=int, default=2)
    args = parser.parse_args()
    teacher = DepthModel.from_pretrained("simbench-teacher", device="cpu")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for family in ("street", "tabletop"):
            folder = Path(work) / family
            render_scenes(folder, family, ["day"], args.scenes, args.seed, (112, 112), 16, report=print)
            for image_path in sorted((folder / "day" / "images").glob("*.png")):
                image = read_rgb(image_path)
                objects = read_object_map(folder / "day" / "objects" / image_path.name, image.shape[:2])
                near = nearness(teacher.predict([image])[0], teacher.space)
                tiles = [image]
                for given in (objects, None):
                    try:
                        made = [
                            apply_material(condition, image, near, given, np.random.default_rng(1))
                            for condition in ("transparent", "mirror")
                        ]
                        tiles += [outlined(image, made[0].region), *(m.image for m in made)]
                    except NoRegion:
                        tiles += [np.zeros_like(image)] * 3
                rows.append(np.concatenate(tiles, 1))
    grid = Image.fromarray(np.concatenate(rows, 0))
    grid = grid.resize((grid.width * args.zoom, grid.height * args.zoom), Image.Resampling.NEAREST)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out, optimize=True)
    print(f"wrote {args.out} ({grid.width}x{grid.height})")


if __name__ == "__main__":
    main()
