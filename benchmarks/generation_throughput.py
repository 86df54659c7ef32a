"""Generation throughput: `depthforge generate` against a plain per-image diffusers loop.

Both run the same full-size SD 1.5 + depth T2I-Adapter architecture (random weights: the compute
does not depend on their values) at the same resolution and steps, side by side in one process,
and both write PNGs. depthforge batches samples (one generator each) and reads and writes through
its dataset; the loop calls the stock pipeline once per image.

    .venv/bin/python benchmarks/generation_throughput.py --images 4 --batch-size 4 --size 256 --steps 4
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionAdapterPipeline, T2IAdapter
from PIL import Image

from depthforge.data.dataset import DatasetFolder
from depthforge.depth.model import DepthModel
from depthforge.depth.spaces import DepthSpace
from depthforge.depth.tiny import save_tiny_model
from depthforge.generate.control import control_image
from depthforge.generate.diffusion import Backend, DiffusionGenerator, DiffusionSettings
from depthforge.generate.job import GenerateJob, generate_samples, plan_samples
from depthforge.generate.prompts import load_banks
from depthforge.generate.random_pipelines import save_random_control, save_random_pipeline
from depthforge.generate.seeds import torch_generator
from depthforge.label import label_images


def models(cache: Path, tiny: bool) -> tuple[Path, Path]:
    """Random-weight SD 1.5 + depth adapter: full size, or tiny (a smoke test of this script)."""
    kind = "tiny" if tiny else "full"
    base, adapter = cache / f"sd15-{kind}", cache / f"sd15-{kind}-adapter"
    if not (base / "model_index.json").exists():
        save_random_pipeline(base, full=not tiny)
    if not (adapter / "config.json").exists():
        save_random_control(adapter, base, "adapter")
    return base, adapter


def easy_dataset(root: Path, count: int, size: int) -> DatasetFolder:
    folder = root / "easy"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    dataset = DatasetFolder(root / "dataset")
    teacher = DepthModel.from_pretrained(str(save_tiny_model("depth-anything", root / "teacher")))
    label_images([folder], teacher, dataset, report=print)
    return dataset


def plain_loop(
    base: Path, adapter: Path, dataset: DatasetFolder, args: argparse.Namespace, out: Path
) -> float:
    pipe = StableDiffusionAdapterPipeline.from_pretrained(base, adapter=T2IAdapter.from_pretrained(adapter))
    pipe.set_progress_bar_config(disable=True)
    out.mkdir(parents=True, exist_ok=True)
    rows = dataset.labels()
    start = time.perf_counter()
    for index, row in enumerate(rows):
        depth = np.load(dataset.root / row["label"])
        control = control_image(depth, DepthSpace(row["label_space"]), (args.size, args.size))
        image = pipe(
            prompt="A city street at night",
            negative_prompt="blurry",
            image=control,
            height=args.size,
            width=args.size,
            num_inference_steps=args.steps,
            generator=torch_generator(index),
        ).images[0]
        image.save(out / f"{index}.png")
    return time.perf_counter() - start


def depthforge_generate(base: Path, adapter: Path, dataset: DatasetFolder, args: argparse.Namespace) -> float:
    settings = DiffusionSettings(steps=args.steps, resolution=args.size)
    generator = DiffusionGenerator(
        Backend.T2I_ADAPTER,
        str(base),
        str(adapter),
        settings,
        torch.device("cpu"),
        torch.float32,
        args.batch_size,
    )
    job = GenerateJob(dataset, generator, args.batch_size)
    samples = plan_samples(dataset.labels(), ["night"], 1, 0, load_banks())
    start = time.perf_counter()
    generate_samples(dataset, job, samples, {"seed": 0}, report=print)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path(".cache/benchmark-generation"))
    parser.add_argument(
        "--tiny", action="store_true", help="Tiny networks: checks the script, measures nothing."
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    base, adapter = models(args.work / "models", args.tiny)
    run = args.work / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    dataset = easy_dataset(run, args.images, args.size)
    loop = plain_loop(base, adapter, dataset, args, run / "plain")
    ours = depthforge_generate(base, adapter, dataset, args)
    n = args.images
    print(f"{n} images, {args.size} px, {args.steps} steps, batch {args.batch_size}, CPU fp32")
    print(f"plain diffusers loop : {loop:7.1f} s  {n / loop:.4f} img/s")
    print(f"depthforge generate  : {ours:7.1f} s  {n / ours:.4f} img/s")
    print(f"speed-up             : {loop / ours:.2f}x")


if __name__ == "__main__":
    main()
