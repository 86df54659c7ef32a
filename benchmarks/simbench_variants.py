"""Fine-tuning variants side by side on SimBench demo folders: AbsRel change vs the teacher.

Each ROOT is a `depthforge demo` work folder (its demo.yaml, data/ and test/ are reused). Every
variant runs the demo's own fine-tuning stage with its `--set` overrides (none for the demo itself),
then teacher and student are scored on ROOT/test with the evaluation protocol's alignment and
metrics, over all pixels and over the ToM objects' pixels.

    .venv/bin/python benchmarks/simbench_variants.py outputs/demo-val6 outputs/demo-val7 \\
        --variant demo --variant "noema optim.ema_decay=null"
"""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from depthforge.cli.pipeline import AppCommands
from depthforge.depth.alignment import Alignment
from depthforge.depth.model import DepthModel
from depthforge.evaluate.protocols import PROTOCOLS
from depthforge.evaluate.readers import GenericFolder
from depthforge.pipeline import load_pipeline


def abs_rel(model: DepthModel, root: Path) -> dict[str, float]:
    """Mean AbsRel per condition on one rendered test set (generic protocol, its own range), over
    all pixels, and over the ToM objects' pixels ("CONDITION tom px") and the others ("... other px")
    in ``tom`` and ``day`` (where the objects are opaque: the bound of self-distillation)."""
    reader = GenericFolder(root)
    protocol = PROTOCOLS["generic"].for_reader(reader)
    refs = reader.refs()
    samples = [reader.load(ref) for ref in refs]
    predictions = model.predict([sample.image for sample in samples], batch_size=16)
    scores: dict[str, list[float]] = {}
    for ref, sample, pred in zip(refs, samples, predictions, strict=True):
        for category, metrics in protocol.score(pred, model.space, sample, Alignment.LSTSQ_INVERSE).items():
            if category == "all":
                key = ref.condition
            elif ref.condition in ("tom", "day"):
                key = f"{ref.condition} {category} px"
            else:
                continue
            if not np.isnan(metrics["abs_rel"]):
                scores.setdefault(key, []).append(metrics["abs_rel"])
    return {key: float(np.mean(values)) for key, values in sorted(scores.items())}


def finetune(root: Path, name: str, sets: list[str], out: Path) -> Path:
    """The demo's own fine-tuning stage (read from ROOT/demo.yaml), into another run folder, with
    the variant's ``--set`` overrides last."""
    _, stages = load_pipeline(root / "demo.yaml", AppCommands())
    argv = next(stage.argv for stage in stages if stage.name == "finetune")
    run = out / f"{root.name}-{name}"
    argv = [arg for arg in argv if arg != "--resume"]
    argv[argv.index("--out") + 1] = str(run)
    command = [sys.executable, "-m", "depthforge.cli", *argv, *[arg for s in sets for arg in ("--set", s)]]
    subprocess.run(command, check=True, capture_output=True)
    return run / "student"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--variant", action="append", required=True, help='"NAME key=value ..."')
    parser.add_argument("--out", type=Path, default=Path("outputs/variants"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    teacher = DepthModel.from_pretrained("simbench-teacher")
    base = {(r, f): abs_rel(teacher, r / "test" / f) for r in args.roots for f in ("street", "tabletop")}
    for variant in args.variant:
        name, *sets = variant.split()
        pairs: dict[str, list[tuple[float, float]]] = {}
        for root in args.roots:
            student = DepthModel.from_pretrained(str(finetune(root, name, sets, args.out)))
            for family in ("street", "tabletop"):
                for key, value in abs_rel(student, root / "test" / family).items():
                    pairs.setdefault(f"{family} {key}", []).append((base[(root, family)][key], value))
        print(f"{name} ({len(args.roots)} roots): AbsRel teacher -> student, change [per root]")
        for key, values in pairs.items():
            teacher_mean, student_mean = np.mean(values, axis=0)
            per_root = ", ".join(f"{s / t - 1:+.0%}" for t, s in values)
            print(
                f"  {key}: {teacher_mean:.3f} -> {student_mean:.3f} ({student_mean / teacher_mean - 1:+.1%})"
                f" [{per_root}]",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
