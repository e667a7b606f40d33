"""``Environment``: a results folder's environment.json as a typed value, with one read path
(``from_json``, which also reads older folders: a key it does not know is kept in ``extra``)
and one write path (``to_json``). The machine part comes from ``mlpbench.machine.describe``;
the sweep adds its config, stacks, peaks, plans, sessions and machine checks as it runs.
Code outside ``mlpbench.results`` uses the attributes, never the file's keys.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


@dataclass
class Environment:
    """What ran a sweep, and how its sessions went."""

    # the machine (mlpbench.machine.describe.describe)
    cpu_model: str = ""
    cpu_flags: list[str] = field(default_factory=list)
    cores_logical: int = 0
    cores_physical: int = 0
    cores_usable: int = 0
    memory_gb: float = math.nan
    platform: str = ""
    hostname: str = ""
    python_executable: str = ""
    blas: dict[str, Any] = field(default_factory=dict)
    blas_env: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    gpu: str = ""
    git_commit: str = ""
    # the sweep
    schema_version: int = 1
    columns: dict[str, Any] = field(default_factory=dict)
    config_name: str = ""
    config_path: str = ""
    config_fingerprint: str = ""
    config_text: str = ""
    config_history: list[Any] = field(default_factory=list)
    stacks: dict[str, Any] = field(default_factory=dict)
    doctor: list[Any] = field(default_factory=list)
    doctor_history: list[Any] = field(default_factory=list)
    pinned: bool = True
    peaks: list[dict[str, Any]] = field(default_factory=list)
    plans: dict[str, Any] = field(default_factory=dict)
    recalibrations: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    cluster: str = ""
    hosts: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @classmethod
    def from_json(cls, doc: Mapping[str, Any] | None) -> Environment:
        known = {f.name for f in fields(cls)} - {"extra"}
        doc = dict(doc or {})
        return cls(
            **{k: v for k, v in doc.items() if k in known and v is not None},
            extra={k: v for k, v in doc.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        """The document: every key with a value (an unset optional key stays out, as an older
        folder had it), then the keys it was read with and does not know."""
        out = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not MISSING else f.default
            if value == default and f.name not in ALWAYS:
                continue
            out[f.name] = value
        return {**out, **self.extra}

    def plan_machine(self) -> tuple[Any, ...]:
        """What a thread plan's speed depends on, of this environment: the plan table's
        fingerprint (``mlpbench.api.plancache``)."""
        return (
            self.cpu_model or None,
            self.cpu_flags or None,
            self.cores_usable or None,
            self.blas.get("blas"),
            self.blas.get("blas_architecture"),
            self.versions.get("numpy"),
            self.blas_env,
        )

    @property
    def empty(self) -> bool:
        return not self.to_json()

    # Read-only mapping access, for code and plugins written against the dict.
    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())


ALWAYS = {"schema_version", "pinned"}
"""Written even at their defaults (a reader tells an old folder by their absence)."""
