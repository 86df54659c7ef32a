"""The generate stage: for each easy image and condition, K hard images that share its label."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthforge.data.dataset import GENERATE_STAGE, DatasetFolder
from depthforge.data.manifest import Row
from depthforge.depth.model import DepthModel
from depthforge.depth.spaces import DepthSpace
from depthforge.generate.consistency import score_by_space
from depthforge.generate.prompts import PromptBank
from depthforge.generate.request import Generated, Generator, Request
from depthforge.generate.seeds import numpy_rng, sample_seed
from depthforge.io import ImageReadError, read_object_map, read_rgb, save_npy, save_png
from depthforge.jobs import WHOLE, Finish, ItemError, JobSummary, Results, Shard, run_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """One hard image to make; everything random about it follows from ``seed``."""

    id: str
    easy: Row
    condition: str
    index: int
    seed: int
    prompt: str
    negative_prompt: str


def plan_samples(
    labels: list[Row],
    conditions: list[str],
    per_condition: int,
    base_seed: int,
    banks: dict[str, PromptBank] | None = None,
) -> list[Sample]:
    """Every (easy image, condition, k) sample, in a fixed order, with its seed and prompt.

    Without ``banks`` (the physics backend) samples have no prompt.
    """
    samples = []
    for easy in labels:
        for condition in conditions:
            for index in range(per_condition):
                sample_id = f"{condition}/{easy['id']}-{index}"
                seed = sample_seed(base_seed, sample_id)
                bank = banks[condition] if banks else None
                prompt = bank.draw(numpy_rng(sample_seed(seed, "prompt"))) if bank else ""
                negative = bank.negative if bank else ""
                samples.append(Sample(sample_id, easy, condition, index, seed, prompt, negative))
    return samples


@dataclass
class Consistency:
    """Score generated images with the teacher; flag, or drop, those above ``max_inconsistency``."""

    teacher: DepthModel
    max_inconsistency: float | None = None
    drop: bool = False


def _slug(name: str) -> str:
    return name.strip("/").replace("/", "--")


@dataclass(frozen=True)
class Inputs:
    """A sample's easy image, its label, its object map (if it has one) and, when the label
    conditions it, its request already prepared on the reader thread."""

    image: np.ndarray
    label: np.ndarray
    objects: np.ndarray | None
    request: Request | None = None


class GenerateJob:
    """Processes batches of samples: read inputs, generate, score, write images and rows."""

    def __init__(
        self,
        dataset: DatasetFolder,
        generator: Generator,
        batch_size: int,
        condition_model: DepthModel | None = None,
        consistency: Consistency | None = None,
    ) -> None:
        self.dataset, self.generator, self.batch_size = dataset, generator, batch_size
        self.condition_model, self.consistency = condition_model, consistency
        self.description = generator.describe()

    def _read(self, sample: Sample) -> Inputs:
        """The easy image, its label and its object map (if it has one), checked against each other;
        the prepared request too when the label is the conditioning depth."""
        image_path = self.dataset.root / sample.easy["image"]
        label_path = self.dataset.root / sample.easy["label"]
        try:
            image = read_rgb(image_path)
        except (ImageReadError, OSError) as error:
            raise ItemError(f"{sample.id}: {error}") from error
        try:
            label = np.load(label_path)
        except (OSError, ValueError) as error:
            raise ItemError(f"{label_path}: cannot read label ({error})") from error
        if label.shape != image.shape[:2]:
            raise ItemError(
                f"{label_path}: label is {label.shape[0]}x{label.shape[1]} but its image {image_path} is "
                f"{image.shape[0]}x{image.shape[1]}"
            )
        objects = None
        if sample.easy.get("objects"):
            objects = read_object_map(self.dataset.root / sample.easy["objects"], image.shape[:2])
        if self.condition_model is not None:
            return Inputs(image, label, objects)
        space = DepthSpace(sample.easy["label_space"])
        return Inputs(image, label, objects, self._request(sample, image, label, space, objects))

    def _request(
        self,
        sample: Sample,
        image: np.ndarray,
        depth: np.ndarray,
        space: DepthSpace,
        objects: np.ndarray | None,
    ) -> Request:
        request = Request(
            image, depth, space, sample.condition, sample.prompt, sample.negative_prompt, sample.seed, objects
        )
        return self.generator.prepare(request)

    def _modelled_requests(self, samples: list[Sample], inputs: list[Inputs]) -> list[Request]:
        """Requests conditioned on the condition model's depth, cached under the dataset."""
        model = self.condition_model
        assert model is not None
        paths = [self.dataset.condition_depth(_slug(model.name), s.easy["id"]) for s in samples]
        missing = [i for i, path in enumerate(paths) if not (self.dataset.root / path).exists()]
        for i, depth in zip(
            missing, model.predict([inputs[i].image for i in missing], self.batch_size), strict=True
        ):
            save_npy(self.dataset.root / paths[i], depth.astype(np.float32))
        return [
            self._request(s, entry.image, np.load(self.dataset.root / path), model.space, entry.objects)
            for s, entry, path in zip(samples, inputs, paths, strict=True)
        ]

    def _conditioning_source(self, sample: Sample) -> str:
        """Where a sample's conditioning depth came from, as recorded in its row."""
        if self.condition_model is None:
            return "label"
        return self.dataset.condition_depth(_slug(self.condition_model.name), sample.easy["id"])

    def read(self, batch: list[Sample]) -> list[Inputs | ItemError]:
        """Each sample's inputs, or why they cannot be read (on the reader thread)."""
        loaded: list[Inputs | ItemError] = []
        for sample in batch:
            try:
                loaded.append(self._read(sample))
            except ItemError as error:
                loaded.append(error)
            except ImageReadError as error:
                loaded.append(ItemError(f"{sample.id}: {error}"))
        return loaded

    def __call__(self, batch: list[Sample], loaded: list[Inputs | ItemError]) -> Finish:
        """Generate and score now; write the images and rows on the writer thread (``Finish``)."""
        results: dict[str, Row | ItemError] = {}
        made: list[tuple[Sample, Generated, dict[str, str], float | None]] = []
        good, inputs = [], []
        for sample, entry in zip(batch, loaded, strict=True):
            if isinstance(entry, ItemError):
                results[sample.id] = entry
            else:
                good.append(sample)
                inputs.append(entry)
        if good:
            requests = (
                self._modelled_requests(good, inputs)
                if self.condition_model is not None
                else [entry.request for entry in inputs if entry.request is not None]
            )
            outputs = self.generator(requests)
            scores = self._scores(
                good, [output.image for output in outputs], [entry.label for entry in inputs]
            )
            for sample, output, request, score in zip(good, outputs, requests, scores, strict=True):
                conditioning = {"depth": self._conditioning_source(sample), "space": request.space.value}
                made.append((sample, output, conditioning, score))

        def finish() -> Results:
            for sample, output, conditioning, score in made:
                results[sample.id] = self._finish(sample, output, conditioning, score)
            return [results[sample.id] for sample in batch]

        return finish

    def _scores(
        self, samples: list[Sample], images: list[np.ndarray | None], labels: list[np.ndarray]
    ) -> list[float | None]:
        """The consistency score of each image made (None for those skipped, or without scoring)."""
        scores: list[float | None] = [None] * len(samples)
        chosen = [i for i, image in enumerate(images) if image is not None]
        if self.consistency is None or not chosen:
            return scores
        values = score_by_space(
            self.consistency.teacher,
            [images[i] for i in chosen],  # type: ignore[misc]
            [labels[i] for i in chosen],
            [samples[i].easy["label_space"] for i in chosen],
            self.batch_size,
        )
        for i, value in zip(chosen, values, strict=True):
            scores[i] = value
        return scores

    def _finish(
        self, sample: Sample, output: Generated, conditioning: dict[str, str], score: float | None
    ) -> Row:
        if output.skipped:
            log.info("%s: skipped, %s", sample.id, output.skipped)
        row = hard_row(
            self.dataset, sample.id, sample.easy, sample.condition, output.image, score, self.consistency
        )
        region = None
        if row["kept"] and output.region is not None:
            region = self.dataset.region(sample.id)
            save_png(self.dataset.root / region, output.region.astype(np.uint8) * 255)
        return {
            **row,
            "index": sample.index,
            "seed": sample.seed,
            "prompt": sample.prompt,
            "negative_prompt": sample.negative_prompt,
            "generator": self.description,
            "params": output.params,
            "conditioning": conditioning,
            "region": region,
            "region_fraction": None if output.region is None else round(float(output.region.mean()), 6),
            "skipped": output.skipped,
        }


def hard_row(
    dataset: DatasetFolder,
    sample_id: str,
    easy: Row,
    condition: str,
    image: np.ndarray | None,
    score: float | None,
    consistency: Consistency | None,
) -> Row:
    """Keep a hard image (write it) unless there is none or it is dropped as inconsistent; the part of
    its manifest row that every hard image has: its easy image's label, its size, the verdict."""
    limit = consistency.max_inconsistency if consistency else None
    consistent = None if score is None or limit is None else score <= limit
    dropped = consistent is False and consistency is not None and consistency.drop
    kept = image is not None and not dropped
    path = dataset.hard_image(sample_id)
    if kept:
        save_png(dataset.root / path, image)
    height, width = image.shape[:2] if image is not None else (easy["height"], easy["width"])
    return {
        "id": sample_id,
        "easy_id": easy["id"],
        "condition": condition,
        "image": path if kept else None,
        "source_image": easy["image"],
        "label": easy["label"],
        "label_space": easy["label_space"],
        "label_stats": easy["label_stats"],
        "height": int(height),
        "width": int(width),
        "inconsistency": score,
        "consistent": consistent,
        "kept": kept,
    }


def generate_samples(
    dataset: DatasetFolder,
    job: GenerateJob,
    samples: list[Sample],
    settings: dict[str, Any],
    shard: Shard = WHOLE,
    report: Callable[[str], None] = print,
) -> JobSummary:
    """Run ``job`` over this shard's samples that the manifest does not hold yet; ``settings``
    (besides the generator's own) must be those of the samples already made.

    Samples are ordered by the generator's batch key (the generation size) first, so that a batch
    holds one size and runs as one call; a sample's output does not depend on its batch, so the
    order changes only the speed."""
    settings = {**job.description, **settings}
    key = job.generator.batch_key
    ordered = sorted(samples, key=lambda sample: key(sample.easy["height"], sample.easy["width"]))
    return run_job(
        ordered,
        dataset.manifest,
        GENERATE_STAGE,
        shard,
        job,
        job.batch_size,
        report,
        settings=settings,
        read=job.read,
    )
