"""Teacher vs student on SimBench over several demo seeds: mean and spread of AbsRel and delta1,
over all pixels per condition and over the ToM objects' pixels, and how much of the ToM gap the
student closes.

for s in 0 1 2; do .venv/bin/depthforge demo --seed $s --workdir outputs/demo-s$s; done
.venv/bin/python benchmarks/simbench_seeds.py outputs/demo-s0 outputs/demo-s1 outputs/demo-s2

The ToM gap of a family is the teacher's AbsRel on the ToM pixels of the `tom` renders less its
AbsRel on the same pixels of the `day` renders, where the objects are opaque (the bound of
self-distillation: the labels are the teacher's depth of opaque objects).
"""

import json
import sys
from pathlib import Path

import numpy as np

from depthforge.sim.render import SIMBENCH_PIXEL_ROWS

Key = tuple[str, str, str]  # family, row label, role


def collect(runs: list[Path]) -> dict[Key, list[tuple[float, float]]]:
    """(AbsRel, delta1) per family, row and role (teacher / student), one entry per run."""
    table: dict[Key, list[tuple[float, float]]] = {}
    for run in runs:
        for summary_path in sorted((run / "eval").glob("*/summary.json")):
            summary = json.loads(summary_path.read_text())
            family = summary_path.parent.name
            for role, model in zip(("teacher", "student"), summary["models"], strict=False):
                results = summary["results"][model]
                rows = [(c, "all", c) for c in results if c != "all"] + SIMBENCH_PIXEL_ROWS
                for condition, category, label in rows:
                    values = results.get(condition, {}).get(category)
                    if values:
                        table.setdefault((family, label, role), []).append(
                            (values["abs_rel"], values["delta<1.25"])
                        )
    return table


def main(runs: list[Path]) -> None:
    table = collect(runs)
    print(f"{len(runs)} seeds; mean +- standard deviation over seeds\n")
    columns = ["family", "rows", "teacher AbsRel", "student AbsRel", "change", "change per seed"]
    columns += ["teacher d1 (%)", "student d1 (%)"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    labels = {label: order for order, (_, _, label) in enumerate(SIMBENCH_PIXEL_ROWS)}
    for family, label in sorted(
        {(f, r) for f, r, _ in table}, key=lambda k: (k[0], labels.get(k[1], -1), k[1])
    ):
        teacher = np.array(table[(family, label, "teacher")])
        student = np.array(table[(family, label, "student")])
        change = (student[:, 0].mean() - teacher[:, 0].mean()) / teacher[:, 0].mean()
        per_seed = ", ".join(f"{c:+.1%}" for c in student[:, 0] / teacher[:, 0] - 1)
        print(
            f"| {family} | {label} | {teacher[:, 0].mean():.3f} +- {teacher[:, 0].std():.3f} | "
            f"{student[:, 0].mean():.3f} +- {student[:, 0].std():.3f} | {change:+.1%} | {per_seed} | "
            f"{100 * teacher[:, 1].mean():.1f} +- {100 * teacher[:, 1].std():.1f} | "
            f"{100 * student[:, 1].mean():.1f} +- {100 * student[:, 1].std():.1f} |"
        )
    tom, bound = SIMBENCH_PIXEL_ROWS[0][2], SIMBENCH_PIXEL_ROWS[1][2]
    print("\nToM gap (teacher in tom less teacher in day, same pixels) and the share the student closes:\n")
    for family in sorted({f for f, _, _ in table}):
        if (family, tom, "teacher") not in table:
            continue
        before = np.array(table[(family, tom, "teacher")])[:, 0]
        after = np.array(table[(family, tom, "student")])[:, 0]
        gap = before - np.array(table[(family, bound, "teacher")])[:, 0]
        closed, mean_closed = (before - after) / gap, (before - after).mean() / gap.mean()
        print(
            f"- {family}: gap {gap.mean():.3f} (per seed {', '.join(f'{g:.3f}' for g in gap)}; teacher's "
            f"seed-to-seed spread in tom {before.std():.3f}); closed {mean_closed:.0%} "
            f"(per seed {', '.join(f'{c:.0%}' for c in closed)})"
        )


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
