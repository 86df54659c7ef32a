"""Prompt banks: per condition, prompts to draw from and a negative prompt, loaded from YAML."""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from depthforge.io import YamlReadError, read_yaml

DEFAULTS_KEY = "_defaults"


class PromptBankError(ValueError):
    """A prompt bank file or condition is unusable."""


@dataclass(frozen=True)
class PromptBank:
    """Prompts of one condition, and the negative prompt that goes with them."""

    condition: str
    prompts: tuple[str, ...]
    negative: str = ""

    def draw(self, rng: np.random.Generator) -> str:
        return self.prompts[int(rng.integers(len(self.prompts)))]


def _parse(document: object, origin: str) -> dict[str, PromptBank]:
    if not isinstance(document, dict):
        raise PromptBankError(f"{origin}: expected a mapping of condition -> {{prompts, negative}}")
    default_negative = str((document.get(DEFAULTS_KEY) or {}).get("negative", ""))
    banks = {}
    for condition, entry in document.items():
        if condition == DEFAULTS_KEY:
            continue
        prompts = entry.get("prompts") if isinstance(entry, dict) else None
        if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
            raise PromptBankError(f"{origin}: condition '{condition}' has no prompts")
        negative = str(entry.get("negative", default_negative))
        banks[str(condition)] = PromptBank(str(condition), tuple(prompts), negative)
    return banks


def load_banks(extra_files: list[Path] = (), free_prompts: list[str] = ()) -> dict[str, PromptBank]:
    """The built-in banks, then each file's banks (a condition in a file replaces the built-in one),
    then free prompts ``"condition: prompt text"`` added to their condition (creating it if new)."""
    text = resources.files("depthforge.generate").joinpath("prompt_banks.yaml").read_text()
    banks = _parse(yaml.safe_load(text), "built-in prompt banks")
    for path in extra_files:
        try:
            document = read_yaml(path, "prompt bank")
        except YamlReadError as error:
            raise PromptBankError(str(error)) from error
        banks.update(_parse(document, str(path)))
    for entry in free_prompts:
        condition, sep, prompt = entry.partition(":")
        if not sep or not condition.strip() or not prompt.strip():
            raise PromptBankError(f"free prompt must look like 'condition: text', got '{entry}'")
        name = condition.strip()
        old = banks.get(name, PromptBank(name, ()))
        banks[name] = PromptBank(name, (*old.prompts, prompt.strip()), old.negative)
    return banks


def select(banks: dict[str, PromptBank], conditions: list[str]) -> list[PromptBank]:
    """The banks of ``conditions``, in order; an unknown condition raises, naming the known ones."""
    unknown = [c for c in conditions if c not in banks]
    if unknown:
        raise PromptBankError(f"unknown condition(s) {', '.join(unknown)}; known: {', '.join(sorted(banks))}")
    return [banks[c] for c in conditions]
