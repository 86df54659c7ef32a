"""Self-distillation fine-tuning, the paper's step 4: the student starts as the teacher and learns,
from the teacher's labels on easy images, to see the same depth in the generated hard images.

Runs on one device or many through ``accelerate`` (``accelerate launch`` / ``torchrun``), with mixed
precision on GPU, gradient accumulation and clipping, NaN guards, exact resume, and a final student
saved in the plain ``transformers`` format.
"""

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import Accelerator
from torch.utils.data import DataLoader

from depthforge.config import ConfigError, FinetuneConfig, changed_settings, load_config
from depthforge.data.manifest import read_part
from depthforge.data.pairs import (
    PairEntry,
    PairStream,
    PositionSampler,
    collect_pairs,
    load_pair,
    pair_counts,
)
from depthforge.depth.model import DepthModel, TransformersDepthModel
from depthforge.depth.spaces import to_inverse_depth
from depthforge.io import remove_stale_temp_files, write_atomic
from depthforge.jobs import SettingsMismatch
from depthforge.locks import WriterLock
from depthforge.progress import Progress
from depthforge.train.card import model_card, write_model_card
from depthforge.train.checkpoint import (
    checkpoint_dir,
    checkpoints,
    load_checkpoint,
    publish_checkpoint,
    remove_partial_checkpoints,
    save_checkpoint,
)
from depthforge.train.ema import WeightAverage
from depthforge.train.losses import SSILoss, ssi_loss

log = logging.getLogger(__name__)


class TrainingAborted(RuntimeError):
    """Too many steps had a NaN or infinite loss."""


@dataclass
class FinetuneResult:
    run: Path
    student: Path
    start_step: int
    """The run's step when this call began: 0, or the checkpoint it resumed from."""
    steps: int
    """Optimiser steps this call ran (skipped ones included)."""
    skipped_steps: int
    """Steps this call skipped for a non-finite loss."""
    last_loss: float | None


class _Window:
    """Loss means, throughput and data-wait share over the steps since the last log line."""

    def __init__(self) -> None:
        self.seconds, self.waited, self.steps, self.sums, self.counted = 0.0, 0.0, 0, {}, 0

    def add(self, seconds: float, waited: float, losses: dict[str, float] | None) -> None:
        self.seconds, self.waited, self.steps = self.seconds + seconds, self.waited + waited, self.steps + 1
        if losses is not None:
            self.counted += 1
            for key, value in losses.items():
                self.sums[key] = self.sums.get(key, 0.0) + value

    def summary(self, batch_size: int) -> dict[str, float]:
        means = {key: total / self.counted for key, total in self.sums.items()}
        return {
            **means,
            "samples_per_s": self.steps * batch_size / self.seconds,
            "data_wait_share": self.waited / self.seconds,
        }


def mixed_precision(setting: str) -> str:
    """``auto``: bf16 where CUDA has it, else fp16 on CUDA, none on CPU."""
    if setting != "auto":
        return setting
    if not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


class Finetuner:
    """One fine-tuning run; ``run()`` trains from the start or from the last checkpoint.

    ``report`` gets the problems (unusable rows, skipped steps), ``inform`` what the run does (the
    pairs per condition, where it resumed); only the main process informs.
    """

    def __init__(
        self,
        config: FinetuneConfig,
        run: Path,
        report: Callable[[str], None] = log.warning,
        inform: Callable[[str], None] = log.info,
    ) -> None:
        self.config, self.run_dir, self.report, self.inform = config, run, report, inform
        self.accelerator = Accelerator(
            mixed_precision=mixed_precision(config.optim.mixed_precision), cpu=not torch.cuda.is_available()
        )
        # Everything that can be wrong with the data is found before a model is loaded.
        self.groups, self.probabilities = collect_pairs(config.data, report)
        counts = ", ".join(f"{condition} {count}" for condition, count in pair_counts(self.groups).items())
        self._inform(f"training pairs: {counts}")
        self.validation = self._validation_entries()
        device = self.accelerator.device
        self.student = DepthModel.from_pretrained(config.model, device=device, dtype=torch.float32).train()
        multiple = self.student.preprocessing.multiple
        if config.geometry.size % multiple:
            raise ConfigError(
                f"geometry.size {config.geometry.size} is not a multiple of the model's {multiple}"
            )
        self._freeze_unused()
        self.teacher = None
        if config.online_teacher:
            self.teacher = (
                DepthModel.from_pretrained(config.online_teacher, device=device).eval().requires_grad_(False)
            )
        optim = config.optim
        self.optimizer = torch.optim.AdamW(
            [p for p in self.student.parameters() if p.requires_grad],
            lr=optim.lr,
            betas=optim.betas,
            weight_decay=optim.weight_decay,
        )
        drop_at, factor = optim.lr_drop_at, optim.lr_drop_factor
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: factor if drop_at is not None and step >= drop_at else 1.0
        )
        self.loss = SSILoss(config.loss.alignment, config.loss.gradient_weight, config.loss.gradient_scales)
        self.average = WeightAverage(self.student, optim.ema_decay) if optim.ema_decay else None
        self.step, self.skipped = 0, 0

    def _inform(self, message: str) -> None:
        if self.accelerator.is_main_process:
            self.inform(message)

    def _freeze_unused(self) -> None:
        """Freeze parameters that never get a gradient (e.g. a backbone's mask token), found with one
        probe step: data-parallel training requires every trainable parameter to be used."""
        size = self.config.geometry.size
        probe = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        self.student(probe.to(self.accelerator.device)).mean().backward()
        unused = [name for name, p in self.student.named_parameters() if p.requires_grad and p.grad is None]
        for name, parameter in self.student.named_parameters():
            parameter.grad = None
            if name in unused:
                parameter.requires_grad_(False)
        if unused:
            log.info("frozen, as they get no gradient: %s", ", ".join(unused))

    def _validation_entries(self) -> list[PairEntry]:
        if self.config.validation is None:
            return []
        from depthforge.config import DataConfig, DataSource

        validation = DataConfig(
            sources=[DataSource(path=self.config.validation)], strict=self.config.data.strict
        )
        groups, _ = collect_pairs(validation, self.report)
        return sorted({e for group in groups for e in group}, key=lambda e: str(e.image))

    # -- state ---------------------------------------------------------------------------------

    def _training_state(self) -> dict[str, Any]:
        scaler = self.accelerator.scaler
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else {},
            "ema": self.average.state_dict() if self.average else {},
        }

    def _resume(self) -> None:
        found = checkpoints(self.run_dir)
        if not found:
            return
        self._check_same_run()
        state, trainer = load_checkpoint(found[-1], self.student, self.accelerator.process_index)
        if trainer["step"] > self.config.optim.iterations:
            raise SettingsMismatch(
                f"{self.run_dir}: optim.iterations {self.config.optim.iterations} is below the run's step"
                f" {trainer['step']}: give at least {trainer['step']}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.accelerator.scaler is not None and state["scaler"]:
            self.accelerator.scaler.load_state_dict(state["scaler"])
        if self.average:
            self.average.load_state_dict(state["ema"])
        self.step, self.skipped = trainer["step"], trainer["skipped_steps"]
        self._trim_metrics()
        self._inform(f"resumed from {found[-1]} at step {self.step}")

    def _check_same_run(self) -> None:
        """Refuse (``SettingsMismatch``) settings that differ from the run's, outside ``RESUMABLE``."""
        changed = changed_settings(load_config([str(self.run_dir / "config.yaml")], []), self.config)
        if changed:
            lines = "".join(f"\n  {line}" for line in changed)
            raise SettingsMismatch(
                f"{self.run_dir}: --resume continues the run with its own settings; these differ:{lines}\n"
                "resume without them, or train with them into another --out folder"
            )

    def _trim_metrics(self) -> None:
        """Drop log rows past the checkpoint (those steps are trained again) and a row cut by a kill."""
        path = self.run_dir / "metrics.jsonl"
        if self.accelerator.is_main_process and path.exists():
            kept = [row for row in read_part(path) if row["step"] <= self.step]
            text = "".join(json.dumps(row) + "\n" for row in kept)
            write_atomic(path, lambda tmp: tmp.write_text(text))

    def _checkpoint(self) -> None:
        folder = checkpoint_dir(self.run_dir, self.step)
        trainer = {
            "step": self.step,
            "skipped_steps": self.skipped,
            "seed": self.config.seed,
            "data_position": self.step * self.config.optim.batch_size,
        }
        model = self.accelerator.unwrap_model(self.model)
        save_checkpoint(
            folder,
            model,
            self._training_state(),
            trainer,
            self.accelerator.is_main_process,
            self.accelerator.process_index,
        )
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            publish_checkpoint(folder, self.config.keep_checkpoints)
        self.accelerator.wait_for_everyone()

    # -- data ------------------------------------------------------------------------------------

    def _batches(self) -> Iterator[dict[str, torch.Tensor]]:
        optim, data = self.config.optim, self.config.data
        acc = self.accelerator
        sampler = PositionSampler(
            self.step,
            optim.iterations,
            optim.batch_size,
            optim.grad_accumulation,
            acc.process_index,
            acc.num_processes,
        )
        stream = PairStream(
            self.groups,
            self.probabilities,
            self.config.geometry,
            self.config.augment,
            self.config.seed,
            with_source=self.teacher is not None,
        )
        workers = data.num_workers if data.num_workers is not None else min(8, (os.cpu_count() or 2) - 1)
        loader = DataLoader(
            stream,
            batch_size=sampler.micro,
            sampler=sampler,
            num_workers=workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers else None,
            worker_init_fn=_worker_init if workers else None,
        )
        return iter(loader)

    # -- one step --------------------------------------------------------------------------------

    def _micro_loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        device = self.accelerator.device
        image, mask = batch["image"].to(device), batch["mask"].to(device)
        if self.teacher is None:
            label = batch["label"].to(device)
        else:
            with torch.no_grad():
                label = to_inverse_depth(self.teacher(batch["source"].to(device)), self.teacher.space)
        pred = to_inverse_depth(self.model(image), self.student.space)
        extra = self.config.loss.region_weight - 1
        weights = 1 + extra * batch["region"].to(device).float() if extra else None
        return self.loss(pred, label, mask, weights)

    def _all_finite(self, value: torch.Tensor) -> bool:
        flag = torch.isfinite(value.detach()).float().reshape(1)
        return bool(self.accelerator.reduce(flag, reduction="sum").item() == self.accelerator.num_processes)

    def _train_step(
        self, batches: Iterator[dict[str, torch.Tensor]]
    ) -> tuple[dict[str, float] | None, float]:
        """One optimiser step over ``grad_accumulation`` micro-batches; returns its losses (or None if
        skipped for a non-finite loss) and the seconds spent waiting for data."""
        accumulation = self.config.optim.grad_accumulation
        waited, totals, finite = 0.0, {}, True
        for micro in range(accumulation):
            start = time.perf_counter()
            batch = next(batches)
            waited += time.perf_counter() - start
            losses = self._micro_loss(batch)
            finite = finite and self._all_finite(losses["loss"])
            if finite:
                sync = micro == accumulation - 1
                with nullcontext() if sync else self.accelerator.no_sync(self.model):
                    self.accelerator.backward(losses["loss"] / accumulation)
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + float(value.detach()) / accumulation
        if finite:
            # The loss can be finite while a gradient is not; with no grad scaler to catch it
            # (fp32, bf16) that step is skipped too. Clipping at infinity only measures the norm.
            norm = self.accelerator.clip_grad_norm_(
                self.model.parameters(), self.config.optim.clip_grad_norm or math.inf
            )
            finite = self.accelerator.scaler is not None or self._all_finite(norm)
        if finite:
            self.optimizer.step()
            if self.average:
                self.average.update(self.student)
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return (totals if finite else None), waited

    # -- the run ---------------------------------------------------------------------------------

    def run(self, resume: bool = False) -> FinetuneResult:
        """Train; the main process holds the run folder's lock (``LockHeld`` if another has it)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        main = self.accelerator.is_main_process
        with WriterLock(self.run_dir, self.run_dir / ".finetune.lock") if main else nullcontext():
            if main:
                remove_stale_temp_files(self.run_dir)
                remove_partial_checkpoints(self.run_dir)
            return self._run(resume)

    def _run(self, resume: bool) -> FinetuneResult:
        """Resume (or refuse to overwrite a run), then train to ``optim.iterations``."""
        if resume:
            self._resume()
        elif checkpoints(self.run_dir):
            raise ConfigError(
                f"{self.run_dir} has checkpoints: pass --resume to continue, or choose a new folder"
            )
        if self.accelerator.is_main_process:
            text = yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False)
            write_atomic(self.run_dir / "config.yaml", lambda tmp: tmp.write_text(text))
        self.model, self.optimizer = self.accelerator.prepare(self.student, self.optimizer)
        batches = self._batches()
        iterations = self.config.optim.iterations
        began, last = (self.step, self.skipped), None
        window = _Window()
        progress = Progress(
            iterations, "finetune", "step", initial=self.step, disable=not self.accelerator.is_main_process
        )
        with progress, (self.run_dir / "metrics.jsonl").open("a") as metrics:
            while self.step < iterations:
                start = time.perf_counter()
                losses, waited = self._train_step(batches)
                self.step += 1
                window.add(time.perf_counter() - start, waited, losses)
                if losses is None:
                    self._skip()
                else:
                    last = losses["loss"]
                    progress.set_postfix(loss=f"{last:.4f}")
                if self.step % self.config.log_every == 0 or self.step == iterations:
                    self._log(metrics, window.summary(self.config.optim.batch_size))
                    window = _Window()
                if self.config.validate_every and self.step % self.config.validate_every == 0:
                    self._log(metrics, self.validate())
                if self.step % self.config.checkpoint_every == 0 or self.step == iterations:
                    self._checkpoint()
                progress.update(1)
        return self._finish(began, last)

    def _skip(self) -> None:
        self.skipped += 1
        self.report(f"step {self.step}: non-finite loss, step skipped ({self.skipped} so far)")
        if self.skipped > self.config.max_bad_steps:
            raise TrainingAborted(
                f"{self.skipped} steps had a non-finite loss (limit {self.config.max_bad_steps})"
            )

    def _log(self, metrics: Any, values: dict[str, float]) -> None:
        if self.accelerator.is_main_process:
            row = {
                "step": self.step,
                "lr": self.scheduler.get_last_lr()[0],
                "skipped_steps": self.skipped,
                **values,
            }
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()

    def _as_saved(self) -> Any:
        """A block in which the student carries the weights it will be saved with (the EMA's, if any)."""
        return self.average.applied(self.student) if self.average else nullcontext()

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """SSI loss of the student against the validation set's labels, per condition and overall."""
        with self._as_saved():
            return self._validate()

    def _validate(self) -> dict[str, float]:
        model = self.accelerator.unwrap_model(self.model).eval()
        scores: dict[str, list[float]] = {}
        for entry in self.validation:
            pair = load_pair(entry, self.config.geometry)
            pred = to_inverse_depth(
                model(pair["image"][None].to(self.accelerator.device)), self.student.space
            )
            loss = ssi_loss(pred, pair["label"][None].to(pred.device), pair["mask"][None].to(pred.device))
            scores.setdefault(entry.condition, []).append(float(loss))
        model.train()
        result = {f"val_ssi/{c}": sum(v) / len(v) for c, v in sorted(scores.items())}
        result["val_ssi"] = sum(sum(v) for v in scores.values()) / max(
            1, sum(len(v) for v in scores.values())
        )
        return result

    def _finish(self, began: tuple[int, int], last: float | None) -> FinetuneResult:
        """Save the student; ``began``: the step and skipped count this call began with."""
        student_dir = self.run_dir / "student"
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            with self._as_saved():
                student = self.accelerator.unwrap_model(self.model)
                student.save_pretrained(student_dir)
            library = "transformers" if isinstance(student, TransformersDepthModel) else None
            card = model_card(self.config, pair_counts(self.groups), self.step, library)
            write_model_card(student_dir, card)
        self.accelerator.wait_for_everyone()
        step, skipped = began
        return FinetuneResult(self.run_dir, student_dir, step, self.step - step, self.skipped - skipped, last)


def finetune(
    config: FinetuneConfig,
    run: Path,
    resume: bool = False,
    report: Callable[[str], None] = log.warning,
    inform: Callable[[str], None] = log.info,
) -> FinetuneResult:
    """Fine-tune ``config.model`` on ``config.data`` into ``run``; see :class:`Finetuner`."""
    return Finetuner(config, run, report, inform).run(resume)
