"""Fine-tuning variants side by side on SimBench demo folders: AbsRel change vs the teacher.

Each ROOT is a `depthforge demo` work folder (its data/ and test/ are reused). Every variant
fine-tunes with the demo's settings plus its own `--set` overrides (training seed 0), then teacher
and student are scored on ROOT/test with the evaluation protocol's alignment and metrics.

    .venv/bin/python benchmarks/simbench_variants.py outputs/demo-val6 outputs/demo-val7 \\
        --variant base --variant "ema99 optim.ema_decay=0.99"
"""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from depthforge.depth.model import DepthModel
from depthforge.evaluate.protocols import PROTOCOLS
from depthforge.evaluate.readers import GenericFolder

DEMO = ["--iterations", "400", "--lr", "2e-5", "--batch-size", "8", "--size", "112"]
DEMO_SETS = [
    "seed=0",
    "data.num_workers=1",
    "data.easy_fraction=0.5",
    "log_every=100",
    "checkpoint_every=1000",
]


def abs_rel(model: DepthModel, root: Path) -> dict[str, float]:
    """Mean AbsRel per condition on one rendered test set (generic protocol, its own range)."""
    reader = GenericFolder(root)
    protocol = PROTOCOLS["generic"].for_reader(reader)
    refs = reader.refs()
    samples = [reader.load(ref) for ref in refs]
    predictions = model.predict([sample.image for sample in samples], batch_size=16)
    scores: dict[str, list[float]] = {}
    for ref, sample, pred in zip(refs, samples, predictions, strict=True):
        scores.setdefault(ref.condition, []).append(
            protocol.score(pred, model.space, sample)["all"]["abs_rel"]
        )
    return {condition: float(np.mean(values)) for condition, values in scores.items()}


def finetune(root: Path, name: str, sets: list[str], out: Path) -> Path:
    run = out / f"{root.name}-{name}"
    command = [sys.executable, "-m", "depthforge.cli", "finetune", "--model", "simbench-teacher"]
    command += ["--data", str(root / "data")]
    command += ["--out", str(run), *DEMO, *[arg for s in DEMO_SETS + sets for arg in ("--set", s)]]
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
        changes: dict[str, list[float]] = {}
        for root in args.roots:
            student = DepthModel.from_pretrained(str(finetune(root, name, sets, args.out)))
            for family in ("street", "tabletop"):
                for condition, value in abs_rel(student, root / "test" / family).items():
                    ratio = value / base[(root, family)][condition] - 1
                    changes.setdefault(f"{family} {condition}", []).append(ratio)
        cells = [
            f"{key} {np.mean(v):+.1%} [{', '.join(f'{c:+.0%}' for c in v)}]" for key, v in changes.items()
        ]
        print(f"{name} ({len(args.roots)} roots): " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    sys.exit(main())
