"""``SweepConfig``: a checked sweep file as a frozen value (``sweepfile`` reads and checks the
TOML into it, ``expand`` turns it into points; both import this, neither the other's type)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlpbench.api.protocol import ModelSpec, TrainSpec
from mlpbench.data import DataSpec
from mlpbench.stacks.build import StackSpec


@dataclass(frozen=True)
class Variant:
    """A named change to model, training or backend options, crossed with the grid."""

    name: str = "default"
    model: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # backend -> options


@dataclass(frozen=True)
class SweepConfig:
    name: str
    path: str
    text: str
    repeats: int
    timeout_s: float
    data: DataSpec
    model: ModelSpec
    train: TrainSpec
    grid: Mapping[str, tuple[Any, ...]]
    options: Mapping[str, Mapping[str, Any]]
    variants: tuple[Variant, ...]
    exclude: tuple[Mapping[str, Any], ...]
    extra: tuple[Mapping[str, Any], ...]
    description: str = ""
    oversubscribe: bool = False
    recalibrate_every: int = 0  # runs between GEMM-peak measurements (0: only at the end)
    # Enough data to decide (compare as a CI gate): each run's steady epochs add up to at
    # least min_measured_s (more epochs where they are short), and a point whose repeats'
    # 95% interval of the median is wider than target_interval (relative), or that has too few
    # repeats for an interval, gets more repeats, up to max_repeats (pyperf and asv sample
    # short, noisy benchmarks more the same way).
    min_measured_s: float = 0.0
    max_repeats: int = 0  # 0: repeats, no extra ones
    target_interval: float = 0.10
    memory_limit_mb: float = 0.0  # a worker past this resident memory is killed (0: 80% of RAM)
    report: Mapping[str, Any] = field(default_factory=dict)  # reference backend, colors
    cluster: str = ""  # a Dask scheduler's address or local:N ([cluster] address)
    # [grid.options.BACKEND]: backend -> option -> the values the grid crosses
    grid_options: Mapping[str, Mapping[str, tuple[Any, ...]]] = field(default_factory=dict)
    # [environments.NAME]: the version stacks the grid's env axis may name (mlpbench.stacks)
    environments: Mapping[str, StackSpec] = field(default_factory=dict)
    # profile: the points that get one profiled run after their timed ones ({}: every point)
    profile: tuple[Mapping[str, Any], ...] = ()

    def profiled(self, key: Any) -> bool:
        """Whether ``key``'s point gets a profiled run (``profile`` in the sweep file)."""
        return any(all(getattr(key, k) == v for k, v in want.items()) for want in self.profile)

    def option_sets(self, backend: str) -> list[dict[str, Any]]:
        """The combinations of ``backend``'s grid options, in file order ([{}] without)."""
        table = self.grid_options.get(backend, {})
        names = list(table)
        return [dict(zip(names, values)) for values in itertools.product(*table.values())]

    @property
    def reference(self) -> str:
        """The backend every other one is compared with: [report] reference, else the
        grid's first (the analysis and the sweep's until-decided repeats ask this)."""
        return str(self.report.get("reference") or self.grid["backend"][0])

    def fingerprint(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]
