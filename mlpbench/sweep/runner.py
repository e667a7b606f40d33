"""``PointRunner``: the one way a point runs, for every caller (the local executor, a Dask
host, tuning trials, bisect rounds).

It owns what each of them used to redo: the Python the point's version stack runs in (or why
it cannot run), the backend's thread plan (forced with ``-o plan=NAME`` or the tuned choice),
pinning the point to its own cores with this process moved off them, the fresh worker process
(or a standalone script in a Python mlpbench cannot run in), its timeout and memory limit, and
the result, checked once on arrival (``PointResult.from_json``). Executors are maps of it over
points (benchopt's executors map over runs the same way).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from mlpbench.config.expand import Point
from mlpbench.config.points import CURRENT_ENV
from mlpbench.machine.probe import host_id, hostname
from mlpbench.machine.threads import pin_plan, usable_cpus
from mlpbench.results.environment import PlanEntry
from mlpbench.results.point import PointResult
from mlpbench.stacks import build as stacks
from mlpbench.sweep import spawn, tuning
from mlpbench.worker import standalone


@dataclass
class PointRunner:
    """How the points of one sweep (or one tuning, one bisect) run.

    ``stacks``: each version stack the points name, built (``Stack``), the running environment
    under another name (``CURRENT_ENV``), or the sentence why its points are skipped; a point
    whose stack is not listed is built here from the point's own ``StackSpec`` (a Dask host).
    ``plans``: each backend's thread plans; ``table``: the tuned choice per slot.
    ``broken``: backends whose check failed, with the sentence their points are skipped with.
    ``scripts``: backends whose points run as their standalone script here too (the
    preflight asks each backend's ``always_script`` hook in its fresh process: the harness
    never imports a plugin).
    """

    timeout: float
    python: str = sys.executable
    pin: bool = True
    universe: list[int] = field(default_factory=usable_cpus)
    stacks: dict[str, stacks.Stack | str] = field(default_factory=dict)
    stack_vars: dict[str, str | None] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    table: dict[str, PlanEntry] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    scripts: set[str] = field(default_factory=set)
    progress: spawn.Progress = field(default_factory=lambda: spawn.Progress(0, mode="none"))

    def planned(self, point: Point) -> tuple[Point, dict[str, str | None]]:
        """The point as it runs, with its plan's options, and the variables the plan needs."""
        return tuning.planned_point(point, self.plans, self.table)

    def where(self, point: Point, stack: stacks.Stack | None = None) -> tuple[str, dict, str, str]:
        """The interpreter, the variables its stack needs, why the point cannot run ("" when it
        can), and how: mlpbench's ``worker`` or a standalone ``script``."""
        if stack is None:
            name = point.key.env
            ready = self.stacks.get(name)
            if name == CURRENT_ENV or ready == CURRENT_ENV:
                if point.key.backend in self.scripts:  # a script by definition
                    return self.python, stacks.worker_env(point.run.data), "", "script"
                return self.python, {}, "", "worker"
            if ready is None and point.stack is not None:
                try:
                    ready = stacks.ensure(point.stack)
                except stacks.StackError as e:
                    ready = str(e)
            if not isinstance(ready, stacks.Stack):
                return "", {}, f"stack {name!r}: {ready or 'the stack was not prepared'}", ""
            stack = ready
        if stack.runner == "script" and not standalone.runs_as_script(point.key.backend):
            why = (
                f"stack {point.key.env!r} runs Python {stack.python_version.split()[0]}, which "
                f"mlpbench cannot run in: its points run as standalone scripts, and "
                f"{point.key.backend} has none (its script_in_old_stacks hook says so)"
            )
            return "", {}, why, ""
        variables = self.stack_vars or stacks.worker_env(point.run.data)
        return stack.python, variables, "", stack.runner

    def run(
        self,
        point: Point,
        variables: dict[str, str | None] | None = None,
        stack: stacks.Stack | None = None,
    ) -> PointResult:
        """Run ``point`` in a fresh process and return its result. ``variables``: a plan's
        variables given by the caller (a tuning trial; the point's plan is then not looked
        up); ``stack``: run it in this stack, whatever the point names (a bisect round)."""
        self.progress.running(point)
        python, stack_vars, why_not, how = self.where(point, stack)
        why_not = why_not or self.broken.get(point.key.backend, "")
        if why_not:
            return self._here(PointResult.skipped(why_not))
        if variables is None and how == "worker":
            point, variables = self.planned(point)
        cpus, own = pin_plan(point.key.threads, self.universe, self.pin)
        if self.pin:
            os.sched_setaffinity(0, own)
        try:
            pinned = cpus if self.pin else None
            run_env = {**stack_vars, **(variables or {})}
            if how == "script":
                result = spawn.run_script(
                    point, self.timeout, self.progress, python, pinned, run_env
                )
            else:
                result = spawn.run_worker(
                    point, self.timeout, self.progress, python, pinned, run_env
                )
        finally:
            if self.pin:
                os.sched_setaffinity(0, self.universe)
        return self._here(result)

    @staticmethod
    def _here(result: PointResult) -> PointResult:
        result.host = result.host or host_id()
        result.hostname = result.hostname or hostname()
        return result
