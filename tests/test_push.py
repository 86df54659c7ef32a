from typer.testing import CliRunner

from depthforge.cli import app

runner = CliRunner()


def push(*args):
    return runner.invoke(app, ["push", *map(str, args)])


def test_a_dry_run_lists_what_a_push_uploads(distill_set, tiny_models, tmp_path):
    (distill_set.root / "generate.log").write_text("log\n")
    (distill_set.root / ".hard.host.1.abc.tmp").write_text("half")
    result = push(distill_set.root, "me/robust-data", "--dry-run")
    assert result.exit_code == 0, result.output
    listed = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert "labels/e0.npy" in listed and any(name.startswith("hard/night/") for name in listed)
    assert not any(name.endswith((".log", ".lock", ".tmp")) for name in listed)
    assert "to dataset repository me/robust-data" in result.stdout
    model = push(tiny_models["dpt"], "me/student", "--dry-run")
    assert model.exit_code == 0 and "config.json" in model.stdout and "to model repository" in model.stdout


def test_what_cannot_be_pushed_is_one_line(tmp_path, tiny_models):
    assert "neither a depthforge dataset" in push(tmp_path, "me/x").stderr
    offline = push(tiny_models["dpt"], "me/student")  # HF_HUB_OFFLINE=1 in the tests
    assert offline.exit_code == 1 and len(offline.stderr.splitlines()) == 1
    assert "cannot push" in offline.stderr and "the hub cannot be reached" in offline.stderr
