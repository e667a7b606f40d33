"""The ``mlpbench`` subcommands, one module each (asv's layout). Each module has
``add(sub)``, which declares its parser, and ``run(args) -> int``, its exit status.
Renderers return lines; the commands print them."""

from __future__ import annotations

from types import ModuleType

from bench.commands import (
    backends,
    compare,
    configs,
    doctor,
    plot,
    report,
    run,
    summary,
    sweep,
    tune,
)

COMMANDS: tuple[ModuleType, ...] = (
    run,
    sweep,
    summary,
    plot,
    report,
    compare,
    backends,
    configs,
    doctor,
    tune,
)
