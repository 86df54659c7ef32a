import json
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from depthforge.cli import app
from depthforge.data.dataset import DatasetFolder
from depthforge.depth import network
from depthforge.depth.model import DepthModel, FactoryDepthModel, ModelLoadError
from tests.conftest import smooth_image, write_scenes
from tests.evaluate.fixtures import write_generic

ROOT = Path(__file__).parents[2]
EXAMPLE = "examples/my_depth_net.py:tiny_depth"
runner = CliRunner()


def test_a_factory_network_predicts_saves_and_reloads(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the example is named from the repository's root
    model = DepthModel.from_pretrained(EXAMPLE)
    assert isinstance(model, FactoryDepthModel) and model.space.value == "relative_inverse_depth"
    image = smooth_image(40, 60)
    depth = model.predict([image])[0]
    assert depth.shape == (40, 60) and np.isfinite(depth).all()
    with torch.no_grad():
        for parameter in model.net.parameters():
            parameter.add_(0.01)  # "fine-tuned": the saved weights, not the factory's, must come back
    changed = model.predict([image])[0]
    model.save_pretrained(tmp_path / "student")
    monkeypatch.chdir(tmp_path)  # the saved factory is found from anywhere
    again = DepthModel.from_pretrained(str(tmp_path / "student"))
    assert np.array_equal(again.predict([image])[0], changed) and not np.array_equal(changed, depth)


def test_weights_are_checked_key_by_key(tmp_path):
    built = network.build(str(ROOT / EXAMPLE))
    state = built.module.state_dict()
    torch.save(state, tmp_path / "plain.pt")
    network.load_weights(built.module, tmp_path / "plain.pt")  # a plain state dict loads
    torch.save({**state, "layers.0.weight": torch.zeros(8, 3, 3, 3)}, tmp_path / "wrong.pt")
    with pytest.raises(network.NetworkError, match=r"'layers.0.weight' has shape \(8, 3, 3, 3\), the module"):
        network.load_weights(built.module, tmp_path / "wrong.pt")
    torch.save({k: v for k, v in state.items() if k != "layers.4.bias"}, tmp_path / "short.pt")
    with pytest.raises(network.NetworkError, match=r"missing key 'layers\.4\.bias'"):
        network.load_weights(built.module, tmp_path / "short.pt")
    torch.save({**state, "head.weight": torch.zeros(1)}, tmp_path / "long.pt")
    with pytest.raises(network.NetworkError, match=r"unexpected key 'head\.weight'"):
        network.load_weights(built.module, tmp_path / "long.pt")
    with pytest.raises(ModelLoadError, match=r"cannot find the network factory 'nowhere\.at_all:net'"):
        DepthModel.from_pretrained("nowhere.at_all:net")


def test_a_package_registers_its_network_by_entry_point(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    point = EntryPoint("tiny", "examples.my_depth_net:tiny_depth", network.ENTRY_POINTS)
    monkeypatch.setattr(
        network, "entry_points", lambda group: [point] if group == network.ENTRY_POINTS else []
    )
    assert isinstance(DepthModel.from_pretrained("tiny"), FactoryDepthModel)


@pytest.mark.parametrize(("model", "other"), [(EXAMPLE, "md4all-resnet18"), ("md4all-resnet18", EXAMPLE)])
def test_the_method_end_to_end_with_a_network_of_ones_own(tmp_path, monkeypatch, model, other):
    """One network labels and is fine-tuned, the other conditions the generator; all through `run`."""
    monkeypatch.chdir(ROOT)
    scenes, bench = write_scenes(tmp_path / "easy", {}, count=3), write_generic(tmp_path / "bench", count=1)
    work = tmp_path / "work"
    stages = {
        "predict": ("predict", {"inputs": [str(scenes)], "model": model, "out": "{workdir}/depth"}),
        "label": ("label", {"inputs": [str(scenes)], "model": model, "out": "{workdir}/data"}),
        "generate": ("generate", {"dataset": "{workdir}/data", "conditions": "night,fog", "per_condition": 1,
                                  "backend": "physics", "condition_model": other}),
        "finetune": ("finetune", {"model": model, "preset": "paper-depth-anything", "data": "{workdir}/data",
                                  "out": "{workdir}/run", "iterations": 2, "batch_size": 2, "size": 28,
                                  "set": ["data.num_workers=0"]}),
        "evaluate": ("evaluate", {"model": [model, "{workdir}/run/student"], "benchmark": "generic",
                                  "root": str(bench), "out": "{workdir}/eval", "figures": 0}),
    }  # fmt: skip
    document = {
        "workdir": str(work),
        "stages": [{"name": n, "command": c, "args": a} for n, (c, a) in stages.items()],
    }
    (tmp_path / "run.yaml").write_text(json.dumps(document))
    result = runner.invoke(app, ["run", str(tmp_path / "run.yaml")])
    assert result.exit_code == 0, result.output
    data = DatasetFolder(work / "data")
    assert (work / "run" / "student" / network.SAVED).is_file() and len(
        list((work / "depth").glob("*.npy"))
    ) == 3
    assert len(data.labels()) == 3 and len(data.generated()) == 6
    assert all(row["conditioning"]["depth"].startswith("conditions/") for row in data.generated())
    summary = json.loads((work / "eval" / "summary.json").read_text())
    assert set(summary["results"]) == {model, str(work / "run" / "student")}


def test_a_network_of_ones_own_has_no_paper_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    finetune = runner.invoke(
        app, ["finetune", "--model", EXAMPLE, "--data", str(tmp_path), "--out", str(tmp_path / "r")]
    )
    assert (
        finetune.exit_code == 2 and "network of your own: name its settings with --preset" in finetune.stderr
    )
