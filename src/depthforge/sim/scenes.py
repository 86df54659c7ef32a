"""Procedural scene layouts (street, tabletop) and their Mitsuba descriptions per condition.

A layout is drawn from a seed once; every condition renders that same layout from the same camera.
Day is the easy condition; night lights the scene with lamps and headlights under a dim sky; fog
adds a homogeneous participating medium around the camera; ToM turns the layout's candidate
objects into glass (``dielectric``) or mirror (``conductor``) materials.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

CONDITIONS = ("day", "night", "fog", "tom")
FAMILIES = ("street", "tabletop")


@dataclass(frozen=True)
class Part:
    """One shape: its Mitsuba description (without material), colour, ToM role (glass/mirror), and
    whether it is an object (a thing such as a car, window or bottle, rather than road or wall)."""

    id: str
    shape: dict[str, Any]
    color: tuple[float, float, float]
    tom: str | None = None
    is_object: bool = False


@dataclass
class Layout:
    family: str
    parts: list[Part]
    origin: tuple[float, float, float]
    target: tuple[float, float, float]
    fov: float
    lamps: list[tuple[tuple[float, float, float], tuple[float, float, float]]] = field(default_factory=list)
    """Night light sources: (position, a point it faces)."""
    fog_density: float = 0.03
    fog_box: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0, 8, 50), (20, 8.5, 60))
    """Centre and half extents of the fog volume: around the scene (and the camera), so that sun
    and sky light cross only the fog that would be there."""
    sun: tuple[float, float, float] = (0.4, -1.0, 0.6)

    @property
    def tom_ids(self) -> list[str]:
        return [part.id for part in self.parts if part.tom]

    @property
    def object_ids(self) -> list[str]:
        return [part.id for part in self.parts if part.is_object]


def _transform(
    translate: tuple[float, ...], scale: tuple[float, ...], rotate_x: float = 0.0
) -> dict[str, Any]:
    return {"translate": translate, "scale": scale, "rotate_x": rotate_x}


def _cube(
    part_id: str,
    centre: tuple[float, ...],
    half: tuple[float, ...],
    color: tuple[float, ...],
    tom: str | None = None,
    is_object: bool = False,
) -> Part:
    return Part(
        part_id, {"type": "cube", "transform": _transform(centre, half)}, tuple(color), tom, is_object
    )


def _cylinder(
    part_id: str,
    base: tuple[float, ...],
    height: float,
    radius: float,
    color: tuple[float, ...],
    tom: str | None = None,
    is_object: bool = False,
) -> Part:
    top = (base[0], base[1] + height, base[2])
    shape = {"type": "cylinder", "p0": list(base), "p1": list(top), "radius": radius}
    return Part(part_id, shape, tuple(color), tom, is_object)


def _sphere(
    part_id: str,
    centre: tuple[float, ...],
    radius: float,
    color: tuple[float, ...],
    tom: str | None = None,
    is_object: bool = False,
) -> Part:
    shape = {"type": "sphere", "center": list(centre), "radius": radius}
    return Part(part_id, shape, tuple(color), tom, is_object)


def _plane(
    part_id: str,
    centre: tuple[float, ...],
    half: tuple[float, float],
    color: tuple[float, ...],
    rotate_x: float,
) -> Part:
    return Part(
        part_id, {"type": "rectangle", "transform": _transform(centre, (*half, 1.0), rotate_x)}, tuple(color)
    )


def _muted(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(v) for v in rng.uniform(0.15, 0.7, 3))


WINDOW_TOP, SILL = 2.6, 0.6
"""Heights of a shop window's top and bottom edges (m)."""


def _shop(
    name: str, side: int, middle: float, width: float, height: float, rng: np.random.Generator
) -> list[Part]:
    """A building 6 m deep whose ground floor is a shop: a room behind a glass window on the street
    face (the glass is the ToM object; in ``day`` it is an opaque panel), with something inside."""
    room = rng.uniform(2.5, 5.0)
    half_z, front = width / 2 - 0.2, side * 7.0
    colour, inside = _muted(rng), _muted(rng)

    def block(
        part_id: str, x: tuple[float, float], y: tuple[float, float], z: tuple[float, float], c: tuple
    ) -> Part:
        return _cube(
            part_id,
            (side * sum(x) / 2, sum(y) / 2, sum(z) / 2),
            ((x[1] - x[0]) / 2, (y[1] - y[0]) / 2, (z[1] - z[0]) / 2),
            c,
        )

    span = (middle - half_z, middle + half_z)
    opening = (middle - (width / 2 - 1.0), middle + (width / 2 - 1.0))
    return [
        block(f"bldg{name}", (7 + room, 13), (0, height), span, colour),  # behind the shop
        block(f"above{name}", (7, 7 + room), (WINDOW_TOP, height), span, colour),
        block(f"floor{name}", (7, 7 + room), (0, SILL), span, colour),
        block(f"pier{name}a", (7, 7 + room), (SILL, WINDOW_TOP), (span[0], opening[0]), colour),
        block(f"pier{name}b", (7, 7 + room), (SILL, WINDOW_TOP), (opening[1], span[1]), colour),
        block(
            f"goods{name}", (7 + room - 0.8, 7 + room), (SILL, SILL + rng.uniform(0.5, 1.6)), opening, inside
        ),
        _cube(
            f"win{name}",
            (front - side * 0.05, (SILL + WINDOW_TOP) / 2, middle),
            (0.04, (WINDOW_TOP - SILL) / 2, width / 2 - 1.0),
            (0.3, 0.35, 0.4),
            tom="glass",
            is_object=True,
        ),
    ]


def _buildings(rng: np.random.Generator, side: int, start: float, step: int, count: int) -> list[Part]:
    """``count`` buildings along one side of the street from ``start``, ahead (``step`` 1) or back
    (-1), half of them with a shop on the ground floor."""
    parts, z = [], start
    for b in range(count):
        width, height = rng.uniform(5, 12), rng.uniform(4, 16)
        middle = z + step * width / 2
        name = f"{side}_{b}" if step > 0 else f"{side}_back{b}"
        if rng.uniform() < 0.5:
            parts += _shop(name, side, middle, width, height, rng)
        else:
            centre, half = (side * 10.0, height / 2, middle), (3.0, height / 2, width / 2 - 0.2)
            parts.append(_cube(f"bldg{name}", centre, half, _muted(rng)))
        z += step * width
    return parts


def street(rng: np.random.Generator) -> Layout:
    """A road with markings, sidewalks, buildings with shop windows, vehicles and lamp posts. The
    street goes on behind the camera (road and buildings), so that mirrors and glass reflect a
    street there rather than an empty void."""
    parts = [
        _plane("road", (0, 0, 30), (4.0, 100.0), (0.08, 0.08, 0.09), -90),
        _cube("walk_l", (-5.5, 0.08, 30), (1.5, 0.08, 100), (0.45, 0.44, 0.42)),
        _cube("walk_r", (5.5, 0.08, 30), (1.5, 0.08, 100), (0.45, 0.44, 0.42)),
    ]
    parts += [
        _plane(f"mark{i}", (0, 0.01, 5 + 7 * i), (0.08, 1.5), (0.85, 0.85, 0.8), -90) for i in range(-10, 10)
    ]
    lamps = []
    for side in (-1, 1):
        parts += _buildings(rng, side, 4.0, 1, 8)
        for p in range(5):
            pz = 6 + 12 * p + rng.uniform(-1, 1)
            pole = _cylinder(
                f"pole{side}_{p}", (side * 4.6, 0.0, pz), 6.0, 0.08, (0.2, 0.2, 0.22), is_object=True
            )
            parts.append(pole)
            lamps.append(((side * 4.2, 5.9, pz), (side * 3.0, 0.0, pz)))
    for v in range(int(rng.integers(1, 5))):
        x, z = float(rng.choice([-1.7, 1.7])), float(rng.uniform(7, 45))
        parts.append(_cube(f"car{v}", (x, 0.75, z), (0.9, 0.6, 2.1), _muted(rng), "mirror", True))
        lamps.append(((x - 0.6, 0.7, z - 2.2), (x - 0.6, 0.5, z - 20)))
    fog_density = float(rng.uniform(0.02, 0.06))
    for side in (-1, 1):  # drawn last, so the street in view is the one earlier revisions drew
        parts += _buildings(rng, side, 4.0, -1, 8)
    return Layout("street", parts, (0.0, 1.5, 0.0), (0.0, 1.2, 20.0), 70.0, lamps, fog_density)


def tabletop(rng: np.random.Generator) -> Layout:
    """Bottles, glasses, vases, bowls and boxes on a table in a room."""
    parts = [
        _plane("floor", (0, 0, 3), (4, 4), (0.35, 0.3, 0.25), -90),
        _plane("wall", (0, 1.5, 4), (4, 2), (0.75, 0.72, 0.68), 180),
        _cube("table", (0, 0.7, 2.0), (1.2, 0.05, 0.8), (0.45, 0.3, 0.18)),
    ]
    top = 0.75
    for index in range(int(rng.integers(3, 7))):
        kind = str(rng.choice(["bottle", "glass", "vase", "bowl", "box"]))
        x, z, color = float(rng.uniform(-0.9, 0.9)), float(rng.uniform(1.5, 2.5)), _muted(rng)
        name = f"{kind}{index}"
        if kind == "bottle":
            parts.append(
                _cylinder(
                    name,
                    (x, top, z),
                    float(rng.uniform(0.2, 0.35)),
                    float(rng.uniform(0.04, 0.07)),
                    color,
                    "glass",
                    True,
                )
            )
        elif kind == "glass":
            parts.append(_cylinder(name, (x, top, z), 0.12, 0.04, color, "glass", True))
        elif kind == "vase":
            radius = float(rng.uniform(0.07, 0.11))
            parts.append(_sphere(name, (x, top + radius, z), radius, color, "glass", True))
        elif kind == "bowl":
            parts.append(_sphere(name, (x, top + 0.05, z), 0.08, color, "mirror", True))
        else:
            half = float(rng.uniform(0.04, 0.08))
            parts.append(_cube(name, (x, top + half, z), (half, half, half), color, "mirror", True))
    lamps = [((0.0, 1.8, 1.8), (0.0, 0.75, 2.0))]
    fog = ((0.0, 1.6, 2.0), (4.0, 1.7, 4.0))
    density = float(rng.uniform(0.15, 0.45))
    return Layout("tabletop", parts, (0.0, 1.3, 0.2), (0.0, 0.8, 2.0), 60.0, lamps, density, fog)


LAYOUTS = {"street": street, "tabletop": tabletop}


def _material(part: Part, condition: str) -> dict[str, Any]:
    if condition == "tom" and part.tom == "glass":
        return {"type": "dielectric", "int_ior": 1.5}
    if condition == "tom" and part.tom == "mirror":
        return {"type": "conductor", "material": "Ag"}
    return {"type": "diffuse", "reflectance": {"type": "rgb", "value": list(part.color)}}


def _shape(mi: Any, part: Part) -> dict[str, Any]:
    shape = dict(part.shape)
    transform = shape.pop("transform", None)
    if transform:
        matrix = mi.ScalarTransform4f().translate(transform["translate"])
        if transform["rotate_x"]:
            matrix = matrix.rotate([1, 0, 0], transform["rotate_x"])
        shape["to_world"] = matrix.scale(transform["scale"])
    return shape


def describe(mi: Any, layout: Layout, condition: str, size: tuple[int, int], spp: int) -> dict[str, Any]:
    """The Mitsuba scene of ``layout`` in ``condition`` at ``size`` (w, h); ``"aov"`` gives the
    ground-truth pass (position, distance, shape index; no medium, plain materials)."""
    aov = condition == "aov"
    sensor: dict[str, Any] = {
        "type": "perspective",
        "fov": layout.fov,
        "to_world": mi.ScalarTransform4f().look_at(
            origin=list(layout.origin), target=list(layout.target), up=[0, 1, 0]
        ),
        "film": {"type": "hdrfilm", "width": size[0], "height": size[1], "rfilter": {"type": "box"}},
        "sampler": {"type": "independent", "sample_count": 1 if aov else spp},
    }
    scene: dict[str, Any] = {"type": "scene", "sensor": sensor}
    for part in layout.parts:
        scene[part.id] = {**_shape(mi, part), "bsdf": _material(part, condition)}
    if aov:
        scene["integrator"] = {"type": "aov", "aovs": "dd:depth,pp:position,si:shape_index"}
        return scene
    scene["integrator"] = {"type": "volpath" if condition == "fog" else "path", "max_depth": 12}
    if condition == "night":
        scene["sky"] = {"type": "constant", "radiance": {"type": "rgb", "value": [0.004, 0.005, 0.01]}}
        for index, (position, target) in enumerate(layout.lamps):
            scene[f"lamp{index}"] = {
                "type": "spot",
                "cutoff_angle": 55,
                "intensity": {"type": "rgb", "value": [40.0, 32.0, 20.0]},
                "to_world": mi.ScalarTransform4f().look_at(
                    origin=list(position), target=list(target), up=[0, 1, 0]
                ),
            }
    else:
        scene["sky"] = {"type": "constant", "radiance": {"type": "rgb", "value": [0.55, 0.65, 0.85]}}
        scene["sun"] = {
            "type": "directional",
            "direction": list(layout.sun),
            "irradiance": {"type": "rgb", "value": [2.5, 2.4, 2.2]},
        }
    if condition == "fog":
        scene["fog"] = {"type": "homogeneous", "id": "fog", "sigma_t": layout.fog_density, "albedo": 0.9}
        sensor["medium"] = {"type": "ref", "id": "fog"}
        scene["fog_volume"] = {
            "type": "cube",
            "to_world": mi.ScalarTransform4f()
            .translate(list(layout.fog_box[0]))
            .scale(list(layout.fog_box[1])),
            "bsdf": {"type": "null"},
            "interior": {"type": "ref", "id": "fog"},
        }
    return scene
