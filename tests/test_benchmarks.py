"""Every script in benchmarks/ runs at a tiny size, so that none can rot: these check that the
scripts work, not what they measure."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from depthforge.cli import app

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def run(script: str, *args: str) -> str:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(BENCHMARKS / script), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_every_benchmark_has_a_smoke_test():
    tested = {"generation_throughput", "train_throughput", "preprocess_agreement", "durability"}
    tested |= {"kill_campaign", "simbench_seeds", "simbench_variants", "label_throughput"}
    assert {p.stem for p in BENCHMARKS.glob("*.py")} == tested


def test_generation_throughput(tmp_path):
    out = run(
        "generation_throughput.py",
        "--tiny",
        "--images",
        "2",
        "--batch-size",
        "2",
        "--size",
        "32",
        "--steps",
        "2",
        "--work",
        str(tmp_path),
        "--cache-interval",
        "2",
        "--scheduler",
        "unipc",
        "--fast-steps",
        "3",
    )
    assert "fast path: cache interval 2, unipc at 3 steps" in out and "speed-up" in out


def test_train_throughput(tmp_path):
    out = run(
        "train_throughput.py",
        "--tiny",
        "--images",
        "2",
        "--steps",
        "2",
        "--size",
        "28",
        "--workers",
        "0",
        "--work",
        str(tmp_path),
    )
    assert "samples/s" in out


def test_label_throughput(tmp_path):
    out = run(
        "label_throughput.py",
        "--tiny",
        "--images",
        "2",
        "--height",
        "60",
        "--width",
        "80",
        "--repeats",
        "1",
        "--work",
        str(tmp_path),
    )
    assert "speed-up" in out


def test_preprocess_agreement():
    assert "levels" in run("preprocess_agreement.py", "1")


def test_durability(tmp_path):
    out = run("durability.py", "--workdir", str(tmp_path), "--images", "1", "--repeats", "1")
    assert "durable / not durable" in out


def test_kill_campaign(tmp_path):
    out = run("kill_campaign.py", "--tiny", "--kills", "1", "--workdir", str(tmp_path))
    rows = [line for line in out.splitlines() if line.startswith("| ") and "stage" not in line]
    assert len(rows) == 4 and all(row.endswith("| yes |") for row in rows), out


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory) -> Path:
    """A `depthforge demo` work folder at a tiny size: every stage of demo.yaml, shrunk."""
    from importlib import resources

    workdir = tmp_path_factory.mktemp("demo")
    document = yaml.safe_load(resources.files("depthforge").joinpath("presets/demo.yaml").read_text())
    document["workdir"] = str(workdir)
    shrink = {
        "n": 2,
        "size": "28x28",
        "spp": 1,
        "iterations": 2,
        "batch_size": 2,
        "per_condition": 1,
        "figures": 0,
    }
    for stage in document["stages"]:
        args = stage.get("args", {})
        args.update({key: value for key, value in shrink.items() if key in args})
        if stage["command"] == "finetune":
            args["size"] = 28
            args["set"] = [s for s in args["set"] if not s.startswith("data.num_workers")] + [
                "data.num_workers=0"
            ]
    (workdir / "demo.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    result = CliRunner().invoke(app, ["run", str(workdir / "demo.yaml")])
    assert result.exit_code == 0, result.output
    return workdir


def test_simbench_seeds(tiny_demo):
    out = run("simbench_seeds.py", str(tiny_demo))
    assert "| street | night |" in out and "ToM gap" in out


def test_simbench_variants(tiny_demo, tmp_path):
    out = run("simbench_variants.py", str(tiny_demo), "--variant", "demo", "--out", str(tmp_path))
    assert "demo (1 roots)" in out and "street night" in out
