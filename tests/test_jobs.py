import json

import pytest

from depthforge.jobs import SettingsMismatch, check_settings


def test_settings_are_recorded_then_checked_once_work_started(tmp_path):
    check_settings(tmp_path, "render", {"seed": 3, "size": (32, 24)}, started=False)
    assert json.loads((tmp_path / "render.settings.json").read_text()) == {"seed": 3, "size": [32, 24]}
    check_settings(tmp_path, "render", {"size": [32, 24], "seed": 3}, started=True)  # same: resumes
    with pytest.raises(SettingsMismatch, match=r"seed 3 -> 4; size \[32, 24\] -> None.*render-\*\.jsonl"):
        check_settings(tmp_path, "render", {"seed": 4}, started=True)
    check_settings(tmp_path, "label", {"teacher": "x"}, started=True)  # each stage has its own record


def test_a_record_with_no_work_behind_it_is_replaced(tmp_path):
    check_settings(tmp_path, "render", {"seed": 3}, started=False)  # e.g. a run that failed at once
    check_settings(tmp_path, "render", {"seed": 4}, started=False)
    assert json.loads((tmp_path / "render.settings.json").read_text()) == {"seed": 4}
    assert [p.name for p in tmp_path.iterdir()] == ["render.settings.json"]  # no temporary left
