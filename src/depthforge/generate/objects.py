"""generate-objects: the paper's route to transparent and mirror training data.

Stable Diffusion draws Lambertian (opaque, matte) object scenes from an object x material x setting
bank; the teacher labels them as easy images (their rows record how they were made); the generate
stage then turns them transparent or mirror-like with the material prompt banks.
"""

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from depthforge.data.dataset import LABEL_STAGE, DatasetFolder
from depthforge.data.manifest import Row
from depthforge.depth.model import DepthModel
from depthforge.generate.diffusion import DiffusionGenerator
from depthforge.generate.seeds import numpy_rng, sample_seed
from depthforge.jobs import WHOLE, ItemError, JobSummary, Shard, check_settings, run_job
from depthforge.label import label_row, teacher_settings

OBJECT_PREFIX = "objects/"


@dataclass(frozen=True)
class ObjectBank:
    template: str
    negative: str
    objects: tuple[str, ...]
    materials: tuple[str, ...]
    settings: tuple[str, ...]

    @classmethod
    def load(cls, path: Path | None = None) -> "ObjectBank":
        """The built-in bank, or the one in ``path`` (same keys); an empty list raises naming the file."""
        origin = str(path) if path else "built-in object bank"
        if path:
            text = Path(path).read_text()
        else:
            text = resources.files("depthforge.generate").joinpath("object_bank.yaml").read_text()
        document = yaml.safe_load(text) or {}
        for key in ("objects", "materials", "settings"):
            if not document.get(key):
                raise ValueError(f"{origin}: '{key}' is empty")
        return cls(
            str(document.get("template", "a {material} {object} {setting}")),
            str(document.get("negative", "")),
            *(tuple(map(str, document[key])) for key in ("objects", "materials", "settings")),
        )

    def draw(self, rng: np.random.Generator) -> str:
        pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
        return self.template.format(
            object=pick(self.objects), material=pick(self.materials), setting=pick(self.settings)
        )


@dataclass(frozen=True)
class ObjectScene:
    id: str
    seed: int
    prompt: str


def plan_scenes(count: int, bank: ObjectBank, base_seed: int) -> list[ObjectScene]:
    scenes = []
    for index in range(count):
        scene_id = f"{OBJECT_PREFIX}{index:06d}"
        seed = sample_seed(base_seed, scene_id)
        scenes.append(ObjectScene(scene_id, seed, bank.draw(numpy_rng(sample_seed(seed, "prompt")))))
    return scenes


def make_object_scenes(
    dataset: DatasetFolder,
    generator: DiffusionGenerator,
    teacher: DepthModel,
    scenes: list[ObjectScene],
    negative_prompt: str,
    settings: dict[str, Any],
    shard: Shard = WHOLE,
    report: Callable[[str], None] = print,
) -> JobSummary:
    """Draw each scene with text-to-image, label it with the teacher, add it to the dataset's easy images.

    ``settings`` (the seed, the bank), with the generator's and the teacher, must be those of the
    scenes already there."""
    started = any(row["id"].startswith(OBJECT_PREFIX) for row in dataset.labels())
    decisive = {**generator.describe(), "teacher": teacher.name, **settings}
    check_settings(dataset.manifest, "generate-objects", decisive, started)
    size = (generator.resolution, generator.resolution)

    def process(batch: list[ObjectScene]) -> list[Row | ItemError]:
        images = generator.text_to_image(
            [s.prompt for s in batch], negative_prompt, [s.seed for s in batch], size
        )
        made = [(s, image) for s, image in zip(batch, images, strict=True) if image is not None]
        depths = teacher.predict([image for _, image in made], generator.batch_size)
        origin = {
            "backend": "text-to-image",
            "model": generator.base_model,
            "negative_prompt": negative_prompt,
            "steps": generator.settings.steps,
            "guidance_scale": generator.settings.guidance_scale,
        }
        rows: list[Row | ItemError] = [
            {
                **label_row(dataset, s.id, image, depth, teacher.space, teacher.name),
                "source": "text-to-image",
                "origin": {**origin, "prompt": s.prompt, "seed": s.seed},
            }
            for (s, image), depth in zip(made, depths, strict=True)
        ]
        flagged = [s for s, image in zip(batch, images, strict=True) if image is None]
        return rows + [
            ItemError(f"{s.id}: flagged by the safety checker with every seed tried; not kept")
            for s in flagged
        ]

    settings = teacher_settings(teacher)
    return run_job(
        scenes, dataset.manifest, LABEL_STAGE, shard, process, generator.batch_size, report, settings=settings
    )
