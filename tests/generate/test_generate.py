import json
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.data.dataset import DatasetFolder
from depthforge.depth.model import DepthModel
from depthforge.depth.spaces import DepthSpace
from depthforge.generate.diffusion import DiffusionLoadError
from depthforge.generate.prompts import load_banks
from depthforge.generate.request import Request
from depthforge.label import label_images
from tests.conftest import smooth_image, write_scenes

runner = CliRunner()


def diffusion_args(pipelines, name="sd15-adapter", batch_size=4):
    base, control = pipelines[name]
    backend = "t2i-adapter" if name.endswith("adapter") else "controlnet"
    return [
        "--backend",
        backend,
        "--base-model",
        str(base),
        "--control-model",
        str(control),
        "--steps",
        "2",
        "--resolution",
        "32",
        "--device",
        "cpu",
        "--batch-size",
        str(batch_size),
    ]


def generate(dataset, *args):
    return runner.invoke(app, ["generate", str(dataset.root), *args])


def errors_of(result):
    return [
        part for line in result.stderr.splitlines() for part in line.split("\r") if part.startswith("error:")
    ]


def image_bytes(dataset):
    return {
        row["id"]: (dataset.root / row["image"]).read_bytes() for row in dataset.generated() if row["kept"]
    }


def copy_of(dataset, tmp_path, name):
    return DatasetFolder(shutil.copytree(dataset.root, tmp_path / name))


def test_adapter_end_to_end(pipelines, labelled):
    result = generate(
        labelled, "--conditions", "night,rain", "--per-condition", "2", *diffusion_args(pipelines)
    )
    assert result.exit_code == 0, result.output
    rows = labelled.generated()
    assert len(rows) == 12 and len({row["id"] for row in rows}) == 12
    row = next(r for r in rows if r["id"] == "rain/easy1-1")
    assert row["condition"] == "rain" and row["label"] == "labels/easy1.npy"
    assert row["prompt"] and row["negative_prompt"] and isinstance(row["seed"], int)
    assert row["generator"]["backend"] == "t2i-adapter" and row["generator"]["steps"] == 2
    assert row["params"]["generation_size"] == [24, 40]  # the area of 32x32, aspect kept
    assert isinstance(row["inconsistency"], float) and row["kept"]
    assert np.asarray(Image.open(labelled.root / row["image"])).shape == (40, 56, 3)
    samples = labelled.samples()
    assert len(samples) == 15 and all(
        Image.open(s["image"]) and np.load(s["label"]).shape == (40, 56) for s in samples
    )
    metadata = [json.loads(line) for line in (labelled.root / "metadata.jsonl").read_text().splitlines()]
    assert len(metadata) == 15 and all((labelled.root / m["file_name"]).exists() for m in metadata)
    assert "| night | 6 | 0 |" in (labelled.root / "README.md").read_text()
    again = generate(
        labelled, "--conditions", "night,rain", "--per-condition", "2", *diffusion_args(pipelines)
    )
    assert "0 generated" in again.stdout and "12 already there" in again.stdout


def test_same_seed_same_bytes_and_batch_size_does_not_matter(pipelines, labelled, tmp_path):
    twin, single = copy_of(labelled, tmp_path, "twin"), copy_of(labelled, tmp_path, "single")
    args = ["--conditions", "night", "--per-condition", "2", "--no-consistency"]
    for dataset, batch_size in [(labelled, 4), (twin, 4), (single, 1)]:
        assert generate(dataset, *args, *diffusion_args(pipelines, batch_size=batch_size)).exit_code == 0
    assert image_bytes(labelled) == image_bytes(twin)
    for row in labelled.generated():
        batched = np.asarray(Image.open(labelled.root / row["image"])).astype(int)
        alone = np.asarray(Image.open(single.root / row["image"])).astype(int)
        # Batched kernels may round a float differently: at most one 8-bit level, at rare values.
        assert np.abs(batched - alone).max() <= 1
        assert (batched == alone).mean() > 0.99


def test_two_shards_make_the_same_set_as_one_process(pipelines, labelled, tmp_path):
    sharded = copy_of(labelled, tmp_path, "sharded")
    args = [
        "--conditions",
        "night,fog",
        "--per-condition",
        "1",
        "--no-consistency",
        *diffusion_args(pipelines),
    ]
    assert generate(labelled, *args).exit_code == 0
    for shard in ("0/2", "1/2"):
        assert generate(sharded, *args, "--shard", shard).exit_code == 0
    assert len(list((sharded.manifest).glob("generate-*.jsonl"))) == 2
    assert image_bytes(sharded) == image_bytes(labelled)


def test_other_pipelines_and_image_to_image(pipelines, labelled, tmp_path):
    for name, extra in [
        ("sd15-controlnet", []),
        ("sd15-controlnet", ["--strength", "0.5"]),
        ("sdxl-adapter", []),
        ("sdxl-controlnet", []),
    ]:
        dataset = DatasetFolder(shutil.copytree(labelled.root, tmp_path / f"{name}{len(extra)}"))
        args = ["--conditions", "snow", "--per-condition", "1", "--no-consistency"]
        result = generate(dataset, *args, *diffusion_args(pipelines, name), *extra)
        assert result.exit_code == 0, result.output
        generators = [row["generator"] for row in dataset.generated()]
        assert len(generators) == 3 and {g["family"] for g in generators} == {name.split("-")[0]}
        assert {g["strength"] for g in generators} == {0.5 if extra else None}
    # The same dataset asked for another generator: refused, not mixed in.
    result = generate(labelled, "--conditions", "snow", *diffusion_args(pipelines, "sdxl-adapter"))
    assert result.exit_code == 0, result.output
    again = generate(labelled, "--conditions", "snow", *diffusion_args(pipelines, "sd15-controlnet"))
    assert again.exit_code == 2 and "done with other settings" in again.stderr


def test_bad_inputs_are_reported_and_the_rest_generated(pipelines, labelled):
    (labelled.root / "easy" / "easy1.png").write_bytes(b"garbage")
    np.save(labelled.root / "labels" / "easy2.npy", np.zeros((10, 10), np.float32))
    result = generate(labelled, "--conditions", "night", "--per-condition", "1", *diffusion_args(pipelines))
    assert result.exit_code == 1
    errors = errors_of(result)
    assert len(errors) == 2
    assert any("easy1.png" in e and "not an image" in e for e in errors)
    assert any("easy2.npy: label is 10x10 but its image" in e for e in errors)
    assert [row["id"] for row in labelled.generated()] == ["night/easy0-0"]


def test_setup_errors_stop_before_any_work(pipelines, labelled, tmp_path):
    unknown = generate(labelled, "--conditions", "night,volcano", *diffusion_args(pipelines))
    assert unknown.exit_code == 2 and "unknown condition(s) volcano" in unknown.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("night:\n  prompts: []\n")
    bank = generate(
        labelled, "--conditions", "night", "--prompt-bank", str(empty), *diffusion_args(pipelines)
    )
    assert bank.exit_code == 2 and "empty.yaml: condition 'night' has no prompts" in bank.stderr
    physics = generate(labelled, "--conditions", "dusk", "--backend", "physics")
    assert physics.exit_code == 2 and "cannot render dusk" in physics.stderr
    nothing = runner.invoke(app, ["generate", str(tmp_path / "none"), "--conditions", "night"])
    assert nothing.exit_code == 2 and "no labelled images" in nothing.stderr
    assert labelled.generated() == []


def test_inconsistent_samples_can_be_dropped(pipelines, labelled):
    result = generate(
        labelled,
        "--conditions",
        "night",
        "--per-condition",
        "1",
        "--max-inconsistency",
        "0",
        "--drop-inconsistent",
        *diffusion_args(pipelines),
    )
    assert result.exit_code == 0
    rows = labelled.generated()
    assert all(row["consistent"] is False and not row["kept"] and row["image"] is None for row in rows)
    assert not (labelled.root / "hard").exists()
    assert "| night | 0 | 3 |" in (labelled.root / "README.md").read_text()


def test_condition_model_depth_conditions_the_generator(pipelines, labelled, tiny_models):
    model = str(tiny_models["dpt"])
    result = generate(
        labelled,
        "--conditions",
        "rain",
        "--per-condition",
        "1",
        "--condition-model",
        model,
        "--no-consistency",
        *diffusion_args(pipelines),
    )
    assert result.exit_code == 0
    row = labelled.generated()[0]
    assert (
        row["conditioning"]["depth"].startswith("conditions/")
        and row["conditioning"]["space"] == "relative_inverse_depth"
    )
    assert np.load(labelled.root / row["conditioning"]["depth"]).shape == (40, 56)


def test_physics_backend(labelled):
    result = generate(
        labelled, "--conditions", "fog,night,rain,snow", "--backend", "physics", "--per-condition", "1"
    )
    assert result.exit_code == 0, result.output
    rows = labelled.generated()
    assert len(rows) == 12 and all(row["prompt"] == "" and "severity" in row["params"] for row in rows)
    scores = sorted(row["inconsistency"] for row in rows if row["condition"] == "fog")
    fog = next(line for line in result.stdout.splitlines() if line.startswith("fog "))
    assert fog.split()[:5] == ["fog", "3", "0", "0", "0"]  # images, flagged, dropped, skipped
    assert fog.endswith(f"median {scores[1]:.3f}, worst {scores[2]:.3f}")
    assert "0 = the same structure, about 0.8 = unrelated" in result.stdout


def test_generate_objects_draws_labels_and_transforms(pipelines, tiny_models, tmp_path):
    dataset = DatasetFolder(tmp_path / "objects")
    args = [
        "generate-objects",
        str(dataset.root),
        "--teacher",
        str(tiny_models["depth-anything"]),
        "--n",
        "3",
        *diffusion_args(pipelines, "sd15-controlnet"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    easy = dataset.labels()
    assert [row["id"] for row in easy] == ["objects/000000", "objects/000001", "objects/000002"]
    origin = easy[0]["origin"]
    assert origin["backend"] == "text-to-image" and "{" not in origin["prompt"] and origin["seed"] > 0
    assert np.load(dataset.root / easy[0]["label"]).shape == (32, 32)
    hard = dataset.generated()
    assert sorted({row["condition"] for row in hard}) == ["mirror", "transparent"] and len(hard) == 6
    assert all(
        row["prompt"] in {*load_banks()["mirror"].prompts, *load_banks()["transparent"].prompts}
        for row in hard
    )
    assert all(isinstance(row["inconsistency"], float) for row in hard)
    assert "generate-objects" in (dataset.root / "README.md").read_text()


def test_empty_object_bank_is_refused(pipelines, tiny_models, tmp_path):
    bank = tmp_path / "objects.yaml"
    bank.write_text("objects: []\nmaterials: [wood]\nsettings: [on a table]\n")
    result = runner.invoke(
        app,
        [
            "generate-objects",
            str(tmp_path / "d"),
            "--teacher",
            str(tiny_models["dpt"]),
            "--object-bank",
            str(bank),
            *diffusion_args(pipelines),
        ],
    )
    assert result.exit_code == 2 and "objects.yaml: 'objects' is empty" in result.stderr


def test_physics_transparent_and_mirror_keep_the_label_and_record_their_region(tiny_models, tmp_path):
    maps = {}
    for index in range(3):
        instances = np.zeros((40, 56), np.uint8)
        if index < 2:  # s2's only object is too small to show a material
            instances[8:30, 10 + 10 * index : 30 + 10 * index] = 1
            instances[30:38, 40:52] = 2
        instances[0, 0] = 3
        maps[f"s{index}"] = instances
    images = write_scenes(tmp_path / "scenes", maps)
    dataset = DatasetFolder(tmp_path / "data")
    teacher = DepthModel.from_pretrained(str(tiny_models["depth-anything"]))
    label_images([images], teacher, dataset, report=lambda _: None)
    args = ["--conditions", "transparent,mirror", "--backend", "physics", "--per-condition", "2"]
    result = generate(dataset, *args)
    assert result.exit_code == 0, result.output
    assert "4 skipped without a usable region" in result.stdout
    easy = {row["id"]: row for row in dataset.labels()}
    rows = dataset.generated()
    assert len(rows) == 12
    for row in rows:
        source = easy[row["easy_id"]]
        assert row["label"] == source["label"]  # the label of a ToM sample is its easy label
        if row["easy_id"] == "s2":
            assert not row["kept"] and row["image"] is None and row["region"] is None
            assert row["skipped"].startswith("no object of at least")
            continue
        assert row["kept"] and row["skipped"] is None
        region = np.asarray(Image.open(dataset.root / row["region"])) > 0
        assert region.any() and row["region_fraction"] == pytest.approx(region.mean(), abs=1e-6)
        hard = np.asarray(Image.open(dataset.root / row["image"]))
        changed = (hard != np.asarray(Image.open(dataset.root / source["image"]))).any(-1)
        assert changed.any() and not (changed & ~region).any()  # the mask covers every changed pixel
        instances = np.asarray(Image.open(dataset.root / source["objects"]))
        assert not (region & (instances == 0)).any()
    again = copy_of(dataset, tmp_path, "again")
    shutil.rmtree(again.root / "hard")
    for part in (again.root / "manifest").glob("generate-*"):
        part.unlink()
    assert generate(again, *args).exit_code == 0
    assert image_bytes(again) == image_bytes(dataset)  # the same seed gives the same bytes


@pytest.mark.parametrize("name", ["sd15-adapter", "sd15-controlnet"])
def test_bf16_survives_text_to_image_and_both_paths_run(pipelines, name):
    import torch

    from depthforge.depth.spaces import DepthSpace
    from depthforge.generate.diffusion import Backend, DiffusionGenerator, DiffusionSettings
    from depthforge.generate.request import Request

    base, control = pipelines[name]
    backend = Backend.T2I_ADAPTER if name.endswith("adapter") else Backend.CONTROLNET
    settings = DiffusionSettings(steps=2, resolution=32)
    generator = DiffusionGenerator(
        backend, str(base), str(control), settings, torch.device("cpu"), torch.bfloat16, 2
    )
    generator.text_to_image(["a glass cup"], "", [1], (32, 32))  # what generate-objects does first
    dtypes = {
        name: module.dtype for name, module in generator.pipe.components.items() if hasattr(module, "dtype")
    }
    assert set(dtypes.values()) == {torch.bfloat16}, dtypes
    depth = np.linspace(1, 2, 32 * 40, dtype=np.float32).reshape(32, 40)
    request = Request(smooth_image(32, 40), depth, DepthSpace.METRIC_DEPTH, "night", "a road at night", "", 3)
    (generated,) = generator([request])
    assert generated.image.shape == (32, 40, 3) and generated.image.dtype == np.uint8


class Flagging:
    """A pipeline whose safety checker flags (and blacks out) the images made from some seeds."""

    def __init__(self, pipe, flagged: set[int]) -> None:
        self.pipe, self.flagged = pipe, flagged

    def __call__(self, **kwargs):
        output = self.pipe(**kwargs)
        output.nsfw_content_detected = [g.initial_seed() in self.flagged for g in kwargs["generator"]]
        for image, flagged in zip(output.images, output.nsfw_content_detected, strict=True):
            image[...] = 0 if flagged else image
        return output

    def __getattr__(self, name):
        return getattr(self.pipe, name)


def test_a_flagged_image_is_made_again_or_dropped_never_kept_black(pipelines, labelled):
    import torch

    from depthforge.generate.diffusion import SAFETY_RETRIES, Backend, DiffusionGenerator, DiffusionSettings
    from depthforge.generate.job import GenerateJob, generate_samples, plan_samples
    from depthforge.generate.prompts import load_banks

    base, control = pipelines["sd15-adapter"]
    settings = DiffusionSettings(steps=2, resolution=32, safety_checker=True)
    generator = DiffusionGenerator(
        Backend.T2I_ADAPTER, str(base), str(control), settings, torch.device("cpu"), torch.float32, 4
    )
    samples = plan_samples(labelled.labels(), ["night"], 1, 0, load_banks())
    once, always = samples[0].seed, samples[1].seed
    generator.pipe = Flagging(generator.pipe, {once, *(always + k for k in range(SAFETY_RETRIES + 1))})
    job = GenerateJob(labelled, generator, batch_size=4)
    generate_samples(labelled, job, samples, {"seed": 0}, report=lambda _: None)
    rows = {row["seed"]: row for row in labelled.generated()}
    assert rows[once]["kept"] and rows[once]["params"]["safety_retries"] == 1
    assert not rows[always]["kept"] and rows[always]["image"] is None
    assert rows[always]["skipped"] == f"flagged by the safety checker {SAFETY_RETRIES + 1} times"
    for row in rows.values():
        if row["kept"]:
            assert np.asarray(Image.open(labelled.root / row["image"])).max() > 0


class Counting(Flagging):
    """A pipeline that counts its calls (and flags nothing)."""

    def __init__(self, pipe) -> None:
        super().__init__(pipe, set())
        self.calls = 0

    def __call__(self, **kwargs):
        self.calls += 1
        return super().__call__(**kwargs)


def test_samples_are_bucketed_by_generation_size_before_batching(pipelines, tiny_models, tmp_path):
    import torch

    from depthforge.generate.diffusion import Backend, DiffusionGenerator, DiffusionSettings
    from depthforge.generate.job import GenerateJob, generate_samples, plan_samples
    from depthforge.generate.prompts import load_banks

    easy = tmp_path / "easy"
    easy.mkdir()
    for index in range(6):  # landscape and portrait, alternating: two generation sizes
        shape = (40, 64) if index % 2 else (64, 40)
        Image.fromarray(smooth_image(*shape, index)).save(easy / f"e{index}.png")
    dataset = DatasetFolder(tmp_path / "dataset")
    label_images([easy], DepthModel.from_pretrained(str(tiny_models["dpt"])), dataset, report=lambda _: None)
    base, control = pipelines["sd15-adapter"]
    settings = DiffusionSettings(steps=1, resolution=64)
    generator = DiffusionGenerator(
        Backend.T2I_ADAPTER, str(base), str(control), settings, torch.device("cpu"), torch.float32, 3
    )
    generator.pipe = counting = Counting(generator.pipe)
    samples = plan_samples(dataset.labels(), ["night"], 1, 0, load_banks())
    generate_samples(dataset, GenerateJob(dataset, generator, batch_size=3), samples, {"seed": 0})
    assert counting.calls == 2  # in plan order, each batch of 3 would mix both sizes: 4 calls
    assert len({tuple(row["params"]["generation_size"]) for row in dataset.generated()}) == 2


def test_another_vae_replaces_the_base_models(pipelines, tmp_path):
    import torch
    from diffusers import AutoencoderKL

    from depthforge.generate.diffusion import Backend, DiffusionGenerator, DiffusionSettings

    base, control = pipelines["sdxl-adapter"]
    vae = tmp_path / "vae"  # stands for madebyollin/sdxl-vae-fp16-fix: told apart by its scaling factor
    other = AutoencoderKL.from_pretrained(base / "vae")
    other.register_to_config(scaling_factor=0.123)
    other.save_pretrained(vae)
    settings = DiffusionSettings(steps=1, resolution=32, vae=str(vae))
    generator = DiffusionGenerator(
        Backend.T2I_ADAPTER, str(base), str(control), settings, torch.device("cpu"), torch.bfloat16, 1
    )
    assert generator.pipe.vae.config.scaling_factor == 0.123
    assert generator.describe()["vae"] == str(vae) and generator.pipe.vae.dtype == torch.bfloat16
    with pytest.raises(DiffusionLoadError, match="cannot load"):
        DiffusionGenerator(
            Backend.T2I_ADAPTER,
            str(base),
            str(control),
            DiffusionSettings(vae=str(base / "no-such-vae")),
            torch.device("cpu"),
            torch.float32,
            1,
        )


def test_the_fast_path_options_reach_the_networks(pipelines, labelled, monkeypatch):
    import torch

    compiled = []
    monkeypatch.setattr(
        torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(type(self).__name__)
    )
    args = [*diffusion_args(pipelines), "--channels-last", "--compile", "--no-consistency"]
    result = generate(labelled, "--conditions", "night", *args)
    assert result.exit_code == 0, result.output
    assert sorted(compiled) == ["T2IAdapter", "UNet2DConditionModel"]
    row = labelled.generated()[0]
    assert row["generator"]["channels_last"] and row["generator"]["compile"] and row["kept"]


def test_control_images_are_made_on_the_reader_thread(pipelines, labelled, monkeypatch):
    import threading

    from depthforge.generate import diffusion

    threads = []

    def recording(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return control_image(*args, **kwargs)

    control_image = diffusion.control_image
    monkeypatch.setattr(diffusion, "control_image", recording)
    result = generate(labelled, "--conditions", "night,fog", *diffusion_args(pipelines, batch_size=2))
    assert result.exit_code == 0, result.output
    assert len(threads) == 12 and not any(threads)  # 3 images x 2 conditions x 2, none on the main thread


def unet_calls(generator) -> dict[str, int]:
    """How often the UNet's deepest block and its output convolution run for one conditioned image
    and one text-to-image image."""
    counts = {"deep": 0, "outer": 0}
    unet = generator.pipe.unet
    unet.mid_block.resnets[0].register_forward_hook(lambda *_: counts.update(deep=counts["deep"] + 1))
    unet.conv_out.register_forward_hook(lambda *_: counts.update(outer=counts["outer"] + 1))
    depth = np.linspace(2, 50, 32 * 32, dtype=np.float32).reshape(32, 32)
    request = Request(smooth_image(32, 32), depth, DepthSpace.METRIC_DEPTH, "night", "a road", "", 0)
    assert generator([request])[0].image.shape == (32, 32, 3)
    # text_to_image shares the UNet (and its cache) through from_pipe: it runs with it too.
    images = generator.text_to_image(["a cup"], "", [0], (32, 32))
    assert images[0] is not None and images[0].shape == (32, 32, 3)
    return counts


@pytest.mark.parametrize("name", ["sd15-adapter", "sd15-controlnet"])
def test_feature_caching_runs_the_deep_blocks_every_nth_step(pipelines, name):
    import torch

    from depthforge.generate.diffusion import Backend, DiffusionGenerator, DiffusionSettings

    base, control = pipelines[name]
    backend = Backend.T2I_ADAPTER if name.endswith("adapter") else Backend.CONTROLNET
    calls = {}
    for interval in (1, 2):
        settings = DiffusionSettings(steps=4, resolution=32, cache_interval=interval)
        cpu = torch.device("cpu")
        generator = DiffusionGenerator(backend, str(base), str(control), settings, cpu, torch.float32, 1)
        calls[interval] = unet_calls(generator)
    assert calls[1] == {"deep": 8, "outer": 8}
    assert calls[2] == {"deep": 4, "outer": 8}  # steps 0 and 2 whole; 1 and 3 reuse the deep features


def test_feature_caching_and_compile_are_refused_together(pipelines, labelled):
    result = generate(
        labelled, "--conditions", "night", *diffusion_args(pipelines), "--cache-interval", "2", "--compile"
    )
    assert result.exit_code == 2 and "do not combine" in result.stderr


def test_generate_objects_with_feature_caching(pipelines, tiny_models, tmp_path):
    dataset = DatasetFolder(tmp_path / "objects")
    teacher = str(tiny_models["depth-anything"])
    args = ["--teacher", teacher, "--n", "2", "--cache-interval", "2", *diffusion_args(pipelines)]
    result = runner.invoke(app, ["generate-objects", str(dataset.root), *args])
    assert result.exit_code == 0, result.output
    assert len(dataset.generated()) == 4 and dataset.generated()[0]["generator"]["cache_interval"] == 2


def test_feature_caching_counts_steps_from_each_calls_first(pipelines):
    import torch

    from depthforge.generate.diffusion import Backend, DiffusionGenerator, DiffusionSettings

    base, control = pipelines["sd15-controlnet"]
    settings = DiffusionSettings(steps=4, resolution=32, strength=0.75, cache_interval=2)
    cpu = torch.device("cpu")
    generator = DiffusionGenerator(
        Backend.CONTROLNET, str(base), str(control), settings, cpu, torch.float32, 1
    )
    generator.text_to_image(["a cup"], "", [0], (32, 32))  # a call that starts at step 0
    # Image-to-image then runs steps 1-3 of 4: 1 and 3 whole, 2 cached (never step 1 from the
    # features of the call before); text-to-image steps 0 and 2 whole.
    assert unet_calls(generator) == {"deep": 2 + 2, "outer": 3 + 4}
