"""What one run needs, as a value: the spec a sweep point sends to its worker.

Kept apart from the runner so that the config reader can build specs without importing the
code that runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mlpbench.api.protocol import ModelSpec, SpecError, TrainSpec
from mlpbench.data import DataSpec

MAX_EPOCHS = 1000
"""A run extended for ``min_measured_s`` never trains longer than this."""


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; also what a sweep point sends to its worker."""

    backend: str = "numpy"
    device: str = "cpu"
    dtype: str = "float32"
    threads: int = 1
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    data: DataSpec = field(default_factory=DataSpec)
    options: Mapping[str, Any] = field(default_factory=dict)
    # Steady epochs shorter than this in all are timed again with more epochs (a few
    # milliseconds are one scheduler hiccup away from 20%): the sweep's min_measured_s.
    min_measured_s: float = 0.0
    # The worker (with its children) is killed past this resident memory, so that one point
    # cannot swap or OOM the machine; 0: 80% of the memory of the host it runs on.
    memory_limit_mb: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1:
            raise SpecError(f"threads = {self.threads!r}: must be an integer >= 1")

    def epochs_allowed(self) -> range:
        """How many epochs a run of this spec may report: the planned ones, or up to
        ``MAX_EPOCHS`` when ``min_measured_s`` may extend it (a result outside is forged)."""
        top = MAX_EPOCHS if self.min_measured_s > 0 else self.train.epochs
        return range(self.train.epochs, max(top, self.train.epochs) + 1)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["options"] = dict(self.options)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunSpec:
        return cls(
            backend=d["backend"],
            device=d["device"],
            dtype=d["dtype"],
            threads=d["threads"],
            model=ModelSpec(**d["model"]),
            train=TrainSpec(**d["train"]),
            data=DataSpec(**d["data"]),
            options=dict(d.get("options", {})),
            min_measured_s=float(d.get("min_measured_s", 0.0)),
            memory_limit_mb=float(d.get("memory_limit_mb", 0.0)),
        )
