import json
import shutil

import numpy as np
from typer.testing import CliRunner

from depthforge.cli import app
from tests.evaluate.fixtures import evaluate_args, ramp_depth, write_generic

runner = CliRunner()


def predictions_args(folder: str, root, out) -> list[str]:
    """`depthforge evaluate --predictions FOLDER` on a generic folder."""
    return evaluate_args([], root, out, "--predictions", folder)


def test_predictions_made_elsewhere_score_as_the_model_that_made_them(tiny_models, tmp_path):
    root = write_generic(tmp_path / "bench")
    model, by_model, folder = tiny_models["zoedepth"], tmp_path / "by-model", tmp_path / "made-elsewhere"
    assert runner.invoke(app, evaluate_args([model], root, by_model, "--figures", "0")).exit_code == 0
    for path in (by_model / "predictions").rglob("*.npy"):  # .../IMAGES/CONDITION/NAME.npy
        (folder / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.parent.name / path.name)
    by_folder = tmp_path / "by-folder"
    result = runner.invoke(app, predictions_args(f"{folder}:metric_depth", root, by_folder))
    assert result.exit_code == 0, result.output
    expected, found = (json.loads((run / "summary.json").read_text()) for run in (by_model, by_folder))
    assert found["alignments"] == expected["alignments"] == ["lstsq-inverse", "none"]
    assert found["results"][str(folder)] == expected["results"][str(model)]
    assert (
        found["results_by_alignment"]["none"][str(folder)]
        == expected["results_by_alignment"]["none"][str(model)]
    )


def test_missing_and_unreadable_predictions_are_named_and_the_rest_scored(tmp_path):
    root = write_generic(tmp_path / "bench")  # day/s0, day/s1, night/s0, night/s1 at 48 x 64
    folder = tmp_path / "preds"
    for condition in ("day", "night"):
        (folder / condition).mkdir(parents=True)
    inverse = (1 / ramp_depth(48, 64)).astype(np.float32)
    np.save(folder / "day" / "s0.npy", inverse)
    np.save(folder / "night" / "s1.npy", inverse[None, ::2, ::2])  # another resolution, a leading axis
    (folder / "night" / "s0.npy").write_bytes(b"not an array")
    result = runner.invoke(app, predictions_args(f"{folder}:relative_inverse_depth", root, tmp_path / "eval"))
    assert result.exit_code == 1
    assert result.stderr.count(f"{folder / 'day' / 's1.npy'}: missing prediction for day/s1") == 1
    assert result.stderr.count(f"{folder / 'night' / 's0.npy'}: cannot read prediction") == 1
    assert "2 of 4 samples scored" in result.stdout
    results = json.loads((tmp_path / "eval" / "summary.json").read_text())["results"][str(folder)]
    assert results["night"]["all"]["count"] == 1 and results["night"]["all"]["abs_rel"] < 0.05
