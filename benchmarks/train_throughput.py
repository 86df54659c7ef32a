"""Training throughput of `depthforge finetune` for a full-size Depth Anything V2 Small (ViT-S) student.

The student has the real architecture with random weights (compute does not depend on their
values) and trains at 518 px on a small generated set (easy images labelled, plus physics fog and
night). Reported from the run's own metrics.jsonl, first step excluded (warm-up): samples per
second, the share of step time spent waiting for data, and peak memory (GPU: max allocated; CPU:
the process's peak resident set, model and data loading included).

    .venv/bin/python benchmarks/train_throughput.py --steps 6 --batch-size 2 --workers 1
"""

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from depthforge.config import FinetuneConfig, load_config
from depthforge.data.dataset import DatasetFolder
from depthforge.data.pairs import PairStream, collect_pairs
from depthforge.depth.model import DepthModel
from depthforge.depth.tiny import save_depth_anything_small, save_tiny_model
from depthforge.generate.job import GenerateJob, generate_samples, plan_samples
from depthforge.generate.physics import PhysicsGenerator
from depthforge.label import label_images
from depthforge.train.finetune import finetune


def training_set(root: Path, count: int) -> DatasetFolder:
    dataset = DatasetFolder(root / "dataset")
    if dataset.labels():
        return dataset
    rng = np.random.default_rng(0)
    (root / "easy").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        pixels = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize((800, 600), Image.Resampling.BICUBIC).save(
            root / "easy" / f"{index}.png"
        )
    teacher = DepthModel.from_pretrained(str(save_tiny_model("depth-anything", root / "labeller")))
    label_images([root / "easy"], teacher, dataset, report=print)
    job = GenerateJob(dataset, PhysicsGenerator(), batch_size=4)
    generate_samples(
        dataset, job, plan_samples(dataset.labels(), ["fog", "night"], 1, 0), {"seed": 0}, report=print
    )
    return dataset


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", type=int, default=518)
    parser.add_argument("--work", type=Path, default=Path(".cache/benchmark-training"))
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument(
        "--tiny", action="store_true", help="A tiny student: checks the script, measures nothing."
    )
    args = parser.parse_args()
    if args.tiny:
        student = save_tiny_model("depth-anything", args.work / "tiny-student")
    else:
        student = save_depth_anything_small(args.work / "vit-small")
    dataset = training_set(args.work, count=args.images)
    run = args.work / "run"
    shutil.rmtree(run, ignore_errors=True)
    config = load_config(
        ["paper-depth-anything"],
        [
            {
                "model": str(student),
                "data": {"sources": [{"path": str(dataset.root)}], "num_workers": args.workers},
                "optim": {"iterations": args.steps, "batch_size": args.batch_size},
                "geometry": {"size": args.size},
                "log_every": 1,
                "checkpoint_every": 10**6,
            }
        ],
    )
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    finetune(config, run)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][1:]
    rate = np.mean([row["samples_per_s"] for row in rows])
    wait = np.mean([row["data_wait_share"] for row in rows])
    if cuda:
        peak, device = torch.cuda.max_memory_allocated() / 2**30, torch.cuda.get_device_name()
    else:
        peak, device = (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            f"CPU x{torch.get_num_threads()} threads",
        )
    parameters = sum(p.numel() for p in DepthModel.from_pretrained(str(student)).parameters()) / 1e6
    print(f"student: Depth Anything V2 Small architecture, {parameters:.1f} M parameters, random weights")
    print(
        f"device: {device}; {args.size} px, batch {args.batch_size}, {args.workers} loader worker(s), "
        f"precision {config.optim.mixed_precision}"
    )
    print(f"steps timed: {len(rows)} (first excluded); whole run {wall:.1f} s")
    print(f"samples/s: {rate:.3f}   data-wait share: {wait:.1%}   peak memory: {peak:.2f} GiB")
    print(
        f"one loader process alone prepares {loader_rate(config):.1f} samples/s (read, label, crop, augment)"
    )


def loader_rate(config: FinetuneConfig, count: int = 32) -> float:
    """Samples per second that one data-loading process prepares, without the model."""
    groups, probabilities = collect_pairs(config.data)
    stream = PairStream(groups, probabilities, config.geometry, config.augment, config.seed)
    start = time.perf_counter()
    for position in range(count):
        stream[position]
    return count / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
