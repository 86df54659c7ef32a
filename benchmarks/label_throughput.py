"""Labelling throughput: `depthforge label` against a loop over transformers'
`pipeline("depth-estimation")`, side by side in one process, at the same device and dtype.

Both label the same easy images (nuScenes-sized by default) with a full-size Depth Anything V2
Small architecture (random weights: the compute does not depend on their values) and write each
depth map as .npy; depthforge also copies each image into its dataset and appends its manifest.
The runs alternate (loop, depthforge, loop, ...) and the best of ``--repeats`` is kept for each.

    .venv/bin/python benchmarks/label_throughput.py --images 8 --batch-size 4 --dtype fp32
    .venv/bin/python benchmarks/label_throughput.py --images 8 --batch-size 4 --dtype bf16
"""

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import pipeline

from depthforge.data.dataset import DatasetFolder
from depthforge.depth.model import DepthModel, resolve_device, resolve_dtype
from depthforge.depth.tiny import save_depth_anything_small, save_tiny_model
from depthforge.label import label_images


def easy_images(folder: Path, count: int, size: tuple[int, int]) -> Path:
    """Smooth random images of ``size`` (h, w), as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        small = rng.integers(0, 255, (size[0] // 20, size[1] // 20, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size[1], size[0]), Image.Resampling.BICUBIC).save(
            folder / f"{index}.png"
        )
    return folder


def stock_loop(model: Path, images: Path, out: Path, device: torch.device, dtype: torch.dtype) -> float:
    """Seconds for the plain loop: one pipeline call per image, its depth saved as .npy."""
    estimator = pipeline("depth-estimation", model=str(model), device=device, dtype=dtype)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    for path in sorted(images.glob("*.png")):
        depth = estimator(Image.open(path))["predicted_depth"]
        np.save(out / f"{path.stem}.npy", depth.float().numpy())
    return time.perf_counter() - start


def depthforge_label(model: DepthModel, images: Path, out: Path, batch_size: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    label_images([images], model, DatasetFolder(out), batch_size=batch_size, report=print)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="fp32", help="fp32, bf16 or fp16 (both sides)")
    parser.add_argument("--work", type=Path, default=Path(".cache/benchmark-label"))
    parser.add_argument(
        "--tiny", action="store_true", help="A tiny network: checks the script, measures nothing."
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    if args.tiny:
        folder = save_tiny_model("depth-anything", args.work / "tiny")
    else:
        folder = save_depth_anything_small(args.work / "depth-anything-v2-small")
    images = easy_images(
        args.work / f"easy-{args.height}x{args.width}", args.images, (args.height, args.width)
    )
    model = DepthModel.from_pretrained(str(folder), device=device, dtype=dtype)
    loop: list[float] = []
    ours: list[float] = []
    failure = None
    for _ in range(args.repeats):
        if failure is None:
            try:
                loop.append(stock_loop(folder, images, args.work / "loop", device, dtype))
            except TypeError as error:  # transformers' postprocess cannot turn bf16 into numpy
                failure = f"fails: {error}"
        ours.append(depthforge_label(model, images, args.work / "dataset", args.batch_size))
    n = args.images
    where = f"{device} ({torch.get_num_threads()} threads)" if device.type == "cpu" else str(device)
    print(f"{n} images of {args.height}x{args.width}, {where}, {dtype}, batch {args.batch_size}")
    if failure:
        print(f"transformers pipeline loop : {failure}")
    else:
        print(f"transformers pipeline loop : {min(loop):7.2f} s  {n / min(loop):.3f} img/s")
    print(f"depthforge label           : {min(ours):7.2f} s  {n / min(ours):.3f} img/s")
    if not failure:
        print(f"speed-up                   : {min(loop) / min(ours):.2f}x")


if __name__ == "__main__":
    main()
