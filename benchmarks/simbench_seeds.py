"""Teacher vs student on SimBench over several demo seeds: mean and spread of AbsRel and delta1.

for s in 0 1 2; do .venv/bin/depthforge demo --seed $s --workdir outputs/demo-s$s; done
.venv/bin/python benchmarks/simbench_seeds.py outputs/demo-s0 outputs/demo-s1 outputs/demo-s2
"""

import json
import sys
from pathlib import Path

import numpy as np


def main(runs: list[Path]) -> None:
    table: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for run in runs:
        for summary_path in sorted((run / "eval").glob("*/summary.json")):
            summary = json.loads(summary_path.read_text())
            teacher, student = summary["models"]
            for role, model in (("teacher", teacher), ("student", student)):
                for condition, categories in summary["results"][model].items():
                    if condition != "all":
                        values = categories["all"]
                        key = (summary_path.parent.name, condition, role)
                        table.setdefault(key, []).append((values["abs_rel"], values["delta<1.25"]))
    print(f"{len(runs)} seeds; mean +- standard deviation over seeds\n")
    columns = [
        "family",
        "condition",
        "teacher AbsRel",
        "student AbsRel",
        "change",
        "change per seed",
        "teacher d1 (%)",
        "student d1 (%)",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for family, condition in sorted({(f, c) for f, c, _ in table}):
        teacher = np.array(table[(family, condition, "teacher")])
        student = np.array(table[(family, condition, "student")])
        change = (student[:, 0].mean() - teacher[:, 0].mean()) / teacher[:, 0].mean()
        per_seed = ", ".join(f"{c:+.1%}" for c in student[:, 0] / teacher[:, 0] - 1)
        print(
            f"| {family} | {condition} | {teacher[:, 0].mean():.3f} +- {teacher[:, 0].std():.3f} | "
            f"{student[:, 0].mean():.3f} +- {student[:, 0].std():.3f} | {change:+.1%} | {per_seed} | "
            f"{100 * teacher[:, 1].mean():.1f} +- {100 * teacher[:, 1].std():.1f} | "
            f"{100 * student[:, 1].mean():.1f} +- {100 * student[:, 1].std():.1f} |"
        )


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
