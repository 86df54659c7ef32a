"""`depthforge report`: several evaluation folders merged into one Markdown comparison, and the
compact teacher-vs-student table the demo prints."""

import json
from pathlib import Path
from typing import Any

from depthforge.evaluate.protocols import PROTOCOLS
from depthforge.evaluate.tables import alignment_views, change, markdown_table


def _summary(folder: Path) -> dict[str, Any]:
    path = folder / "summary.json"
    if not path.is_file():
        raise ValueError(f"{path}: missing; run `depthforge evaluate` into {folder} first")
    return json.loads(path.read_text())


def merge_reports(folders: list[Path]) -> str:
    """One section per evaluation (benchmark), each in the paper's layout."""
    sections = ["# depthforge report", ""]
    for folder in folders:
        summary = _summary(folder)
        metrics = tuple(summary.get("table") or PROTOCOLS[summary["protocol"]].table)
        sections += [f"## {summary['protocol']} ({folder})", "", markdown_table(summary, metrics)]
    return "\n".join(sections)


PixelRow = tuple[str, str, str]
"""(condition, pixel category, label) of a row scored on some pixels only."""


def compact_table(folders: list[Path], pixel_rows: list[PixelRow]) -> str:
    """Teacher (each evaluation's first model) against student (its second), under the first
    alignment that scored both: a row per folder and condition over all pixels, then the
    ``pixel_rows`` found in it; AbsRel, its change (see ``tables.change``), delta1."""
    header = "| set | rows | teacher AbsRel | student AbsRel | change | teacher d1 (%) | student d1 (%) |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    for folder in folders:
        summary = _summary(folder)
        pair = summary["models"][:2]
        both = (view["results"] for view in alignment_views(summary) if set(pair) <= set(view["models"]))
        results = next(both, None)
        if results is None:
            raise ValueError(f"{folder}: no alignment scored both {' and '.join(pair)}")
        teacher, student = (results[model] for model in pair)
        rows = [(c, "all", c) for c in sorted(teacher, key=lambda c: (c == "all", c)) if c != "all"]
        rows += [row for row in pixel_rows if row[1] in teacher.get(row[0], {})]
        for condition, category, label in rows:
            before, after = teacher[condition][category], student[condition][category]
            cells = [
                folder.name,
                label,
                f"{before['abs_rel']:.3f}",
                f"{after['abs_rel']:.3f}",
                change(after["abs_rel"], before["abs_rel"], "ratio") or "-",
                f"{100 * before['delta<1.25']:.1f}",
                f"{100 * after['delta<1.25']:.1f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
