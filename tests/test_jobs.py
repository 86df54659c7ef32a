import json

import pytest

from depthforge.jobs import SettingsMismatch, check_settings


def test_settings_are_recorded_then_checked(tmp_path):
    check_settings(tmp_path, "render", {"seed": 3, "size": (32, 24)})
    assert json.loads((tmp_path / "render.settings.json").read_text()) == {"seed": 3, "size": [32, 24]}
    check_settings(tmp_path, "render", {"size": [32, 24], "seed": 3})  # same settings: resumes
    with pytest.raises(SettingsMismatch, match=r"seed 3 -> 4; size \[32, 24\] -> None"):
        check_settings(tmp_path, "render", {"seed": 4})
    check_settings(tmp_path, "label", {"teacher": "x"})  # each stage has its own record
