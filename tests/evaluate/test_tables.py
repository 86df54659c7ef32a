import json

from depthforge.evaluate.metrics import METRIC_NAMES
from depthforge.evaluate.protocols import PROTOCOLS
from depthforge.evaluate.report import compact_table
from depthforge.evaluate.run import Evaluation
from depthforge.evaluate.tables import change, markdown_table, terminal_table

TOM_TABLE = ("mae", "delta<1.05", "delta<1.25", "abs_rel")


def evaluation(values: dict[str, dict[str, float]], conditions=("day",), unit="m", table=("abs_rel",)):
    """An evaluation with one image per condition, pixel category (all, tom, other) and model;
    ``values`` gives each model's metrics (the others are 0.5)."""
    models = list(values)
    rows = [
        {"model": model, "id": f"{condition}/s0", "condition": condition, "category": category}
        | {"alignment": "lstsq-inverse"}
        | dict.fromkeys(METRIC_NAMES, 0.5)
        | values[model]
        for model in models
        for condition in conditions
        for category in ("all", "tom", "other")
    ]
    return Evaluation(PROTOCOLS["depth4tom-booster"], models, unit, table, rows)


def test_a_change_against_a_zero_or_tiny_baseline_is_an_absolute_difference(tmp_path):
    assert change(0.12, 0.1, "ratio") == "+20.0%"
    assert change(93288.8917, 0.0, "ratio") == "+93288.892"
    assert change(0.5, 1e-9, "ratio") == "+0.500"
    assert change(0.9, 1e-6, "fraction") == "+90.00"  # shown in %: 0.00 -> 90.00
    summary = evaluation({"teacher": {"abs_rel": 1e-9}, "student": {"abs_rel": 0.093}}).summary()
    assert "| student | 0.093 (+0.093) |" in markdown_table(summary, ("abs_rel",))
    folder = tmp_path / "street"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(summary))
    assert "| street | day | 0.000 | 0.093 | +0.093 | 50.0 | 50.0 |" in compact_table([folder], [])


def test_the_terminal_table_fits_80_columns_and_the_report_keeps_every_column():
    values = {
        "runs/booster/teacher": {"mae": 1234.567, "delta<1.05": 0.1234, "abs_rel": 0.123},
        "runs/booster/student": {"mae": 1387.1, "delta<1.05": 0.5, "delta<1.25": 0.6, "abs_rel": 0.1},
    }
    conditions = ("day-clear", "day-rain", "night", "snow")
    summary = evaluation(values, conditions, "mm", TOM_TABLE).summary()
    text = terminal_table(summary, TOM_TABLE)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "snow       teacher  1234.567" in text and "student  1387.100 +12.4%" in text
    header = next(
        line for line in markdown_table(summary, TOM_TABLE).splitlines() if line.startswith("| model")
    )
    assert header.count("|") - 1 == 1 + len(TOM_TABLE) * (len(conditions) + 1)  # model, conditions and all


def test_outlier_images_are_named_in_both_tables():
    rows = [
        {"model": "runs/teacher", "id": f"night/s{index}", "condition": "night", "category": "all"}
        | {"alignment": "none"}
        | dict.fromkeys(METRIC_NAMES, 0.1)
        | {"abs_rel": value}
        for index, value in enumerate((0.1, 0.12, 1902.0))
    ]
    summary = Evaluation(PROTOCOLS["md4all-nuscenes"], ["runs/teacher"], "m", ("abs_rel",), rows).summary()
    line = "night/s2 (teacher): AbsRel 1902.000, median of the other night images 0.110"
    rule = "Outliers (AbsRel over 10x the median of the other images of its model, alignment and condition):"
    assert f"{rule}\n  {line}" in terminal_table(summary, ("abs_rel",))
    assert f"{rule}\n- {line}" in markdown_table(summary, ("abs_rel",))
