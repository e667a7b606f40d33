"""Backends by name, discovered through the entry-point group ``mlpbench.backends``.

A plugin that fails to import, or whose class does not meet the protocol, is reported by name
and breaks nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from mlpbench.api.protocol import Capabilities, SpecError

GROUP = "mlpbench.backends"
REQUIRED = ("capabilities", "fit", "evaluate", "weights", "info")


@dataclass
class BackendEntry:
    name: str
    target: str  # "module:Class"
    distribution: str = ""
    version: str = ""
    cls: Any = None
    error: str = ""
    import_s: float = 0.0
    capabilities: Capabilities | None = field(default=None, repr=False)


def _distribution(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    try:
        return str(dist.metadata["Name"]) if dist is not None else "(unknown distribution)"
    except (KeyError, AttributeError):
        return "(unknown distribution)"


def _entry_points() -> dict[str, Any]:
    found = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)  # the first; conflicts() says when there are others
    return found


def conflicts() -> dict[str, list[str]]:
    """Name -> the distributions that each register a backend under it, where more than one
    does (a plugin that registers ``numpy`` would otherwise replace the built-in silently)."""
    by_name: dict[str, dict[str, str]] = {}
    for ep in entry_points(group=GROUP):
        by_name.setdefault(ep.name, {})[_distribution(ep)] = ep.value
    return {name: sorted(d) for name, d in sorted(by_name.items()) if len(d) > 1}


def conflict_line(name: str, distributions: list[str]) -> str:
    """One line for a name two distributions claim: which, and what to do."""
    return (
        f"backend = {name!r} is registered by {len(distributions)} distributions "
        f"({', '.join(distributions)}): uninstall all but one (pip uninstall NAME); "
        "nothing was run"
    )


def check_unique(names: Any) -> None:
    """A SpecError for the first of ``names`` that two distributions claim."""
    claimed = conflicts()
    for name in names:
        if name in claimed:
            raise SpecError(conflict_line(name, claimed[name]))


def installed() -> dict[str, Any]:
    """Name -> entry point of every registered backend (nothing loaded)."""
    return _entry_points()


def available() -> list[str]:
    return sorted(_entry_points())


def describe(name: str, ep: Any = None) -> BackendEntry:
    """Import one backend and check it, capturing (not raising) what goes wrong."""
    ep = ep or _entry_points()[name]
    dist = getattr(ep, "dist", None)
    entry = BackendEntry(
        name=name,
        target=ep.value,
        distribution=dist.metadata["Name"] if dist else "",
        version=dist.version if dist else "",
    )
    t0 = time.perf_counter()
    try:
        cls = ep.load()
    except Exception as e:
        entry.error = f"import failed: {type(e).__name__}: {e}"
        return entry
    entry.import_s = time.perf_counter() - t0
    missing = [m for m in REQUIRED if not callable(getattr(cls, m, None))]
    if missing:
        entry.error = (
            f"{ep.value} does not meet the Trainer protocol (missing {', '.join(missing)})"
        )
        return entry
    try:
        caps = cls.capabilities()
        if not isinstance(caps, Capabilities):
            raise TypeError(f"capabilities() returned {type(caps).__name__}, not Capabilities")
    except Exception as e:
        entry.error = f"capabilities() failed: {type(e).__name__}: {e}"
        return entry
    entry.cls, entry.capabilities = cls, caps
    return entry


def describe_all() -> list[BackendEntry]:
    return [describe(name, ep) for name, ep in sorted(_entry_points().items())]


def load(name: str) -> BackendEntry:
    """The backend ``name``, or a SpecError naming the known ones / why it is broken."""
    eps = _entry_points()
    check_unique([name])
    if name not in eps:
        raise SpecError(
            f"backend = {name!r} is not installed; installed backends: {', '.join(sorted(eps))}"
        )
    entry = describe(name, eps[name])
    if entry.error:
        raise SpecError(f"backend {name!r} is broken: {entry.error}")
    return entry
