"""Train the bundled SimBench teacher: a small Depth Anything network, from scratch, on rendered
*day* scenes only (the stand-in for "pre-trained on easy data"), with the SSI loss on exact depth.

    .venv/bin/python scripts/train_sim_teacher.py --out src/depthforge/assets/simbench-teacher

The recipe (scene counts, seeds, architecture, schedule) is the argument defaults below; the
result and its day/night/fog/ToM metrics are recorded in docs/simbench.md.
"""

import argparse
import shutil
from pathlib import Path

import torch

from depthforge.config import load_config
from depthforge.data.dataset import DatasetFolder
from depthforge.depth.tiny import save_depth_anything
from depthforge.sim.dataset import ground_truth_dataset
from depthforge.sim.render import render_scenes
from depthforge.train.finetune import finetune


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("src/depthforge/assets/simbench-teacher"))
    parser.add_argument("--work", type=Path, default=Path(".cache/sim-teacher"))
    parser.add_argument("--scenes", type=int, default=300, help="day scenes per family")
    parser.add_argument(
        "--seed", type=int, default=1000, help="scene seed (the demo's test scenes use others)"
    )
    parser.add_argument("--size", default="112x112", help="render size: square, the network's own input size")
    parser.add_argument("--iterations", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    width, height = (int(v) for v in args.size.split("x"))
    rendered = []
    for family in ("street", "tabletop"):
        folder = args.work / "render" / family
        render_scenes(folder, family, ["day"], args.scenes, args.seed, (width, height), spp=16)
        rendered.append(folder)
    dataset = DatasetFolder(args.work / "dataset")
    ground_truth_dataset(rendered, dataset)
    # Depth Anything's architecture at a small size (about 1.3 M parameters). The head ends in a
    # ReLU: its input starts positive, or a random head can output zeros, get no gradient, never learn.
    start = save_depth_anything(
        args.work / "init",
        width=96,
        layers=6,
        heads=3,
        out_indices=[2, 3, 5, 6],
        neck=[24, 48, 96, 96],
        fusion=48,
        head=16,
        size=112,
        head_bias=1.0,
    )
    config = load_config(
        [],
        [
            {
                "model": str(start),
                "data": {"sources": [{"path": str(dataset.root)}], "num_workers": 1},
                "optim": {
                    "iterations": args.iterations,
                    "lr": 5e-4,
                    "lr_drop_at": int(args.iterations * 0.8),
                    "batch_size": 8,
                    "clip_grad_norm": 1.0,
                    "weight_decay": 0.01,
                },
                "geometry": {"size": 112},
                "loss": {"gradient_weight": 0.5},
                "log_every": 50,
                "checkpoint_every": 500,
            }
        ],
    )
    run = args.work / "run"
    result = finetune(config, run, resume=(run / "checkpoints").exists())
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(result.student, args.out)
    print(f"teacher saved to {args.out}")


if __name__ == "__main__":
    main()
