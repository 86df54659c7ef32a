"""Short preset names for the supported depth networks, and how a model name is resolved."""

from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path

from depthforge.depth.spaces import DepthSpace


@dataclass(frozen=True)
class Preset:
    """A hub model and the space of its output."""

    hub_id: str
    space: DepthSpace


_RELATIVE = DepthSpace.RELATIVE_INVERSE_DEPTH
_METRIC = DepthSpace.METRIC_DEPTH

PRESETS: dict[str, Preset] = {
    "dpt-large": Preset("Intel/dpt-large", _RELATIVE),
    "dpt-hybrid-midas": Preset("Intel/dpt-hybrid-midas", _RELATIVE),
    "zoedepth-nyu-kitti": Preset("Intel/zoedepth-nyu-kitti", _METRIC),
    **{
        f"depth-anything-{size}": Preset(f"LiheYoung/depth-anything-{size}-hf", _RELATIVE)
        for size in ("small", "base", "large")
    },
    **{
        f"depth-anything-v2-{size.lower()}": Preset(f"depth-anything/Depth-Anything-V2-{size}-hf", _RELATIVE)
        for size in ("Small", "Base", "Large")
    },
    **{
        f"depth-anything-v2-metric-{scene.lower()}-{size.lower()}": Preset(
            f"depth-anything/Depth-Anything-V2-Metric-{scene}-{size}-hf", _METRIC
        )
        for scene in ("Indoor", "Outdoor")
        for size in ("Small", "Base", "Large")
    },
}


BUNDLED = {"simbench-teacher": Path(__file__).parent / "assets" / "simbench-teacher"}
"""Models shipped inside the package (no download): the SimBench teacher, trained on rendered day
scenes by ``scripts/train_sim_teacher.py``."""


def resolve(name: str) -> tuple[str, DepthSpace | None]:
    """A preset name, local folder or hub id -> what ``from_pretrained`` loads, and the known space.

    A local folder wins over a preset of the same name; anything else is passed on as a hub id,
    except a path that does not exist and a near miss of a preset name (ValueError: did you mean).
    """
    if Path(name).is_dir():
        return name, None
    if name.startswith((".", "/", "~")):
        raise ValueError(f"{name}: no such folder")
    known = [*BUNDLED, *PRESETS]
    if "/" not in name and name not in known and (close := get_close_matches(name, known, n=1, cutoff=0.8)):
        raise ValueError(f"unknown model '{name}': did you mean '{close[0]}'?")
    if name in BUNDLED:
        return str(BUNDLED[name]), DepthSpace.RELATIVE_INVERSE_DEPTH
    if name in PRESETS:
        return PRESETS[name].hub_id, PRESETS[name].space
    return name, None
