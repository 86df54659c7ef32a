"""The student's model card: ``README.md`` with the hub's metadata (``pipeline_tag``, ``base_model``,
tags), what the student was distilled from and on what, and how it was trained; the evaluation
table is added by ``add_evaluation`` (``depthforge demo`` adds its teacher-vs-student table)."""

from pathlib import Path

import yaml

from depthforge import registry
from depthforge.config import FinetuneConfig
from depthforge.data.dataset import DatasetFolder
from depthforge.io import write_atomic


def hub_base_model(model: str) -> str | None:
    """The hub id the student started from; None for a local folder or a network of one's own."""
    if Path(model).exists() or ":" in model:
        return None
    source, _ = registry.resolve(model)
    return source if "/" in source and not Path(source).exists() else None  # not a bundled model


def _teachers(config: FinetuneConfig) -> list[str]:
    names = {row["teacher"] for source in config.data.sources for row in DatasetFolder(source.path).labels()}
    return sorted(names)


def model_card(config: FinetuneConfig, pairs: dict[str, int], steps: int, library: str | None) -> str:
    """The card's text; ``pairs``: training pairs per condition, ``library``: the loading library."""
    base = hub_base_model(config.model)
    metadata = {
        "pipeline_tag": "depth-estimation",
        **({"library_name": library} if library else {}),
        **({"base_model": base} if base else {}),
        "tags": [
            "depth-estimation",
            "depthforge",
            "self-distillation",
            *sorted(c for c in pairs if c != "easy"),
        ],
    }
    conditions = ", ".join(f"{condition} {count}" for condition, count in pairs.items())
    optim, geometry = config.optim, config.geometry
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).strip(),
        "---",
        "",
        f"# {Path(config.model).name}, made robust by self-distillation (depthforge)",
        "",
        f"Fine-tuned from `{config.model}` on its own labels of easy images and of hard images generated",
        "from them (night, fog, transparent and mirror surfaces ...), with a scale-and-shift-invariant",
        "loss: the method of *Diffusion Models for Monocular Depth Estimation: Overcoming Challenging",
        "Conditions* (Tosi, Zama Ramirez, Poggi, ECCV 2024), as implemented by depthforge.",
        "",
        f"- Labels by: {', '.join(f'`{name}`' for name in _teachers(config))}",
        f"- Training pairs per condition: {conditions}",
        f"- Data: {', '.join(f'`{source.path}`' for source in config.data.sources)}",
        f"- {steps} steps, batch {optim.batch_size}, learning rate {optim.lr:g}, {geometry.size} px crops,"
        f" seed {config.seed}",
        "",
        "The licence is the one of the base model and of the data; set it here before publishing.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(folder: Path, text: str) -> None:
    write_atomic(folder / "README.md", lambda tmp: tmp.write_text(text))


def add_evaluation(folder: Path, table: str, title: str = "Evaluation") -> None:
    """Append an evaluation table to the student's card (replacing one of the same title)."""
    card = folder / "README.md"
    text = card.read_text() if card.is_file() else ""
    heading = f"\n## {title}\n"
    text = text.split(heading)[0].rstrip("\n") + "\n" + heading + "\n" + table.strip() + "\n"
    write_atomic(card, lambda tmp: tmp.write_text(text))
