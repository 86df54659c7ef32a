import numpy as np
import pytest

from depthforge.generate.prompts import PromptBankError, load_banks, select


def test_built_in_banks_cover_the_conditions():
    banks = load_banks()
    for condition in ["night", "rain", "fog", "snow", "dusk", "flooded", "transparent", "mirror"]:
        assert banks[condition].prompts and banks[condition].negative
    assert "Snowy town street with cars" in banks["snow"].prompts


def test_draw_depends_only_on_the_generator():
    bank = load_banks()["night"]
    draws = [bank.draw(np.random.default_rng(seed)) for seed in range(20)]
    assert draws == [bank.draw(np.random.default_rng(seed)) for seed in range(20)]
    assert len(set(draws)) > 1


def test_user_bank_overrides_and_adds(tmp_path):
    path = tmp_path / "bank.yaml"
    path.write_text(
        "night:\n  prompts: ['my night']\nsandstorm:\n  prompts: ['a sandstorm']\n  negative: clear\n"
    )
    banks = load_banks([path], ["sandstorm: orange dust over a road", "hail: hail on cars"])
    assert banks["night"].prompts == ("my night",)
    assert banks["sandstorm"].prompts == ("a sandstorm", "orange dust over a road")
    assert banks["sandstorm"].negative == "clear"
    assert banks["hail"].prompts == ("hail on cars",)


def test_empty_bank_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("night:\n  prompts: []\n")
    with pytest.raises(PromptBankError, match=r"empty\.yaml: condition 'night' has no prompts"):
        load_banks([path])


def test_unknown_condition_names_the_known_ones():
    with pytest.raises(PromptBankError, match=r"unknown condition.*volcano.*known: dusk"):
        select(load_banks(), ["night", "volcano"])


def test_malformed_free_prompt():
    with pytest.raises(PromptBankError, match="condition: text"):
        load_banks([], ["no separator here"])
