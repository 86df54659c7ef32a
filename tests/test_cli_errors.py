"""What a user sees on bad input: one line per problem, the good inputs processed, a non-zero exit."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from depthforge.cli import app
from tests.conftest import smooth_image

runner = CliRunner()


def error_lines(result) -> list[str]:
    return [
        part for line in result.stderr.splitlines() for part in line.split("\r") if part.startswith("error:")
    ]


def bad_folder(root):
    """Two good images and one of each kind of unusable entry."""
    root.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(smooth_image(32, 40, len(name))).save(root / name)
    (root / "dangling.png").symlink_to(root / "gone.png")
    (root / "folder.png").mkdir()
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("not an image")
    (root / "cut.png").write_bytes((root / "a.png").read_bytes()[:100])
    (root / ".a.png.vm.1.ab12cd34.tmp").write_bytes((root / "a.png").read_bytes())  # skipped silently
    return root


UNUSABLE = ("dangling.png", "folder.png", "empty.png", "text.png", "cut.png")


@pytest.mark.parametrize("command", ["predict", "label"])
def test_every_unusable_input_is_named_once_and_the_good_ones_processed(command, tiny_models, tmp_path):
    images = bad_folder(tmp_path / "in")
    out = tmp_path / "out"
    result = runner.invoke(app, [command, str(images), "-m", str(tiny_models["dpt"]), "-o", str(out)])
    assert result.exit_code == 1
    lines = error_lines(result)
    assert sorted(line.split(":")[1].split("/")[-1] for line in lines) == sorted(UNUSABLE), lines
    written = sorted(p.name for p in out.rglob("*.npy"))
    assert written == ["a.npy", "b.npy"]


def test_a_malformed_pipeline_is_one_line_with_its_place(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("workdir: w\nstages:\n  - [a\n")
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}:4:1: cannot read pipeline: expected ',' or ']', but got '<stream end>'"
    ]


def test_an_unknown_benchmark_is_one_line(tmp_path):
    result = runner.invoke(
        app, ["evaluate", "-m", "simbench-teacher", "--benchmark", "nope", "--root", ".", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1


def one_step_finetune(run, dataset, model) -> list[str]:
    """A finetune command line that trains one small step without a preset."""
    data = ["--data", str(dataset.root), "-m", str(model)]
    return [
        "finetune",
        "-o",
        str(run),
        *data,
        "--iterations",
        "1",
        "--size",
        "56",
        "--batch-size",
        "1",
        "--set",
        "data.num_workers=0",
    ]


def test_finetune_without_a_preset_takes_the_papers_for_the_family(tiny_models, distill_set, tmp_path):
    result = runner.invoke(app, ["finetune", "-o", str(tmp_path / "run"), "--data", str(distill_set.root)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: name the network to fine-tune with --model, or a --preset: "
        "paper-dpt, paper-midas, paper-zoedepth, paper-depth-anything"
    ]
    result = runner.invoke(app, one_step_finetune(tmp_path / "run", distill_set, tiny_models["dpt"]))
    assert result.exit_code == 0, result.output
    assert "no --preset given: using paper-dpt" in result.stdout
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "lr: 1.0e-06" in config and "lr_drop_at: 25000" in config


def test_a_dataset_with_a_nan_label_trains_on_the_rest(tiny_models, distill_set, tmp_path):
    label = distill_set.root / "labels" / "e1.npy"
    np.save(label, np.full_like(np.load(label), np.nan))
    args = one_step_finetune(tmp_path / "run", distill_set, tiny_models["dpt"])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = error_lines(result)
    assert lines[-1] == "error: 3 of 9 training rows unusable: skipped, training on the rest"
    assert len(set(lines)) == 4 and all("e1.npy: label finite on 0.0%" in line for line in lines[:3])
    strict = runner.invoke(app, [*args[:2], str(tmp_path / "strict"), *args[3:], "--strict"])
    assert strict.exit_code == 2 and "refused (--strict)" in error_lines(strict)[-1]


def test_evaluate_names_each_unreadable_benchmark_image_once(tmp_path):
    root = tmp_path / "bench"
    (root / "depth").mkdir(parents=True)
    good_images = bad_folder(root / "images")
    for image in good_images.iterdir():
        np.save(root / "depth" / f"{image.stem}.npy", np.ones((32, 40), np.float32))
    result = runner.invoke(
        app,
        [
            "evaluate",
            "-m",
            "simbench-teacher",
            "--benchmark",
            "generic",
            "--root",
            str(root),
            "-o",
            str(tmp_path / "e"),
        ],
    )
    assert result.exit_code == 1
    named = sorted(line.split(":")[1].split("/")[-1] for line in error_lines(result))
    assert named == sorted(["cut.png", "dangling.png", "empty.png", "folder.png", "text.png"]), named
    assert "2 of 7 samples scored" in result.stdout


def test_png_compression_is_a_global_option(tiny_models, tmp_path, monkeypatch):
    from depthforge.io import PNG_COMPRESSION

    monkeypatch.setitem(PNG_COMPRESSION, "level", 1)
    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(smooth_image(96, 128)).save(images / "a.png")
    sizes = {}
    for level in ("1", "9"):
        out = tmp_path / level
        result = runner.invoke(
            app,
            ["--png-compression", level, "predict", str(images), "-m", "simbench-teacher", "-o", str(out)],
        )
        assert result.exit_code == 0, result.output
        sizes[level] = (out / "a.png").stat().st_size
    assert sizes["9"] < sizes["1"]
    assert (
        np.asarray(Image.open(tmp_path / "1" / "a.png")) == np.asarray(Image.open(tmp_path / "9" / "a.png"))
    ).all()
