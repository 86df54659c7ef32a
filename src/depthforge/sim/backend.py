"""Choosing Mitsuba's variant: ``llvm_ad_rgb`` where it works, ``scalar_rgb`` otherwise.

The LLVM variant can abort the whole process on a machine whose libLLVM is too old, so it is
probed once in a child process before this process touches it.
"""

import functools
import os
import subprocess
import sys
from typing import Any

_PROBE = (
    "import mitsuba as mi; mi.set_variant('llvm_ad_rgb'); "
    "mi.render(mi.load_dict({'type': 'scene', 'sensor': {'type': 'perspective', "
    "'film': {'type': 'hdrfilm', 'width': 4, 'height': 4}}}))"
)


@functools.cache
def variant() -> str:
    """The variant this machine renders with (``DEPTHFORGE_MITSUBA_VARIANT`` overrides the probe)."""
    forced = os.environ.get("DEPTHFORGE_MITSUBA_VARIANT")
    if forced:
        return forced
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, timeout=120)
        return "llvm_ad_rgb" if probe.returncode == 0 else "scalar_rgb"
    except subprocess.TimeoutExpired:
        return "scalar_rgb"


def mitsuba():  # noqa: ANN201 - the mitsuba module, typed by itself
    """The ``mitsuba`` module, set to this machine's variant."""
    import mitsuba as mi

    mi.set_variant(variant())
    return mi


def load_scene(description: dict[str, Any]) -> Any:
    """A Mitsuba scene from its description, built the same way every time.

    Mitsuba's load-time optimisation merges shapes that share a material into one mesh, in an order
    that changes from load to load; the acceleration structure then breaks ties between touching
    surfaces differently, and a few per cent of a street scene's pixels changed between two renders
    of one seed. Merged shapes also lose their ids, which the ToM mask is read from.
    """
    return mitsuba().load_dict(description, optimize=False)
