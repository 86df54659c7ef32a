import torch
from torch import nn

from depthforge.train.ema import WeightAverage


def test_the_average_follows_the_weights_and_is_applied_only_inside_its_block():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    average = WeightAverage(model, decay=0.75)
    with torch.no_grad():
        model[0].weight.add_(4.0)
    average.update(model)
    expected = start["0.weight"] + 0.25 * 4.0
    assert torch.allclose(average.state_dict()["0.weight"], expected)
    assert "1.num_batches_tracked" not in average.state_dict()  # integers are not averaged
    trained = model[0].weight.detach().clone()
    with average.applied(model):
        assert torch.allclose(model[0].weight, expected)
    assert torch.equal(model[0].weight, trained)


def test_finetune_saves_the_average(tiny_models, distill_set, tmp_path):
    from safetensors.torch import load_file

    from depthforge.config import load_config
    from depthforge.train.finetune import finetune
    from tests.conftest import run_config

    def trained(decay: float | None) -> dict[str, torch.Tensor]:
        config = run_config(
            tiny_models["depth-anything"], distill_set, optim={"iterations": 4, "ema_decay": decay}
        )
        finetune(load_config([], [config]), tmp_path / str(decay))
        return load_file(str(tmp_path / str(decay) / "student" / "model.safetensors"))

    teacher = load_file(str(tiny_models["depth-anything"] / "model.safetensors"))
    plain, slow = trained(None), trained(0.999999)
    changed = [k for k in teacher if teacher[k].is_floating_point() and not torch.equal(teacher[k], plain[k])]
    assert changed  # training moved the weights; an average that barely moves stays at the start
    assert all(torch.allclose(slow[k], teacher[k], atol=1e-5) for k in changed)
    assert not all(torch.allclose(plain[k], teacher[k], atol=1e-5) for k in changed)
