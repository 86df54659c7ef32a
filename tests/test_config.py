import pytest

from depthforge.config import ConfigError, changed_settings, load_config, parse_assignment

PAPER = {
    "paper-dpt": ("dpt-large", 30000, 1e-6, 25000, 8, 384),
    "paper-midas": ("dpt-hybrid-midas", 30000, 1e-6, 25000, 8, 384),
    "paper-zoedepth": ("zoedepth-nyu-kitti", 30000, 1e-6, 25000, 3, 384),
    "paper-depth-anything": ("depth-anything-large", 5000, 1e-6, 4500, 8, 518),
}


@pytest.mark.parametrize("preset", list(PAPER))
def test_presets_hold_the_papers_hyper_parameters(preset):
    config = load_config([preset], [])
    optim = config.optim
    assert (
        config.model,
        optim.iterations,
        optim.lr,
        optim.lr_drop_at,
        optim.batch_size,
        config.geometry.size,
    ) == (PAPER[preset])
    assert optim.lr_drop_factor == 0.1


def test_yaml_and_overrides_merge_key_by_key(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: paper-depth-anything\noptim:\n  iterations: 100\ndata:\n  easy_fraction: 0.3\n")
    config = load_config([str(path)], [parse_assignment("optim.lr=2e-6"), {"model": "my/model"}])
    assert config.optim.iterations == 100 and config.optim.lr == 2e-6 and config.optim.lr_drop_at == 4500
    assert config.model == "my/model" and config.data.easy_fraction == 0.3


def test_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"optim\.lr: Input should be greater than 0"):
        load_config(["paper-dpt"], [parse_assignment("optim.lr=-1")])
    with pytest.raises(ConfigError, match=r"optim\.bogus: Extra inputs are not permitted"):
        load_config(["paper-dpt"], [parse_assignment("optim.bogus=1")])
    with pytest.raises(ConfigError, match="unknown preset 'paper-x'"):
        load_config(["paper-x"], [])
    with pytest.raises(ConfigError, match=r"multiple of optim\.grad_accumulation"):
        load_config(["paper-dpt"], [parse_assignment("optim.grad_accumulation=3")])
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment("optim.lr")


def test_changed_settings_name_each_one_that_resume_refuses():
    run = load_config(["paper-dpt"], [])
    sets = ["optim.lr=2e-6", "optim.iterations=40000", "augment.hue=0.1", "log_every=5", "model=my/dpt"]
    given = load_config(["paper-dpt"], [parse_assignment(a) for a in sets])
    assert changed_settings(run, given) == [
        "augment.hue: 0.02 (run) -> 0.1 (given)",
        'model: "dpt-large" (run) -> "my/dpt" (given)',
        "optim.lr: 1e-6 (run) -> 2e-6 (given)",
    ]
    assert (
        changed_settings(run, load_config(["paper-dpt"], [parse_assignment("optim.grad_accumulation=2")]))
        == []
    )
