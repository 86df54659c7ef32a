import json
import os
import re
import socket
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import pipeline
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.config import load_config
from depthforge.data.pairs import PairError
from depthforge.jobs import SettingsMismatch
from depthforge.locks import LockHeld
from depthforge.train.card import add_evaluation, hub_base_model
from depthforge.train.checkpoint import checkpoints
from depthforge.train.finetune import Finetuner, TrainingAborted, finetune
from tests.conftest import finished_pid, hold, make_dataset, run_config, smooth_image


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_tiny_student_overfits_a_small_generated_set(tiny_models, distill_set, tmp_path):
    # 9 pairs (3 easy + fog and night versions); the loss must fall at least 5-fold in 120 steps.
    config = load_config(
        [], [run_config(tiny_models["depth-anything"], distill_set, optim={"iterations": 120}, log_every=10)]
    )
    result = finetune(config, tmp_path / "run")
    rows = metrics(tmp_path / "run")
    assert result.steps == 120 and result.skipped_steps == 0
    assert rows[-1]["loss"] < rows[0]["loss"] / 5, (rows[0]["loss"], rows[-1]["loss"])
    assert {"lr", "samples_per_s", "data_wait_share", "ssi"} <= rows[0].keys()


@pytest.mark.parametrize("ema_decay", [None, 0.9])
def test_resume_gives_identical_weights(tiny_models, distill_set, tmp_path, ema_decay):
    # Colour augmentation and flips on: the data order and every random draw must resume exactly
    # (and the weight average with them).
    base = run_config(
        tiny_models["depth-anything"],
        distill_set,
        augment={},
        checkpoint_every=6,
        optim={"ema_decay": ema_decay},
    )
    finetune(load_config([], [base, {"optim": {"iterations": 12}}]), tmp_path / "straight")
    finetune(load_config([], [base, {"optim": {"iterations": 6}}]), tmp_path / "resumed")
    finetune(load_config([], [base, {"optim": {"iterations": 12}}]), tmp_path / "resumed", resume=True)
    straight, resumed = weights(tmp_path / "straight" / "student"), weights(tmp_path / "resumed" / "student")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    start = weights(tmp_path / "resumed" / "checkpoints" / "step-0000006")
    assert any(not torch.equal(start[f"net.{k}"], resumed[k]) for k in resumed)


def test_checkpoints_are_safe_to_load_and_pruned(tiny_models, distill_set, tmp_path):
    config = load_config(
        [],
        [
            run_config(
                tiny_models["dpt"],
                distill_set,
                optim={"iterations": 8},
                checkpoint_every=2,
                keep_checkpoints=2,
            )
        ],
    )
    finetune(config, tmp_path / "run")
    kept = checkpoints(tmp_path / "run")
    assert [p.name for p in kept] == ["step-0000006", "step-0000008"]
    state = torch.load(kept[-1] / "state.pt", weights_only=True)
    assert {"optimizer", "scheduler", "scaler"} <= state.keys()
    assert json.loads((kept[-1] / "trainer.json").read_text())["step"] == 8
    with pytest.raises(Exception, match="pass --resume"):
        finetune(config, tmp_path / "run")


def test_student_loads_with_stock_transformers(tiny_models, distill_set, tmp_path):
    result = finetune(
        load_config([], [run_config(tiny_models["depth-anything"], distill_set, optim={"iterations": 2})]),
        tmp_path / "run",
    )
    from PIL import Image

    estimator = pipeline("depth-estimation", model=str(result.student), device="cpu")
    depth = estimator(Image.fromarray(smooth_image(40, 52)))["predicted_depth"]
    assert depth.shape[-2:] == (40, 52) and torch.isfinite(depth).all()
    assert (
        json.loads((result.student / "config.json").read_text())["depthforge_depth_space"]
        == "relative_inverse_depth"
    )
    card = ModelCard.load(result.student / "README.md")
    assert card.data.pipeline_tag == "depth-estimation" and card.data.library_name == "transformers"
    assert card.data.base_model is None  # a local folder: no hub id to point to
    assert hub_base_model("simbench-teacher") is None  # bundled, not on the hub
    assert hub_base_model("depth-anything-v2-small") == "depth-anything/Depth-Anything-V2-Small-hf"
    assert "depthforge" in card.data.tags and "Training pairs per condition: " in card.text
    teacher = distill_set.labels()[0]["teacher"]
    assert f"Labels by: `{teacher}`" in card.text and "2 steps, batch 4" in card.text
    add_evaluation(result.student, "| set | AbsRel |\n|---|---|\n| day | 0.1 |", "SimBench")
    add_evaluation(result.student, "| set | AbsRel |\n|---|---|\n| day | 0.2 |", "SimBench")
    card = ModelCard.load(result.student / "README.md")
    assert card.text.count("## SimBench") == 1 and "| day | 0.2 |" in card.text
    assert card.data.pipeline_tag == "depth-estimation"


def test_metric_teacher_labels_are_inverted(tiny_models, tmp_path):
    dataset = make_dataset(tmp_path / "zoe", tiny_models["zoedepth"])
    for row in dataset.labels():  # metric labels: depth in metres
        import numpy as np

        np.save(dataset.root / row["label"], 1.0 / np.load(dataset.root / row["label"]))
    config = load_config(
        [], [run_config(tiny_models["zoedepth"], dataset, optim={"iterations": 3}, geometry={"size": 64})]
    )
    result = finetune(config, tmp_path / "run")
    assert result.steps == 3 and result.skipped_steps == 0


def test_non_finite_losses_are_skipped_then_abort(tiny_models, distill_set, tmp_path, monkeypatch):
    from depthforge.train import finetune as module

    original = module.SSILoss.forward
    calls = {"n": 0}

    def sometimes_nan(self, pred, target, mask=None, weights=None):
        calls["n"] += 1
        losses = original(self, pred, target, mask, weights)
        return {**losses, "loss": losses["loss"] * float("nan")} if calls["n"] in (2, 3) else losses

    monkeypatch.setattr(module.SSILoss, "forward", sometimes_nan)
    result = finetune(
        load_config([], [run_config(tiny_models["dpt"], distill_set, optim={"iterations": 5})]),
        tmp_path / "ok",
    )
    assert result.steps == 5 and result.skipped_steps == 2
    calls["n"] = -100  # every call from now is finite again except none: force all NaN instead
    monkeypatch.setattr(
        module.SSILoss, "forward", lambda self, p, t, m=None, w=None: {"loss": p.sum() * float("nan")}
    )
    with pytest.raises(TrainingAborted, match="non-finite"):
        finetune(
            load_config([], [run_config(tiny_models["dpt"], distill_set, max_bad_steps=3)]), tmp_path / "bad"
        )


def test_data_errors_come_before_any_model_is_loaded(distill_set, tmp_path):
    (distill_set.root / "hard" / "night" / "e0-0.png").unlink()
    # The model does not exist: reaching it would raise a different error.
    config = load_config([], [run_config(tmp_path / "no-such-model", distill_set, data={"strict": True})])
    lines: list[str] = []
    with pytest.raises(PairError, match=r"1 of 9 training rows unusable: refused"):
        finetune(config, tmp_path / "run", report=lines.append)
    assert lines == [f"{distill_set.root}/hard/night/e0-0.png: missing; in the night pair of e0-0.png"]


def test_online_teacher_and_validation(tiny_models, distill_set, tmp_path):
    extra = {
        "online_teacher": str(tiny_models["depth-anything"]),
        "validation": str(distill_set.root),
        "validate_every": 2,
        "optim": {"iterations": 4},
    }
    finetune(
        load_config([], [run_config(tiny_models["depth-anything"], distill_set, **extra)]), tmp_path / "run"
    )
    validations = [row for row in metrics(tmp_path / "run") if "val_ssi" in row]
    assert len(validations) == 2
    assert {"val_ssi/easy", "val_ssi/fog", "val_ssi/night"} <= validations[0].keys()


def test_command_line(tiny_models, distill_set, tmp_path):
    runner = CliRunner()
    args = [
        "finetune",
        "--preset",
        "paper-depth-anything",
        "--model",
        str(tiny_models["depth-anything"]),
        "--data",
        f"{distill_set.root}:2",
        "--out",
        str(tmp_path / "run"),
        "--iterations",
        "2",
        "--batch-size",
        "2",
        "--size",
        "56",
        "--set",
        "data.num_workers=0",
        "--set",
        "log_every=1",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "lr: 1.0e-06" in config and "lr_drop_at: 4500" in config and "weight: 2.0" in config
    # Depth Anything needs multiples of its 14-pixel patch.
    bad_args = [*args[:-4], "--size", "50"]
    bad_args[bad_args.index("--out") + 1] = str(tmp_path / "bad")
    bad = runner.invoke(app, bad_args)
    assert bad.exit_code == 2 and "not a multiple" in bad.stderr


def test_two_process_data_parallel_training(tiny_models, distill_set, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # accelerate's multi-process launcher; without CUDA the processes talk over gloo.
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "depthforge.cli",
        "finetune",
        "--model",
        str(tiny_models["depth-anything"]),
        "--data",
        str(distill_set.root),
        "--out",
        str(tmp_path / "ddp"),
        "--iterations",
        "3",
        "--lr",
        "1e-4",
        "--batch-size",
        "4",
        "--size",
        "56",
        "--set",
        "data.num_workers=0",
    ]
    subprocess.run(command, env=env, check=True, capture_output=True)
    assert (tmp_path / "ddp" / "student" / "model.safetensors").exists()
    assert metrics(tmp_path / "ddp")[-1]["step"] == 3


def test_resume_refuses_a_different_run_and_trims_the_log(tiny_models, distill_set, tmp_path):
    base = run_config(tiny_models["dpt"], distill_set, checkpoint_every=4, log_every=2)
    finetune(load_config([], [base, {"optim": {"iterations": 6}}]), tmp_path / "run")
    with pytest.raises(SettingsMismatch, match=r"\n  optim\.batch_size: 4 \(run\) -> 2 \(given\)\n"):
        finetune(
            load_config([], [base, {"optim": {"iterations": 8, "batch_size": 2}}]),
            tmp_path / "run",
            resume=True,
        )
    with pytest.raises(SettingsMismatch, match=r"optim\.iterations 3 is below the run's step 6"):
        finetune(load_config([], [base, {"optim": {"iterations": 3}}]), tmp_path / "run", resume=True)
    finetune(load_config([], [base, {"optim": {"iterations": 8}}]), tmp_path / "run", resume=True)
    steps = [row["step"] for row in metrics(tmp_path / "run")]
    assert steps == [2, 4, 6, 8]  # step 6 logged once: the log was cut back to the checkpoint at 4


def test_a_non_finite_gradient_with_a_finite_loss_is_skipped(tiny_models, distill_set, tmp_path, monkeypatch):
    from depthforge.train import finetune as module

    original = module.SSILoss.forward

    def poisoned(self, pred, target, mask=None, weights=None):
        losses = original(self, pred, target, mask, weights)
        # sqrt at 0: the value stays finite (0), the gradient is infinite.
        return {**losses, "loss": losses["loss"] + torch.sqrt(pred - pred.detach()).sum()}

    monkeypatch.setattr(module.SSILoss, "forward", poisoned)
    result = finetune(
        load_config([], [run_config(tiny_models["dpt"], distill_set, optim={"iterations": 3})]),
        tmp_path / "run",
    )
    assert result.skipped_steps == 3


def test_one_finetune_per_run_folder_and_a_killed_ones_leftovers_are_removed(
    tiny_models, distill_set, tmp_path
):
    run = tmp_path / "run"
    staging = run / "checkpoints" / ".step-0000010.partial"
    staging.mkdir(parents=True)
    (staging / "model.safetensors").write_bytes(b"half")
    temp = run / f".config.yaml.{socket.gethostname().replace('.', '-')}.{finished_pid()}.00ff00ff.tmp"
    temp.write_text("half")
    config = load_config([], [run_config(tiny_models["dpt"], distill_set, optim={"iterations": 2})])
    holder = hold(run / "finetune")
    try:
        with pytest.raises(LockHeld, match=f"pid {holder.pid} "):
            finetune(config, run)
    finally:
        holder.kill()
        holder.wait()
    finetune(config, run)
    assert not staging.exists() and not temp.exists()


def tiny_command_line(run, dataset, model, *extra: str) -> list[str]:
    """``depthforge finetune`` of 4 small steps (lr 1e-3, checkpoint at the end) into ``run``."""
    return [
        *("finetune", "--preset", "paper-dpt", "-m", str(model), "--data", str(dataset.root), "-o", str(run)),
        *("--iterations", "4", "--lr", "1e-3", "--batch-size", "2", "--size", "56"),
        *("--set", "data.num_workers=0", *extra),
    ]


def test_resume_refuses_changed_settings_one_line_each(tiny_models, distill_set, tmp_path):
    runner, run = CliRunner(), tmp_path / "run"
    first = tiny_command_line(run, distill_set, tiny_models["dpt"])
    assert runner.invoke(app, first).exit_code == 0
    saved = (run / "config.yaml").read_text()
    changed = [*first, "--lr", "2e-5", "--iterations", "6", "--set", "loss.gradient_weight=0.5", "--resume"]
    result = runner.invoke(app, changed)
    assert result.exit_code == 2, result.output
    assert result.stderr[result.stderr.index("error:") :].splitlines() == [
        f"error: {run}: --resume continues the run with its own settings; these differ:",
        "  loss.gradient_weight: 0.0 (run) -> 0.5 (given)",
        "  optim.lr: 0.001 (run) -> 2e-5 (given)",
        "resume without them, or train with them into another --out folder",
    ]
    assert (run / "config.yaml").read_text() == saved and [p.name for p in checkpoints(run)] == [
        "step-0000004"
    ]


def test_resume_says_where_it_resumed_as_information_and_counts_its_own_steps(
    tiny_models, distill_set, tmp_path
):
    runner, run = CliRunner(), tmp_path / "run"
    first = tiny_command_line(run, distill_set, tiny_models["dpt"])
    assert runner.invoke(app, first).exit_code == 0
    result = runner.invoke(app, [*first, "--iterations", "6", "--resume"])
    assert result.exit_code == 0, result.output
    assert f"resumed from {run}/checkpoints/step-0000004 at step 4" in result.stdout.splitlines()
    assert "trained 2 steps (4 -> 6, 0 skipped); student saved to" in result.stdout
    assert "resumed" not in result.stderr and "ERROR" not in (run / "finetune.log").read_text()
    assert "INFO depthforge: resumed from" in (run / "finetune.log").read_text()


def test_a_condition_filter_that_leaves_no_hard_images_is_refused(distill_set, tmp_path):
    # Refused with the data checks, before any model is loaded (the model does not exist).
    config = load_config(
        [], [run_config(tmp_path / "no-such-model", distill_set, data={"conditions": ["rain"]})]
    )
    with pytest.raises(
        PairError, match=r"^data\.conditions \[rain\] leaves no hard images; the data has fog, night$"
    ):
        finetune(config, tmp_path / "run")


@pytest.mark.parametrize(
    "conditions,told",
    [(None, "fog 3, night 3, easy 3"), (["night", "rain"], "night 3, easy 3"), ([], "easy 3")],
)
def test_the_pairs_per_condition_are_told_before_training(
    tiny_models, distill_set, tmp_path, conditions, told
):
    config = load_config([], [run_config(tiny_models["dpt"], distill_set, data={"conditions": conditions})])
    lines: list[str] = []
    Finetuner(config, tmp_path / "run", inform=lines.append)
    assert lines == [f"training pairs: {told}"]


def test_help_gives_the_paper_presets_defaults():
    text = " ".join(CliRunner().invoke(app, ["finetune", "--help"]).output.split())
    text = re.sub(r"- (?=[a-z])", "-", text)  # words split at a hyphen by the wrapping
    anything, dpt, zoe = (
        load_config([p], []) for p in ("paper-depth-anything", "paper-dpt", "paper-zoedepth")
    )
    assert (
        f"{anything.optim.iterations} for paper-depth-anything, {dpt.optim.iterations} for the others" in text
    )
    assert f"{anything.geometry.size} for paper-depth-anything, {dpt.geometry.size} for the others" in text
    assert f"{dpt.optim.batch_size} ({zoe.optim.batch_size} for paper-zoedepth)" in text
    assert anything.optim.lr == dpt.optim.lr == zoe.optim.lr == 1e-6 and "1e-6 in every paper preset" in text
