"""The fine-tuning configuration: typed, validated before any compute, from presets, YAML and the CLI.

A preset (``paper-dpt``, ...) or YAML file may name a ``base`` preset to start from; later sources
override earlier ones key by key (nested sections merge): preset, then ``--config`` files, then
``--set key=value`` and the dedicated command-line options.
"""

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from depthforge.io import YamlReadError, read_yaml


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSource(Strict):
    """A dataset folder and its weight in the mix."""

    path: Path
    weight: float = Field(1.0, gt=0)


class DataConfig(Strict):
    sources: list[DataSource] = []
    easy_fraction: float | None = Field(None, ge=0, le=1)
    """Share of easy (undegraded) pairs per dataset; unset keeps the natural proportion."""
    conditions: list[str] | None = None
    """Keep only hard images of these conditions (easy images are always eligible)."""
    max_inconsistency: float | None = None
    """Leave out hard images whose structure-consistency score is above this."""
    num_workers: int | None = Field(None, ge=0)
    """Data-loading processes per training process; unset: one per spare CPU core, at most 8."""
    strict: bool = False
    """Refuse the run when any training row is unusable, instead of skipping (and naming) it."""


class GeometryConfig(Strict):
    size: int = Field(518, gt=0)
    """Side of the square training crop, in pixels."""
    side: Literal["short", "long"] = "short"
    """Resize so that this side equals ``size``: ``short`` then crops a square, ``long`` pads one."""


class AugmentConfig(Strict):
    hflip: float = Field(0.5, ge=0, le=1)
    brightness: float = Field(0.2, ge=0)
    contrast: float = Field(0.2, ge=0)
    saturation: float = Field(0.2, ge=0)
    hue: float = Field(0.02, ge=0, le=0.5)
    rgb_shift: float = Field(0.03, ge=0)
    """Largest per-channel additive shift, on [0, 1] pixel values."""


class LossConfig(Strict):
    alignment: Literal["median", "lstsq"] = "median"
    gradient_weight: float = Field(0.0, ge=0)
    gradient_scales: int = Field(4, ge=1)
    region_weight: float = Field(1.0, gt=0)
    """Weight of the pixels made transparent or mirror (a sample's recorded region) against the
    others in the SSI average; 1 weighs every pixel alike, as the paper does."""


class OptimConfig(Strict):
    iterations: int = Field(gt=0)
    lr: float = Field(gt=0)
    lr_drop_at: int | None = None
    lr_drop_factor: float = Field(0.1, gt=0)
    batch_size: int = Field(gt=0)
    """Samples per optimiser step, over all processes and accumulation steps."""
    grad_accumulation: int = Field(1, ge=1)
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad_norm: float | None = 1.0
    ema_decay: float | None = Field(None, gt=0, lt=1)
    """Keep an exponential moving average of the weights (e.g. 0.99); it is what validation scores
    and what is saved as the student. Unset: the weights themselves."""
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    """``auto``: bf16 (or fp16) on CUDA, none on CPU."""


class FinetuneConfig(Strict):
    model: str
    """The student's starting point (and the teacher's, for self-distillation): preset, hub id or folder."""
    online_teacher: str | None = None
    """Compute labels on the fly with this model instead of reading the dataset's."""
    data: DataConfig = DataConfig()
    geometry: GeometryConfig = GeometryConfig()
    augment: AugmentConfig = AugmentConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig
    seed: int = 0
    checkpoint_every: int = Field(1000, gt=0)
    keep_checkpoints: int = Field(3, ge=1)
    log_every: int = Field(10, gt=0)
    validate_every: int | None = None
    validation: Path | None = None
    """A held-out dataset folder scored against its labels every ``validate_every`` steps."""
    max_bad_steps: int = Field(20, ge=0)
    """Abort after this many steps skipped for a NaN or infinite loss."""

    @field_validator("model")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("model must name a preset, hub id or folder")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "FinetuneConfig":
        if self.optim.batch_size % self.optim.grad_accumulation:
            raise ValueError("optim.batch_size must be a multiple of optim.grad_accumulation")
        if (self.validate_every is None) != (self.validation is None):
            raise ValueError("validate_every and validation go together")
        return self


RESUMABLE = frozenset(
    {
        "optim.iterations",
        "optim.grad_accumulation",
        "optim.mixed_precision",
        "data.num_workers",
        "data.strict",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "validate_every",
        "validation",
        "max_bad_steps",
    }
)
"""Settings that ``--resume`` may change: the length of the run (``optim.iterations``, to train
longer), how a step is computed (accumulation, precision, loader workers: the same samples and the
same loss), and bookkeeping (checkpoints, logs, validation, row checks). Every other setting decides
what is trained and must stay the run's."""


def changed_settings(run: FinetuneConfig, given: FinetuneConfig) -> list[str]:
    """One line per setting outside ``RESUMABLE`` that differs: ``optim.lr: 1e-5 (run) -> 2e-5 (given)``."""
    old, new = _flat(run.model_dump(mode="json")), _flat(given.model_dump(mode="json"))
    return [
        f"{key}: {_shown(old.get(key))} (run) -> {_shown(new.get(key))} (given)"
        for key in sorted({*old, *new} - RESUMABLE)
        if old.get(key) != new.get(key)
    ]


def _flat(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay whole."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _shown(value: Any) -> str:
    """A value as YAML would take it back (``--set``): ``1e-5``, ``null``, ``[0.9, 0.999]``."""
    if isinstance(value, float):
        return re.sub(r"e([+-])0+(?=\d)", r"e\1", repr(value))
    return json.dumps(value)


class ConfigError(ValueError):
    """A configuration that cannot be used, with a message naming the source and the field."""


PRESETS = ("paper-dpt", "paper-midas", "paper-zoedepth", "paper-depth-anything")


def paper_preset(model: str) -> str:
    """The preset with the paper's settings for ``model``'s family (read from its config)."""
    from transformers import AutoConfig

    from depthforge import registry
    from depthforge.depth import network

    if network.is_factory(model) or network.is_saved(model):
        raise ConfigError(f"'{model}' is a network of your own: name its settings with --preset or --config")
    source, _ = registry.resolve(model)
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the config of '{model}' to choose a preset ({error})") from error
    model_type = config.model_type
    family = {"depth_anything": "paper-depth-anything", "zoedepth": "paper-zoedepth"}
    if model_type == "dpt":
        return "paper-midas" if getattr(config, "is_hybrid", False) else "paper-dpt"
    if model_type not in family:
        raise ConfigError(f"no paper preset for a '{model_type}' model: pass --preset ({', '.join(PRESETS)})")
    return family[model_type]


def _preset_text(name: str) -> str:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}'; known: {', '.join(PRESETS)}")
    return resources.files("depthforge").joinpath(f"presets/{name}.yaml").read_text()


def _read(source: str) -> dict[str, Any]:
    """A preset name or YAML file, with its ``base`` chain merged underneath it."""
    try:
        is_file = source.endswith((".yaml", ".yml"))
        document = (read_yaml(source, "config") if is_file else yaml.safe_load(_preset_text(source))) or {}
    except YamlReadError as error:
        raise ConfigError(str(error)) from error
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a config must be a mapping")
    base = document.pop("base", None)
    return merge(_read(base), document) if base else document


def merge(under: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``under``; nested mappings merge, everything else is replaced."""
    merged = dict(under)
    for key, value in over.items():
        merged[key] = (
            merge(merged[key], value)
            if isinstance(value, dict) and isinstance(merged.get(key), dict)
            else value
        )
    return merged


def parse_assignment(text: str) -> dict[str, Any]:
    """``a.b=value`` -> ``{"a": {"b": value}}``, the value read as YAML (numbers, lists, null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set needs key=value, got '{text}'")
    value: Any = yaml.safe_load(raw)
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def load_config(sources: list[str], overrides: list[dict[str, Any]]) -> FinetuneConfig:
    """Merge presets / YAML files, then overrides, and validate; errors name the field."""
    document: dict[str, Any] = {}
    for source in sources:
        document = merge(document, _read(source))
    for override in overrides:
        document = merge(document, override)
    try:
        return FinetuneConfig.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"invalid fine-tuning config: {problems}") from error
