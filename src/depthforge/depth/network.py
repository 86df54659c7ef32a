"""Depth networks that are not `transformers` models: any torch module, named by its factory.

A factory is a function with no arguments that returns a ``Network``: the module (normalised
``pixel_values [B, 3, h, w]`` -> depth ``[B, h, w]`` or ``[B, 1, h, w]``), the preprocessing its
input needs, and the space of its output. It is named as ``package.module:factory``, as
``path/to/file.py:factory``, or by a name that a package registers in the ``depthforge.models``
entry-point group. A network saved by depthforge (a fine-tuned student) is a folder with its
weights (``model.safetensors``) and ``depthforge_network.json`` naming the factory and the space;
any stage loads it back. Weights may also be a plain state dict (``torch.load(weights_only=True)``).
"""

import importlib
import importlib.util
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from depthforge.depth.preprocess import Preprocessing
from depthforge.depth.spaces import DepthSpace

ENTRY_POINTS = "depthforge.models"
SAVED = "depthforge_network.json"
WEIGHTS = "model.safetensors"
FACTORY = re.compile(r"(?P<module>[\w./-]+?):(?P<function>\w+)")
BUILTIN = {
    "monodepth2-resnet18": "depthforge.depth.monodepth2:monodepth2_resnet18",
    "md4all-resnet18": "depthforge.depth.monodepth2:md4all_resnet18",
    "md4all-resnet50": "depthforge.depth.monodepth2:md4all_resnet50",
}
"""Networks built into depthforge, by name (``depth/monodepth2.py``)."""


class NetworkError(ValueError):
    """A factory cannot be found or called, or weights do not fit its module."""


@dataclass
class Network:
    """What a factory returns."""

    module: nn.Module
    preprocessing: Preprocessing
    space: DepthSpace


def is_factory(name: str) -> bool:
    """Whether ``name`` names a factory (``module:function``), a built-in or a registered network."""
    return bool(FACTORY.fullmatch(name)) or name in BUILTIN or name in _registered()


def is_saved(folder: str | Path) -> bool:
    return (Path(folder) / SAVED).is_file()


def _registered() -> dict[str, Callable[[], Network]]:
    return {point.name: point for point in entry_points(group=ENTRY_POINTS)}  # type: ignore[misc]


def _factory(name: str) -> Callable[[], Network]:
    if name in (registered := _registered()):
        return registered[name].load()  # type: ignore[attr-defined]
    match = FACTORY.fullmatch(BUILTIN.get(name, name))
    if match is None:
        raise NetworkError(f"'{name}' names no factory: expected package.module:factory or file.py:factory")
    module_name, function = match["module"], match["function"]
    try:
        if module_name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(module_name).stem, module_name)
            if spec is None or spec.loader is None:
                raise ImportError(f"no such file {module_name}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        return getattr(module, function)
    except (ImportError, AttributeError, FileNotFoundError) as error:
        raise NetworkError(f"cannot find the network factory '{name}': {error}") from error


def build(name: str) -> Network:
    """The network a factory makes (weights as the factory leaves them)."""
    network = _factory(name)()
    if not isinstance(network, Network):
        raise NetworkError(f"the factory '{name}' returned a {type(network).__name__}, not a Network")
    return network


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file or of a plain (or Lightning ``state_dict``) checkpoint."""
    path = Path(path)
    try:
        state = load_file(path) if path.suffix == ".safetensors" else torch.load(path, weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as error:
        raise NetworkError(f"{path}: cannot read weights ({error})") from error
    return state.get("state_dict", state) if isinstance(state, dict) else state


def check_state(module: nn.Module, state: dict[str, torch.Tensor], source: str, prefix: str = "") -> None:
    """Every key of ``module`` is in ``state`` with its shape, and nothing else; the first mismatch is
    named as the checkpoint ``source`` spells it (``prefix`` + key)."""
    own = module.state_dict()
    for key, value in own.items():
        if key not in state:
            raise NetworkError(f"{source}: missing key '{prefix}{key}'")
        if tuple(state[key].shape) != tuple(value.shape):
            shapes = f"{tuple(state[key].shape)}, the module {tuple(value.shape)}"
            raise NetworkError(f"{source}: '{prefix}{key}' has shape {shapes}")
    if unexpected := sorted(set(state) - set(own)):
        raise NetworkError(f"{source}: unexpected key '{prefix}{unexpected[0]}' ({len(unexpected)} in all)")


def load_weights(module: nn.Module, path: str | Path) -> None:
    """Weights from a safetensors file or a plain state dict, all keys and shapes checked; the first
    mismatch is named."""
    state = read_state(path)
    check_state(module, state, str(path))
    module.load_state_dict(state)


def save(name: str, network: Network, folder: str | Path) -> None:
    """The weights and the factory's name, so that ``load`` rebuilds the same network."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if (match := FACTORY.fullmatch(name)) and match["module"].endswith(".py"):
        name = f"{Path(match['module']).resolve()}:{match['function']}"  # loadable from anywhere
    state = {key: value.detach().contiguous().cpu() for key, value in network.module.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    (folder / SAVED).write_text(json.dumps({"factory": name, "space": network.space.value}, indent=2))


def load(folder: str | Path) -> tuple[str, Network]:
    """The factory's name and its network with the saved weights."""
    folder = Path(folder)
    try:
        saved = json.loads((folder / SAVED).read_text())
        name = saved["factory"]
    except (OSError, ValueError, KeyError) as error:
        raise NetworkError(f"{folder / SAVED}: unreadable ({error})") from error
    network = build(name)
    load_weights(network.module, folder / WEIGHTS)
    network.space = DepthSpace(saved.get("space", network.space.value))
    return name, network
