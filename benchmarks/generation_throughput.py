"""Generation throughput: `depthforge generate` against a plain per-image diffusers loop.

Both run the same full-size SD 1.5 + depth T2I-Adapter architecture (random weights: the compute
does not depend on their values) at the same resolution and steps, side by side in one process,
and both write PNGs. depthforge batches samples (one generator each) and reads and writes through
its dataset; the loop calls the stock pipeline once per image. Both run on ``--device`` in
``--dtype``. depthforge's fast path: ``--channels-last``, ``--compile``, ``--cache-interval N``
(feature caching), ``--scheduler`` with ``--fast-steps`` (its steps; the loop keeps ``--steps``
with the pipeline's own scheduler). The UNet's FLOPs per call are counted once with torch's FLOP
counter; its achieved TFLOP/s are those FLOPs over each side's whole wall time (text encoder,
adapter, VAE and writes included, so a lower bound; with caching, only whole-UNet steps count),
and with ``--peak-tflops`` (the device's dense peak in that dtype) their share of it.

    .venv/bin/python benchmarks/generation_throughput.py --images 4 --batch-size 4 --size 256 --steps 4
    .venv/bin/python benchmarks/generation_throughput.py --images 4 --batch-size 4 --size 256 --steps 20 \
        --channels-last --cache-interval 3 --scheduler unipc --fast-steps 10
    .venv/bin/python benchmarks/generation_throughput.py --device cuda --dtype bf16 --size 512 --steps 30 \
        --images 32 --batch-size 16 --channels-last --peak-tflops 989
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionAdapterPipeline, T2IAdapter, UNet2DConditionModel
from PIL import Image

from depthforge.data.dataset import DatasetFolder
from depthforge.depth.model import DepthModel, resolve_device, resolve_dtype
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


def unet_flops(base: Path, args: argparse.Namespace, batch: int) -> float:
    """FLOPs of one UNet call on ``batch`` latents with classifier-free guidance (2 x batch)."""
    from torch.utils.flop_counter import FlopCounterMode

    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
    side = args.size // 8
    latents = torch.zeros(2 * batch, unet.config.in_channels, side, side)
    text = torch.zeros(2 * batch, 77, unet.config.cross_attention_dim)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        unet(latents, 10, encoder_hidden_states=text)
    return float(counter.get_total_flops())


def plain_loop(
    base: Path, adapter: Path, dataset: DatasetFolder, args: argparse.Namespace, out: Path
) -> float:
    control = T2IAdapter.from_pretrained(adapter, dtype=args.torch_dtype)
    pipe = StableDiffusionAdapterPipeline.from_pretrained(base, adapter=control, dtype=args.torch_dtype)
    pipe.to(args.torch_device)
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
    settings = DiffusionSettings(
        steps=args.fast_steps or args.steps,
        resolution=args.size,
        scheduler=args.scheduler,
        channels_last=args.channels_last,
        compile=args.compile,
        cache_interval=args.cache_interval,
    )
    generator = DiffusionGenerator(
        Backend.T2I_ADAPTER,
        str(base),
        str(adapter),
        settings,
        args.torch_device,
        args.torch_dtype,
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
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="fp32", help="fp32, bf16 or fp16 (both sides)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--cache-interval", type=int, default=1, help="depthforge's feature caching")
    parser.add_argument("--scheduler", help="depthforge's scheduler (unipc, dpm, ...)")
    parser.add_argument("--fast-steps", type=int, help="depthforge's steps (default: --steps)")
    parser.add_argument("--peak-tflops", type=float, help="The device's dense peak in --dtype.")
    args = parser.parse_args()
    args.torch_device = resolve_device(args.device)
    args.torch_dtype = resolve_dtype(args.dtype, args.torch_device)
    torch.set_num_threads(2)
    base, adapter = models(args.work / "models", args.tiny)
    run = args.work / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    dataset = easy_dataset(run, args.images, args.size)
    loop = plain_loop(base, adapter, dataset, args, run / "plain")
    ours = depthforge_generate(base, adapter, dataset, args)
    n = args.images
    ours_steps = args.fast_steps or args.steps
    fast = [name for name in ("channels_last", "compile") if getattr(args, name)]
    fast += [f"cache interval {args.cache_interval}"] if args.cache_interval > 1 else []
    fast += [f"{args.scheduler or 'default scheduler'} at {ours_steps} steps"] if args.fast_steps else []
    print(
        f"{n} images, {args.size} px, {args.steps} steps, batch {args.batch_size}, {args.torch_device} "
        f"{args.torch_dtype}, fast path: {', '.join(fast) or 'off'}"
    )
    batches = -(-n // args.batch_size)
    whole_steps = -(-ours_steps // args.cache_interval)
    work = {"plain diffusers loop": unet_flops(base, args, 1) * args.steps * n}
    work["depthforge generate"] = unet_flops(base, args, args.batch_size) * whole_steps * batches
    for name, seconds in (("plain diffusers loop", loop), ("depthforge generate", ours)):
        tflops = work[name] / seconds / 1e12
        share = f", {tflops / args.peak_tflops:.1%} of peak" if args.peak_tflops else ""
        print(f"{name:21s}: {seconds:7.1f} s  {n / seconds:.4f} img/s  UNet {tflops:.3f} TFLOP/s{share}")
    print(f"speed-up             : {loop / ours:.2f}x")


if __name__ == "__main__":
    main()
