"""A sweep's points: the grid crossed with its variants, less the excluded, plus the extras.

Ordered so that each repeat runs the whole grid with the backends interleaved: drift in the
machine's speed then hits every backend alike. The first variant declared is the baseline.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mlpbench.api.spec import RunSpec
from mlpbench.config.points import GRID_AXES, PointKey, options_label, reaching
from mlpbench.stacks.build import StackSpec

if TYPE_CHECKING:
    from mlpbench.config.settings import SweepConfig


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the point, which repeat, and everything its worker needs."""

    key: PointKey
    repeat: int
    run: RunSpec
    stack: StackSpec | None = None  # the version stack it runs in; None: the sweep's own

    def label(self) -> str:
        return self.key.label(self.repeat)


def _matches(rule: Mapping[str, Any], combo: Mapping[str, Any]) -> bool:
    return all(combo.get(k) == v for k, v in rule.items())


ORDER = ("layers", "batch_size", "dtype", "device", "threads", "options")
"""How points are ordered within a repeat (the backends interleaved inside each)."""


def _sort_value(axis: str, value: Any) -> Any:
    return tuple(int(v) for v in value.split("-")) if axis == "layers" else value


def keys(cfg: SweepConfig) -> list[PointKey]:
    """The sweep's points, once each, in run order within a repeat. A backend's points are
    crossed with its ``[grid.options.BACKEND]`` combinations (``options`` labels them; ``-``
    for a backend without); a variant that sets the model's layers sets the point's
    ``layers``."""
    combos = [
        dict(zip(GRID_AXES, values))
        for values in itertools.product(*(cfg.grid[k] for k in GRID_AXES))
    ]
    base = []
    for c in combos:
        for v in cfg.variants:
            for chosen in cfg.option_sets(c["backend"]):
                point = dict(c, variant=v.name, options=options_label(chosen))
                if "layers" in v.model:
                    point["layers"] = "-".join(str(n) for n in v.model["layers"])
                base.append(point)
    base = [c for c in base if not any(_matches(rule, c) for rule in cfg.exclude)]
    base += [dict(e) for e in cfg.extra]
    base = [dict(t) for t in dict.fromkeys(tuple(sorted(c.items())) for c in base)]
    # Interleave backends: the outer loops are repeat and the non-backend keys.
    backends = list(dict.fromkeys(c["backend"] for c in base))
    base.sort(key=lambda c: backends.index(c["backend"]))
    variants = [v.name for v in cfg.variants]  # declared order: the first is the baseline
    base.sort(key=lambda c: (*(_sort_value(a, c[a]) for a in ORDER), variants.index(c["variant"])))
    return [PointKey(**c) for c in base]


def points(cfg: SweepConfig) -> list[Point]:
    """Every run of the sweep: repeat by repeat, the points in ``keys`` order; where the grid
    crosses version stacks, a point's stacks run back to back, in the reverse order every
    other repeat (A B, B A, ...: drift and warm caches favour neither side)."""
    once = keys(cfg)
    turned = alternated(once)
    return [point(cfg, k, r) for r in range(cfg.repeats) for k in (turned if r % 2 else once)]


def alternated(order: list[PointKey]) -> list[PointKey]:
    """``order`` with each run of keys that differ only by their stack reversed."""
    out: list[PointKey] = []
    i = 0
    while i < len(order):
        j = i + 1
        same = replace(order[i], env="")
        while j < len(order) and replace(order[j], env="") == same:
            j += 1
        out += reversed(order[i:j])
        i = j
    return out


def point(cfg: SweepConfig, key: PointKey, repeat: int) -> Point:
    """The run of ``key``: the config's specs with the key's values and its variant applied."""
    variant = next(v for v in cfg.variants if v.name == key.variant)
    axes = reaching(key)  # every axis that sets a field of the run, in one place
    model = replace(cfg.model, **{**variant.model, **axes.pop("model", {})})
    train = replace(cfg.train, **{**variant.train, **axes.pop("train", {})})
    data = replace(cfg.data, **axes.pop("data", {}))
    grid = next((o for o in cfg.option_sets(key.backend) if options_label(o) == key.options), {})
    options = {
        **cfg.options.get(key.backend, {}),
        **grid,
        **variant.options.get(key.backend, {}),
    }
    run = RunSpec(
        model=model,
        train=train,
        data=data,
        options=options,
        min_measured_s=cfg.min_measured_s,
        memory_limit_mb=cfg.memory_limit_mb,
        **axes.pop(""),
    )
    assert not axes, f"an axis reaches no part of the run: {sorted(axes)}"
    return Point(key, repeat, run, cfg.environments.get(key.env))
