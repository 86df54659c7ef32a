import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.depth.model import DepthModel
from depthforge.evaluate.protocols import DEFAULT_METRIC_ALIGNMENTS, PROTOCOLS
from depthforge.evaluate.run import Evaluation, score
from depthforge.io import save_npy
from tests.evaluate.fixtures import evaluate_args, ramp_depth, write_cached_lidar, write_generic

runner = CliRunner()


def test_evaluate_two_models_end_to_end_then_reuse_the_cache(tiny_models, tmp_path, monkeypatch):
    root = write_generic(tmp_path / "bench")
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    shutil.copytree(tiny_models["depth-anything"], teacher)
    shutil.copytree(tiny_models["zoedepth"], student)
    out = tmp_path / "eval"
    args = evaluate_args([teacher, student], root, out, "--figures", "2")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with (out / "per_sample.csv").open() as file:
        rows = list(csv.DictReader(file))
    # samples x (all, tom, other) x alignments: the relative teacher's, and the metric student's
    # lstsq-inverse (as the teacher) and none
    assert len(rows) == 4 * 3 * (1 + 2)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["units"]["rmse"] == "m" and summary["averaging"] == "per image"
    assert summary["dtype"] == "float32" and summary["device"] == "cpu"
    assert summary["alignments"] == ["lstsq-inverse", "none"]
    assert set(summary["results"]) == {str(teacher), str(student)}
    assert set(summary["results_by_alignment"]["none"]) == {str(student)}
    assert summary["results"][str(teacher)]["night"]["all"]["count"] == 2
    report = (out / "report.md").read_text()
    assert "Pixels: tom" in report and "night abs_rel (ratio)" in report and "(%)" in report
    assert "### Alignment: lstsq-inverse" in report and "### Alignment: none" in report
    figures = sorted((out / "figures").rglob("*.png"))
    assert [f.parent.name for f in figures] == ["day", "night"]  # a figure of every condition
    assert Image.open(figures[0]).size == (64 * 4, 48 * 2)
    assert "all pixels\ncondition  model" in result.stdout and "| model |" not in result.stdout

    # Second run: the predictions are cached, so the models are not even loaded.
    def refuse(*_, **__):
        raise AssertionError("a cached model was loaded")

    monkeypatch.setattr(DepthModel, "from_pretrained", refuse)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert json.loads((out / "summary.json").read_text()) == summary


def test_a_malformed_sample_is_reported_and_the_rest_scored(tiny_models, tmp_path):
    root = write_generic(tmp_path / "bench", conditions=("day",), count=3)
    (root / "day" / "depth" / "s1.png").write_bytes(b"not a png")
    result = runner.invoke(app, evaluate_args([tiny_models["dpt"]], root, tmp_path / "eval"))
    assert result.exit_code == 1
    assert "s1.png: cannot read depth" in result.stderr
    assert "2 of 3 samples scored" in result.stdout


def test_a_remade_benchmark_is_predicted_afresh(tiny_models, tmp_path):
    root = write_generic(tmp_path / "bench", conditions=("day",), count=1)
    out = tmp_path / "eval"
    assert runner.invoke(app, evaluate_args([tiny_models["dpt"]], root, out)).exit_code == 0
    image = root / "day" / "images" / "s0.png"
    Image.fromarray(255 - np.asarray(Image.open(image))).save(image)  # the same id, another image
    assert runner.invoke(app, evaluate_args([tiny_models["dpt"]], root, out)).exit_code == 0
    first, second = sorted(out.rglob("predictions/**/s0.npy"), key=lambda p: p.stat().st_mtime_ns)
    assert first.parent != second.parent and not np.array_equal(np.load(first), np.load(second))


def test_report_merges_evaluations(tiny_models, tmp_path):
    root = write_generic(tmp_path / "bench", conditions=("day",), count=1)
    for name in ("a", "b"):
        runner.invoke(app, evaluate_args([tiny_models["dpt"]], root, tmp_path / name))
    result = runner.invoke(
        app, ["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r.md")]
    )
    assert result.exit_code == 0
    merged = (tmp_path / "r.md").read_text()
    assert merged.count("## generic") == 2 and "Images per condition: day: 1." in merged
    bad = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert bad.exit_code == 2 and "summary.json: missing" in bad.stderr


def test_unknown_benchmark(tmp_path):
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            "x",
            "--benchmark",
            "nope",
            "--root",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "unknown benchmark 'nope'" in result.stderr


def test_table_shows_a_category_only_where_it_exists():
    from depthforge.evaluate.metrics import METRIC_NAMES, metric_units
    from depthforge.evaluate.run import markdown_table

    metrics = dict.fromkeys(METRIC_NAMES, 0.5) | {"count": 2}
    summary = {
        "protocol": "generic",
        "description": "d",
        "averaging": "per image",
        "models": ["a", "b"],
        "units": metric_units("m"),
        "results": {
            m: {
                "day": {"all": metrics},
                "tom": {"all": metrics, "tom": metrics},
                "all": {"all": metrics, "tom": metrics},
            }
            for m in ("a", "b")
        },
    }
    table = markdown_table(summary, ("abs_rel",))
    tom_section = table[table.index("Pixels: tom") :]
    assert "day abs_rel" not in tom_section and "tom abs_rel" in tom_section


def test_a_generic_folder_can_set_its_range(tmp_path):
    from depthforge.evaluate.protocols import PROTOCOLS
    from depthforge.evaluate.readers import GenericFolder

    root = write_generic(tmp_path / "bench", conditions=("day",), count=1)
    settings = json.loads((root / "benchmark.json").read_text()) | {"depth_range": [0.5, 30]}
    (root / "benchmark.json").write_text(json.dumps(settings))
    assert PROTOCOLS["generic"].for_reader(GenericFolder(root)).depth_range == (0.5, 30.0)


def test_a_generic_folder_without_a_range_takes_the_span_of_its_ground_truth(tmp_path):
    from depthforge.depth.alignment import Alignment
    from depthforge.depth.spaces import DepthSpace
    from depthforge.evaluate.protocols import PROTOCOLS
    from depthforge.evaluate.readers import GenericFolder

    reader = GenericFolder(write_generic(tmp_path / "bench", conditions=("day",), count=1))  # 2-20 m
    protocol = PROTOCOLS["generic"].for_reader(reader)
    assert protocol.depth_range == pytest.approx((1.98, 20.2))
    assert "depth range 1.98-20.2 m from the ground truth" in protocol.description
    sample = reader.load(reader.refs()[0])
    assert protocol.evaluated(sample).sum() == sample.valid.sum()  # every valid pixel is scored
    # A fit thrown off by a few wild pixels sends them past the far end, where they are clamped:
    # within the ground truth's span AbsRel stays near 0.4 (it was 5420 with a range up to 1e6).
    wild = (1.0 / sample.depth).astype(np.float32)
    wild[:5] = -1.0
    scores = protocol.score(wild, DepthSpace.RELATIVE_INVERSE_DEPTH, sample, Alignment.LSTSQ_INVERSE)
    assert scores["all"]["abs_rel"] < 1.0


def test_a_malformed_depth_range_is_named(tmp_path):
    from depthforge.evaluate.protocols import PROTOCOLS
    from depthforge.evaluate.readers import GenericFolder, ReaderError

    root = write_generic(tmp_path / "bench", conditions=("day",), count=1)
    (root / "benchmark.json").write_text(json.dumps({"depth_range": [5]}))
    with pytest.raises(ReaderError, match=r"benchmark\.json: depth_range must be"):
        PROTOCOLS["generic"].for_reader(GenericFolder(root))


def test_predictions_are_cached_per_condition_with_a_readable_progress_label(tmp_path, capsys):
    from depthforge.depth.spaces import DepthSpace
    from depthforge.evaluate.readers import GenericFolder
    from depthforge.evaluate.run import cache_predictions

    class Model:
        space = DepthSpace.RELATIVE_INVERSE_DEPTH

        def predict(self, images, batch_size):
            return [np.ones(image.shape[:2], np.float32) for image in images]

    loaded = []
    reader = GenericFolder(write_generic(tmp_path / "bench", count=1))
    name = str(tmp_path / "runs" / "teacher")
    rows = cache_predictions(
        name,
        reader,
        reader.refs(),
        tmp_path / "eval",
        lambda n: loaded.append(n) or Model(),
        2,
        print,
        ("float32", "cpu"),
    )
    assert set(rows) == {"day/s0", "night/s0"} and loaded == [name]  # loaded once for both conditions
    progress = capsys.readouterr().err
    assert "predict teacher day: 1/1 img" in progress and "predict teacher night: 1/1 img" in progress


def test_the_compact_table_has_a_row_per_condition_and_the_pixel_rows_found(tmp_path):
    import json

    from depthforge.evaluate.metrics import METRIC_NAMES
    from depthforge.evaluate.report import compact_table

    def metrics(abs_rel, delta):
        return dict.fromkeys(METRIC_NAMES, 0.0) | {"abs_rel": abs_rel, "delta<1.25": delta, "count": 1}

    teacher = {"day": {"all": metrics(0.1, 0.9), "tom": metrics(0.2, 0.8)}, "tom": {"all": metrics(0.4, 0.5)}}
    student = {
        "day": {"all": metrics(0.12, 0.9), "tom": metrics(0.1, 0.85)},
        "tom": {"all": metrics(0.2, 0.7)},
    }
    summary = {"models": ["t", "s"], "results": {"t": {**teacher, "all": {}}, "s": {**student, "all": {}}}}
    (tmp_path / "street").mkdir()
    (tmp_path / "street" / "summary.json").write_text(json.dumps(summary))
    rows = [("day", "tom", "day: ToM pixels"), ("tom", "tom", "tom: ToM pixels")]
    lines = compact_table([tmp_path / "street"], rows).splitlines()
    assert len(lines) == 2 + 3  # header, rule, day, tom, and the one pixel row that exists
    assert lines[2] == "| street | day | 0.100 | 0.120 | +20.0% | 90.0 | 90.0 |"
    assert lines[4] == "| street | day: ToM pixels | 0.200 | 0.100 | -50.0% | 80.0 | 85.0 |"


def test_a_run_in_another_dtype_predicts_afresh_and_names_its_dtype(tiny_models, tmp_path, monkeypatch):
    root = write_generic(tmp_path / "bench", conditions=("day",), count=1)
    out, loaded = tmp_path / "eval", []
    load = DepthModel.from_pretrained
    monkeypatch.setattr(
        DepthModel, "from_pretrained", lambda *a, **k: loaded.append(k["dtype"]) or load(*a, **k)
    )
    for extra in (["--dtype", "bf16"], [], []):  # bf16, then the default (fp32) twice
        result = runner.invoke(app, evaluate_args([tiny_models["dpt"]], root, out, *extra))
        assert result.exit_code == 0, result.output
    assert loaded == ["bf16", "fp32"]  # the fp32 run did not reuse the bf16 predictions
    assert sorted(p.name for p in (out / "predictions").glob("*/*")) == ["bfloat16-cpu", "float32-cpu"]
    assert json.loads((out / "summary.json").read_text())["dtype"] == "float32"


def test_bad_options_get_one_line_each(tmp_path):
    root = write_generic(tmp_path / "bench", conditions=("day",), count=1)
    cases = {
        (
            "--model",
            "x",
            "--metric-alignment",
            "scale",
        ): "unknown --metric-alignment 'scale'; known: none, median",
        ("--model", "x", "--dtype", "fp8"): "unknown dtype 'fp8'",
        ("--predictions", str(root)): "expected DIR:SPACE, SPACE one of metric_depth, relative_inverse_depth",
        ("--predictions", f"{tmp_path / 'none'}:metric_depth"): "none: predictions folder not found",
        (): "nothing to score: give --model or --predictions",
    }
    for options, message in cases.items():
        result = runner.invoke(app, evaluate_args([], root, tmp_path / "o", *options))
        assert result.exit_code == 2 and message in result.stderr, result.output
    assert "lstsq-inverse" in runner.invoke(app, ["evaluate", "--help"]).output


def fake_predictions(out, refs, make):
    """Cached rows of a relative model whose prediction for each sample is ``make(ref)``."""
    rows = {}
    for ref in refs:
        save_npy(out / f"{ref.id}.npy", make(ref))
        rows[ref.id] = {"path": f"{ref.id}.npy", "space": "relative_inverse_depth"}
    return {"m": rows}


def test_md4all_protocols_report_md4alls_condition_groups(tmp_path):
    root = write_cached_lidar(tmp_path / "n", ("day-clear", "day-rain", "night-clear", "night-rain"))
    protocol = PROTOCOLS["md4all-nuscenes"]
    reader = protocol.make_reader(root)
    out, refs = tmp_path / "eval", reader.refs()
    cached = fake_predictions(out, refs, lambda ref: 1 / ramp_depth(48, 64))
    evaluation = Evaluation(protocol, ["m"], "m", protocol.table)
    score(evaluation, reader, refs, out, cached, print, DEFAULT_METRIC_ALIGNMENTS)
    results = evaluation.summary()["results"]["m"]
    assert set(results) == {"day-clear", "day-rain", "night", "all"}
    assert results["night"]["all"]["count"] == 2


def test_robotcar_is_cut_to_its_top_768_rows_and_a_sample_without_ground_truth_there_is_reported(tmp_path):
    root = tmp_path / "robotcar"
    (root / "depth").mkdir(parents=True)
    Image.new("RGB", (1280, 960)).save(root / "r0.png")
    depth = np.zeros((960, 1280), np.float32)
    depth[768:] = 5.0  # LiDAR points on the bonnet only
    np.savez_compressed(root / "depth" / "r0.npz", depth=depth)
    (root / "index.csv").write_text("id,image,condition\nr0,r0.png,night-clear\n")
    protocol = PROTOCOLS["md4all-robotcar"]
    reader = protocol.make_reader(root)
    sample = reader.load(reader.refs()[0])
    assert sample.image.shape[:2] == sample.depth.shape == (768, 1280)
    out, messages = tmp_path / "eval", []
    cached = fake_predictions(out, reader.refs(), lambda ref: np.ones((768, 1280), np.float32))
    evaluation = Evaluation(protocol, ["m"], "m", protocol.table)
    score(evaluation, reader, reader.refs(), out, cached, messages.append, DEFAULT_METRIC_ALIGNMENTS)
    assert evaluation.rows == [] and evaluation.scored() == set()
    assert messages == ["r0: no valid ground truth inside the protocol's range and crop; not scored"]
