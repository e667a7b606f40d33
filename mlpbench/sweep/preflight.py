"""Before anything starts or is written: every backend of the grid loads and takes its options,
the data is there, and each version stack the grid names is built and checked the same way
(``preflight``, ``prepare_stacks``). A mistake of the sweep file is one UserError; a backend
whose check hangs or fails is ``broken`` and only its points are skipped."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from mlpbench.config import expand
from mlpbench.config.points import CURRENT_ENV, PointKey
from mlpbench.config.sweepfile import SweepConfig
from mlpbench.errors import UserError
from mlpbench.results.environment import StackRecord
from mlpbench.stacks import build as stacks


@dataclass
class Checked:
    """What the preflight found: the combinations this machine skips, each backend's thread
    plans, and which of them can run each point differently (the backend's own
    ``plans_that_differ`` hook, asked in the fresh process; absent: all of them)."""

    skips: dict[tuple[str, str, str], str]
    plans: dict[str, dict[str, Any]]
    differ: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    """Backends whose check hung or failed: name -> the sentence their points are skipped with."""
    scripts: set[str] = field(default_factory=set)
    """Backends whose points run as their standalone script everywhere (``always_script``)."""

    def differing(self, key: PointKey) -> list[str]:
        """The plans worth a trial at ``key``."""
        offered = list(self.plans.get(key.backend, {}))
        named = self.differ.get(key.backend, {}).get(shape_of(key))
        return offered if named is None else [n for n in offered if n in named]


def shape_of(key: PointKey) -> str:
    """What a backend's plans can differ by: threads, batch size, the network."""
    return f"{key.threads}|{key.batch_size}|{key.layers}"


CHECK_TIMEOUT_S = 120.0
"""The longest a backend's check (import, capabilities, options, plans) may take: past it, the
backend counts as broken and only its own points are skipped (a sweep's timeout_s caps it)."""


def preflight(
    cfg: SweepConfig,
    python: str = sys.executable,
    env: str | None = None,
    extra_env: dict[str, str | None] | None = None,
) -> Checked:
    """Every backend of the grid loads and takes its options, and the data is there: checked
    before anything is started or written, each backend in a fresh process of its own, all at
    once, each within its timeout (``env``: only the points of that version stack, in its
    Python). A backend that is not installed, an option the sweep file gets wrong, or missing
    data is one UserError; a backend whose import, capabilities(), option check or plan hook
    hangs or fails is ``broken``: its points are skipped with that sentence, and the others
    run. Returns that, the combinations this machine will skip, and each backend's plans."""
    from concurrent.futures import ThreadPoolExecutor

    from mlpbench.sweep.spawn import ask, end_all

    backends: dict[str, list[dict[str, Any]]] = {}

    def here(k: PointKey) -> bool:  # env None: the points the sweep's own Python runs
        if env is not None:
            return k.env == env
        stack = cfg.environments.get(k.env)
        return k.env == CURRENT_ENV or (stack is not None and stack.is_current)

    keys = [k for k in expand.keys(cfg) if here(k)]
    from mlpbench.api import registry

    claimed = registry.conflicts() if env is None else {}  # a stack's are its own
    clashes = [
        registry.conflict_line(n, claimed[n])
        for n in sorted({k.backend for k in keys})
        if n in claimed
    ]
    if clashes:
        raise UserError(f"{cfg.path}: " + "; ".join(clashes))
    for key in keys:
        options = expand.point(cfg, key, 0).run.options
        if options not in backends.setdefault(key.backend, []):
            backends[key.backend].append(dict(options))
    shapes: dict[str, dict[str, Any]] = {}
    for k in keys:
        shapes.setdefault(k.backend, {})[shape_of(k)] = [k.threads, k.batch_size, k.widths]
    requests: dict[str, dict[str, Any]] = {
        name: {
            "backend": name,
            "options": option_sets,
            "combinations": sorted({(k.device, k.dtype) for k in keys if k.backend == name}),
            "shapes": shapes.get(name, {}),
        }
        for name, option_sets in backends.items()
    }
    # The data is checked beside the first backend (one process fewer), or alone where there
    # is none, or where that backend's check broke.
    data = {"data": [vars(cfg.data)]}
    data_with = next(iter(requests), "")
    if data_with:
        requests[data_with].update(data)
    timeout = min(float(cfg.timeout_s), CHECK_TIMEOUT_S)
    with ThreadPoolExecutor(max_workers=max(2, min(len(requests), os.cpu_count() or 2))) as pool:
        futures = {
            name: pool.submit(ask, request, timeout, python, extra_env)
            for name, request in requests.items()
        }
        try:
            answers = {name: f.result() for name, f in futures.items()}
        except BaseException:  # Ctrl-C: every check ends now, not at its timeout
            end_all()
            raise
    carried = answers[data_with][0] if data_with else None
    if carried is not None and "data_problems" in carried:
        problems = list(carried["data_problems"])
    else:
        alone, why = ask(data, timeout, python, extra_env)
        if alone is None:
            raise UserError(f"{cfg.path}: checking the data failed: {why}")
        problems = list(alone.get("problems", []))
    skips: dict[tuple[str, str, str], str] = {}
    plans: dict[str, Any] = {}
    differ: dict[str, Any] = {}
    broken: dict[str, str] = {}
    scripts: set[str] = set()
    for name, (answer, why) in answers.items():
        if answer is None:
            broken[name] = f"backend {name!r} is broken: its check {why}"
            continue
        if answer.get("missing"):
            from mlpbench.sweep.spawn import unknown_backend

            problems.append(unknown_backend(name))
        elif answer.get("broken"):
            broken[name] = str(answer["broken"])
        problems += [str(p) for p in answer.get("problems", [])]
        skips.update({(b, d, t): w for b, d, t, w in answer.get("skips", [])})
        if answer.get("plans"):
            plans[name] = answer["plans"]
        if answer.get("differ"):
            differ[name] = answer["differ"]
        if answer.get("script"):
            scripts.add(name)
    if problems:
        raise UserError(f"{cfg.path}: " + "; ".join(problems))
    return Checked(skips, plans, differ, broken, scripts)


def prepare_stacks(cfg: SweepConfig, mode: str) -> dict[str, stacks.Stack | str]:
    """Every version stack the grid names, built (once, into the cache) and checked like the
    sweep's own environment: name -> the stack, or the one line saying why its points will be
    skipped (the rest of the sweep runs)."""
    used = sorted({k.env for k in expand.keys(cfg)} - {CURRENT_ENV})
    out: dict[str, stacks.Stack | str] = {}

    def say(line: str) -> None:
        if mode != "none":
            print(line, file=sys.stderr, flush=True)

    for name in used:
        if cfg.environments[name].is_current:
            out[name] = CURRENT_ENV  # the running environment under another name
            continue
        try:
            stack = stacks.ensure(cfg.environments[name], say)
            if stack.runner == "worker":  # a script stack has no mlpbench to check with
                preflight(cfg, stack.python, env=name, extra_env=stacks.worker_env(cfg.data))
            out[name] = stack
        except UserError as e:
            reason = str(e).removeprefix(f"{cfg.path}: ")
            print(f"stack {name!r}: {reason}; its points are skipped", file=sys.stderr)
            out[name] = reason
    return out


def stacks_record(ready: dict[str, stacks.Stack | str]) -> dict[str, StackRecord]:
    """environment.json's ``stacks``: each stack's resolved versions, or why it was not used
    (or ``same_as: current`` for the running environment under another name)."""
    return {
        name: StackRecord.from_json(
            s.record()
            if isinstance(s, stacks.Stack)
            else ({"same_as": CURRENT_ENV} if s == CURRENT_ENV else {"error": s})
        )
        for name, s in ready.items()
    }
