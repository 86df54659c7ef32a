"""`depthforge report`: several evaluation folders merged into one Markdown comparison."""

import json
from pathlib import Path

from depthforge.evaluate.protocols import PROTOCOLS
from depthforge.evaluate.run import markdown_table


def merge_reports(folders: list[Path]) -> str:
    """One section per evaluation (benchmark), each in the paper's layout."""
    sections = ["# depthforge report", ""]
    for folder in folders:
        path = folder / "summary.json"
        if not path.is_file():
            raise ValueError(f"{path}: missing; run `depthforge evaluate` into {folder} first")
        summary = json.loads(path.read_text())
        metrics = tuple(summary.get("table") or PROTOCOLS[summary["protocol"]].table)
        sections += [f"## {summary['protocol']} ({folder})", "", markdown_table(summary, metrics)]
    return "\n".join(sections)
