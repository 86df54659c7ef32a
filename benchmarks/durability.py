"""What durable writes cost: physics generation with and without the fsyncs of ``write_atomic``.

Every output file is fsynced before it is renamed into place, and its folder after (so that a
manifest row never points to an empty file after a power loss). This runs the same physics
generation into fresh copies of one labelled dataset, alternating runs with the fsyncs and with
them patched out, in one process, and prints the time per sample and the ratio. The manifest's
own fsync (one per batch, older than this change) is kept in both.

    .venv/bin/python benchmarks/durability.py --workdir outputs/durability --repeats 5
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from depthforge import io
from depthforge.data.dataset import DatasetFolder
from depthforge.generate.job import GenerateJob, generate_samples, plan_samples
from depthforge.generate.physics import PhysicsGenerator

CONDITIONS = ["night", "fog", "transparent", "mirror"]


def labelled(work: Path, images: int) -> Path:
    """A SimBench street render of ``images`` scenes, labelled by the bundled teacher."""
    depthforge = str(Path(sys.executable).parent / "depthforge")
    render, dataset = work / "render", work / "labelled"
    if not (dataset / "manifest").is_dir():
        subprocess.run(
            [
                depthforge,
                "sim",
                "render",
                "--family",
                "street",
                "--n",
                str(images),
                "--size",
                "160x120",
                "--spp",
                "4",
                "--conditions",
                "day",
                "--out",
                str(render),
            ],
            check=True,
        )
        subprocess.run(
            [
                depthforge,
                "label",
                str(render / "day" / "images"),
                "-m",
                "simbench-teacher",
                "-o",
                str(dataset),
                "--device",
                "cpu",
            ],
            check=True,
        )
    return dataset


def generate(source: Path, out: Path) -> tuple[float, int]:
    """Seconds to generate every condition for every image of a fresh copy of ``source``."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(source, out)
    dataset = DatasetFolder(out)
    samples = plan_samples(dataset.labels(), CONDITIONS, 1, 0)
    start = time.perf_counter()
    generate_samples(dataset, GenerateJob(dataset, PhysicsGenerator(), batch_size=4), samples, {"seed": 0})
    return time.perf_counter() - start, len(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("outputs/durability"))
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    source = labelled(args.workdir, args.images)
    durable_fsync = io._fsync
    times: dict[str, list[float]] = {"fsync": [], "no fsync": []}
    for _ in range(args.repeats):
        for mode in times:
            io._fsync = durable_fsync if mode == "fsync" else (lambda path: None)
            seconds, samples = generate(source, args.workdir / "generated")
            times[mode].append(seconds / samples * 1000)
    io._fsync = durable_fsync
    filesystem = subprocess.run(["df", "-T", str(args.workdir)], capture_output=True, text=True).stdout
    print(f"{samples} samples per run, {args.repeats} runs each, alternating; filesystem:")
    print(filesystem.strip().splitlines()[-1])
    for mode, values in times.items():
        runs = ", ".join(f"{value:.1f}" for value in values)
        print(f"{mode}: median {statistics.median(values):.1f} ms per sample ({runs})")
    ratio = statistics.median(times["fsync"]) / statistics.median(times["no fsync"])
    print(f"durable / not durable: {ratio:.3f}")


if __name__ == "__main__":
    main()
