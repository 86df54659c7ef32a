"""Result tables from an evaluation's summary: the paper's wide Markdown layout (``report.md``,
`depthforge report`), a narrow one for an 80-column terminal, and the lines naming outlier images.

Fractions are shown in %. A change against the reference model is relative (``-16.7%``), unless
the reference shows as zero at the table's precision: then it is the absolute difference in the
cell's unit (``+0.093``), since a ratio to (nearly) zero means nothing. Models are compared only
with models scored with the same alignment: each alignment has its own tables.
"""

import math
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from depthforge.evaluate.metrics import OUTLIER_RULE


def model_label(model: str) -> str:
    """A model's short display name: a folder's or hub id's last part."""
    return Path(model.rstrip("/")).name or model


def model_labels(models: list[str]) -> dict[str, str]:
    """``model_label`` of each model, or its whole name where two labels would clash."""
    short = {model: model_label(model) for model in models}
    counts = Counter(short.values())
    return {model: name if counts[name] == 1 else model for model, name in short.items()}


def number(value: float, unit: str, sign: bool = False) -> str:
    """A metric as shown: fractions in % with 2 decimals, the rest with 3; ``-`` for NaN."""
    if math.isnan(value):
        return "-"
    plus = "+" if sign else ""
    return f"{value * 100:{plus}.2f}" if unit == "fraction" else f"{value:{plus}.3f}"


def change(value: float, reference: float, unit: str) -> str:
    """``value`` against ``reference`` (see the module's docstring); empty when there is none."""
    if math.isnan(value) or math.isnan(reference) or value == reference:
        return ""
    if float(number(reference, unit)) == 0:
        return number(value - reference, unit, sign=True)
    return f"{(value - reference) / abs(reference):+.1%}"


def _cell(value: float, reference: float | None, unit: str, pattern: str) -> str:
    """``pattern`` (with ``{value}`` and ``{change}``) filled in, or the value alone without a change."""
    difference = change(value, reference, unit) if reference is not None else ""
    return pattern.format(value=number(value, unit), change=difference) if difference else number(value, unit)


ALIGNMENT_NOTES = {
    "none": "metric output as it is",
    "median": "scaled by the ratio of the medians",
    "lstsq-inverse": "scale and shift by least squares in inverse depth",
    "lstsq-depth": "scale and shift by least squares in depth",
}


def alignment_views(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary once per alignment it was scored with (``alignments``: the first one's results
    are ``results``, the others' in ``results_by_alignment``), each holding ``alignment`` and only
    the models scored with it; none when nothing was scored."""
    names = summary.get("alignments") or [""]
    views = []
    for name in names:
        results = summary["results"] if name == names[0] else summary["results_by_alignment"][name]
        models = [model for model in summary["models"] if model in results]
        views.append({**summary, "alignment": name, "models": models, "results": results})
    return [view for view in views if view["models"]]


def _alignment_line(view: dict[str, Any]) -> str:
    name = view["alignment"]
    return f"Alignment: {name} ({ALIGNMENT_NOTES[name]})" if name else ""


def _conditions(summary: dict[str, Any]) -> list[str]:
    """The reference model's conditions, ``all`` last and left out when there is only one other."""
    conditions = sorted(summary["results"][summary["models"][0]], key=lambda c: (c == "all", c))
    return conditions[:1] if len(conditions) == 2 else conditions


def _blocks(summary: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(pixel category, the conditions that have it) in table order: ``all`` first."""
    first = summary["results"][summary["models"][0]]
    categories = sorted(first["all"], key=lambda k: k != "all")
    return [(category, [c for c in _conditions(summary) if category in first[c]]) for category in categories]


def _rows(
    summary: dict[str, Any], metrics: tuple[str, ...], category: str, condition: str, pattern: str
) -> list[list[str]]:
    """A row per model of ``metrics`` cells, each with its change against the first model."""
    results, models, units = summary["results"], summary["models"], summary["units"]
    reference = results[models[0]][condition][category]
    rows = []
    for model in models:
        values = results[model].get(condition, {}).get(category, {})
        base = dict.fromkeys(metrics) if model == models[0] else reference
        rows.append([_cell(values.get(m, math.nan), base[m], units[m], pattern) for m in metrics])
    return rows


def _header(summary: dict[str, Any], bold: bool = False) -> str:
    name = f"**{summary['protocol']}**" if bold else summary["protocol"]
    return f"{name}: {summary['description']}; averaged {summary['averaging']}."


def _unit(unit: str) -> str:
    """A metric's unit as a column shows it: % for fractions, nothing for ratios and scores."""
    return "" if unit in {"ratio", "ln", "log10", "score"} else "%" if unit == "fraction" else unit


def _counts(summary: dict[str, Any]) -> str:
    first = summary["results"][summary["models"][0]]
    counts = ", ".join(f"{c}: {first[c]['all']['count']}" for c in _conditions(summary))
    return f"Images per condition: {counts}."


def outlier_lines(summary: dict[str, Any]) -> list[str]:
    """One line per outlier image of the summary (see ``metrics.OUTLIER_RULE``), naming the
    alignment where there are several."""
    labels = model_labels(summary["models"])
    several = len(summary.get("alignments", [])) > 1
    return [
        f"{o['id']} ({labels[o['model']]}{', ' + o['alignment'] if several else ''}): "
        f"AbsRel {o['abs_rel']:.3f}, median of the other {o['condition']} images {o['median_of_others']:.3f}"
        for o in summary.get("outliers", [])
    ]


def _outlier_section(summary: dict[str, Any], bullet: str) -> list[str]:
    lines = outlier_lines(summary)
    return [f"Outliers ({OUTLIER_RULE}):", *(bullet + line for line in lines), ""] if lines else []


def _markdown_blocks(view: dict[str, Any], metrics: tuple[str, ...]) -> list[str]:
    """Per pixel category of one alignment's view a table: a row per model, a column group per condition."""
    units, lines = view["units"], []
    for category, shown in _blocks(view):
        header = [
            "model",
            *(f"{c} {m} ({'%' if units[m] == 'fraction' else units[m]})" for c in shown for m in metrics),
        ]
        lines += [f"Pixels: {category}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        per_condition = [_rows(view, metrics, category, c, "{value} ({change})") for c in shown]
        for index, model in enumerate(view["models"]):
            cells = [model, *(cell for rows in per_condition for cell in rows[index])]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _footer(summary: dict[str, Any], views: list[dict[str, Any]], bullet: str) -> list[str]:
    counts = _counts(views[0]) if views else "No sample was scored."
    return [counts, "", *_outlier_section(summary, bullet)]


def markdown_table(summary: dict[str, Any], metrics: tuple[str, ...]) -> str:
    """The paper's layout, per alignment (see ``alignment_views``) and pixel category (all, then
    e.g. ToM / Other): a table with a row per model and a column group per condition, each cell
    ``metric (change against the alignment's first model)``."""
    views = alignment_views(summary)
    lines = [_header(summary, bold=True), ""]
    for view in views:
        heading = _alignment_line(view)
        lines += [f"### {heading}", ""] if heading else []
        lines += _markdown_blocks(view, metrics)
    return "\n".join([*lines, *_footer(summary, views, "- ")])


def _terminal_blocks(view: dict[str, Any], metrics: tuple[str, ...]) -> list[str]:
    """Per pixel category of one alignment's view a row per condition and model, a column per metric."""
    units, labels, lines = view["units"], model_labels(view["models"]), []
    for category, shown in _blocks(view):
        header = ["condition", "model", *metrics]
        table = [header, ["", "", *(_unit(units[m]) for m in metrics)]]
        for condition in shown:
            for index, cells in enumerate(_rows(view, metrics, category, condition, "{value} {change}")):
                model = view["models"][index]
                table.append(["" if index else condition, labels[model], *cells])
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines += [f"{category} pixels"]
        lines += [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in table
        ]
        lines.append("")
    return lines


def terminal_table(summary: dict[str, Any], metrics: tuple[str, ...]) -> str:
    """A narrow layout: per alignment and pixel category a row per condition and model, a column
    per metric (its unit under its name)."""
    views = alignment_views(summary)
    lines = [textwrap.fill(_header(summary), 80), ""]
    for view in views:
        heading = _alignment_line(view)
        lines += [textwrap.fill(heading, 80), ""] if heading else []
        lines += _terminal_blocks(view, metrics)
    return "\n".join([*lines, *_footer(summary, views, "  ")])
