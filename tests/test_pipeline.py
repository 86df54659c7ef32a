import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.cli.pipeline import AppCommands
from depthforge.pipeline import PipelineError, load_pipeline


def pipeline(tmp_path, teacher, iterations=2):
    work = tmp_path / "work"
    text = f"""
workdir: {work}
vars: {{teacher: {teacher}}}
stages:
  - name: render-train
    command: sim render
    args: {{family: street, conditions: day, n: 2, size: 48x32, spp: 2, out: "{{workdir}}/sim-train"}}
  - name: render-test
    command: sim render
    args: {{family: street, conditions: "day,fog", n: 1, seed: 9, size: 48x32, spp: 2,
           out: "{{workdir}}/sim-test"}}
  - name: label
    command: label
    args: {{inputs: ["{{workdir}}/sim-train/day/images"], model: "{{teacher}}", out: "{{workdir}}/data",
           device: cpu}}
  - name: generate
    command: generate
    args: {{dataset: "{{workdir}}/data", conditions: "night,fog", backend: physics, per_condition: 1,
           device: cpu}}
  - name: finetune
    command: finetune
    args: {{model: "{{teacher}}", data: "{{workdir}}/data", out: "{{workdir}}/run", iterations: {iterations},
           lr: 1.0e-4, batch_size: 2, size: 28, resume: true, set: [data.num_workers=0]}}
  - name: evaluate
    command: evaluate
    args: {{model: ["{{teacher}}", "{{workdir}}/run/student"], benchmark: generic,
           root: "{{workdir}}/sim-test", out: "{{workdir}}/eval", figures: 1, device: cpu}}
"""
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path, work


def test_run_executes_every_stage_then_skips_the_complete_ones(tiny_models, tmp_path):
    path, work = pipeline(tmp_path, tiny_models["depth-anything"])
    runner = CliRunner()
    first = runner.invoke(app, ["run", str(path)])
    assert first.exit_code == 0, first.output
    assert "6 stage(s) run" in first.output
    summary = json.loads((work / "eval" / "summary.json").read_text())
    assert set(summary["results"][str(work / "run" / "student")]) >= {"day", "fog"}
    second = runner.invoke(app, ["run", str(path)])
    assert (
        second.exit_code == 0
        and "0 stage(s) run" in second.output
        and second.output.count("complete, skipped") == 6
    )
    # A changed stage runs again, and so does everything after it; earlier stages stay skipped.
    path, _ = pipeline(tmp_path, tiny_models["depth-anything"], iterations=3)
    third = runner.invoke(app, ["run", str(path)])
    assert third.exit_code == 0, third.output
    assert "2 stage(s) run" in third.output and third.output.count("complete, skipped") == 4


def test_a_failing_stage_stops_the_pipeline(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        f"workdir: {tmp_path / 'w'}\nstages:\n  - name: bad\n    command: generate\n"
        f"    args: {{dataset: {tmp_path / 'none'}, conditions: night}}\n"
    )
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 1 and "stage bad failed (exit status 2)" in result.stderr


def test_malformed_pipelines(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("stages: []\n")
    with pytest.raises(PipelineError, match="needs 'workdir'"):
        load_pipeline(path, AppCommands())
    path.write_text("workdir: w\nstages:\n  - {name: a, command: label, args: {out: '{nope}'}}\n")
    with pytest.raises(PipelineError, match=r"p\.yaml: stage 'a': unknown variable 'nope'"):
        load_pipeline(path, AppCommands())
    path.write_text("workdir: w\nstages:\n  - [label, x]\n")
    with pytest.raises(PipelineError, match=r"p\.yaml: every stage needs a unique 'name' and a 'command'"):
        load_pipeline(path, AppCommands())


SHIPPED = [
    *sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")),
    Path(__file__).parents[1] / "src" / "depthforge" / "presets" / "demo.yaml",
    Path(__file__).parents[1] / "examples" / "first-hour.yaml",
]


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_name_real_commands_and_options(config):
    _, stages = load_pipeline(config, AppCommands())
    for stage in stages:
        # --help parses the whole command line without running anything: unknown options fail it.
        result = CliRunner().invoke(app, [*stage.argv, "--help"])
        assert result.exit_code == 0, (stage.name, result.output)


def test_every_stage_is_checked_before_the_first_runs(tmp_path):
    work = tmp_path / "w"
    path = tmp_path / "p.yaml"
    stages = [
        f"  - {{name: render, command: sim render, args: {{family: street, n: 1, out: {work}/sim}}}}",
        f"  - {{name: generate, command: generate, args: {{dataset: {work}/d, conditions: night, EXTRA}}}}",
    ]
    cases = {
        "per_conditon: 2": "stage 'generate': unknown key 'per_conditon' for `depthforge generate` "
        "(did you mean 'per_condition'?)",
        "steps: many": "stage 'generate': Invalid value for 'steps': ",
        "seed: 1, dataset_path: x": "stage 'generate': unknown key 'dataset_path' for `depthforge generate` "
        "(did you mean 'dataset'?)",
    }
    for extra, message in cases.items():
        path.write_text(f"workdir: {work}\nstages:\n{stages[0]}\n{stages[1].replace('EXTRA', extra)}\n")
        result = CliRunner().invoke(app, ["run", str(path)])
        assert result.exit_code == 1 and f"p.yaml: {message}" in result.stderr, result.output
        assert not work.exists()  # the render stage never ran


def test_keys_become_the_commands_arguments(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "workdir: w\nstages:\n"
        "  - {name: g, command: generate, args: {dataset: d, conditions: night, drop_inconsistent: false,"
        " consistency: false, channels_last: true, prompt: [a, b], model: null}}\n"
        "  - {name: l, command: label, args: {inputs: [x, y], model: m, out: o}}\n"
        "  - {name: s, command: sim render, args: {family: street, out: r}}\n"
    )
    with pytest.raises(PipelineError, match="unknown key 'model' for `depthforge generate`"):
        load_pipeline(path, AppCommands())
    path.write_text(path.read_text().replace(", model: null", ""))
    _, (generate, label, render) = load_pipeline(path, AppCommands())
    assert generate.argv == [
        "generate", "d", "--conditions", "night", "--no-consistency", "--channels-last",
        "--prompt", "a", "--prompt", "b",
    ]  # fmt: skip
    assert label.argv == ["label", "x", "y", "--model", "m", "--out", "o"]
    assert render.argv == ["sim", "render", "--family", "street", "--out", "r"]
