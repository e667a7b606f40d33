"""The sweeps shipped with the package (``mlpbench.config.shipped``): by name, listed, shown.

A sweep argument is a path or a shipped name; a path that exists wins, so a local
``quick.toml`` is never shadowed by the shipped one.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mlpbench.config.sweepfile import ConfigError


def shipped() -> dict[str, Path]:
    """Shipped sweep names -> their files, sorted by name."""
    root = resources.files("mlpbench.config.shipped")
    found = {
        Path(entry.name).stem: Path(str(entry))
        for entry in root.iterdir()
        if entry.name.endswith(".toml")
    }
    return dict(sorted(found.items()))


def find(argument: str) -> Path:
    """The sweep file for a path or a shipped name."""
    path = Path(argument)
    if path.exists():
        return path
    names = shipped()
    name = path.name.removesuffix(".toml")
    if name in names and len(path.parts) == 1:
        return names[name]
    raise ConfigError(
        f"{argument}: no such file, and not a shipped sweep; shipped: {', '.join(names)} "
        "(mlpbench configs)"
    )
