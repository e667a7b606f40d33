"""The local executor: prepare this machine once (the GEMM peak of each combination the points
need, in each stack's own BLAS; the thread plans they need, tuned), then map the sweep's
``PointRunner`` over the points, one at a time, the peak measured again every
``recalibrate_every`` runs and at the end (drift)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from mlpbench.config.expand import Point
from mlpbench.config.points import CURRENT_ENV
from mlpbench.results.environment import Recalibration
from mlpbench.stacks import build as stacks
from mlpbench.sweep import tuning
from mlpbench.sweep.session import Finished, Sweep
from mlpbench.sweep.spawn import calibrate


class LocalExecutor:
    """Runs a sweep's points on this machine."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        runner = sweep.runner
        self.calibrated = dict(python=runner.python, pin=runner.pin, universe=runner.universe)

    def prepare(self) -> None:
        """Calibrate what is missing, then tune the plans the points need."""
        sweep = self.sweep
        env, todo = sweep.env, sweep.todo
        t0 = time.monotonic()
        peaks = env.peaks
        have = {(p.env, p.dtype, p.threads, p.device) for p in peaks}
        need = sorted(
            {(p.key.env, p.key.dtype, p.key.threads, p.key.device) for _, p in todo} - have
        )
        calibrated_in = {CURRENT_ENV} | {  # a script stack has no mlpbench worker to calibrate
            n
            for n, s in sweep.runner.stacks.items()
            if isinstance(s, stacks.Stack) and s.runner == "worker"
        }
        need = [n for n in need if n[0] in calibrated_in]
        if need:
            sweep.say(
                f"calibrating GEMM peak for {len(need)} (dtype, threads, device) combination(s)..."
            )
        for name in dict.fromkeys(n[0] for n in need):  # each stack's own BLAS, in its Python
            stack = sweep.runner.stacks.get(name)
            python = stack.python if isinstance(stack, stacks.Stack) else sweep.runner.python
            measured = calibrate(
                [n[1:] for n in need if n[0] == name],
                **{**self.calibrated, "python": python},
                say=None
                if sweep.mode == "none"
                else lambda line, at=name: print(
                    line + ("" if at == CURRENT_ENV else f" (stack {at})"), file=sys.stderr
                ),
            )
            peaks = peaks + [replace(m, env=name) for m in measured]
        env.peaks = peaks
        t1 = time.monotonic()
        tuned: dict[str, int] = {}
        checked = sweep.checked
        env.plans = tuning.choose(
            [p for _, p in todo],
            checked.plans,
            env,
            differing=checked.differing,
            run=sweep.runner.run,
            mode=sweep.mode,
            counted=tuned,
            cannot=lambda k: checked.skips.get((k.backend, k.device, k.dtype), ""),
        )
        sweep.runner.table = env.plans
        sweep.save()
        sweep.prepared = {
            "calibrations": len(need),
            "calibrate_s": round(t1 - t0, 1),
            "tuned_slots": tuned.get("slots", 0),
            "tune_s": round(time.monotonic() - t1, 1),
        }

    def map(self, todo: list[tuple[int, Point]], recalibrate: bool = True) -> Finished:
        """Each point in turn; with ``recalibrate``, the peak again every
        ``recalibrate_every`` runs and after the last."""
        sweep = self.sweep
        every = sweep.cfg.recalibrate_every
        done_before = len(sweep.points) - len(sweep.todo)
        combos = sorted({(p.key.dtype, p.key.threads, p.key.device) for p in sweep.points})
        for n, (index, point) in enumerate(todo, start=1):
            yield index, point, sweep.runner.run(point), sweep.env.peaks
            if recalibrate and (n == len(todo) or (every and n % every == 0)):
                again = calibrate(combos, **self.calibrated)
                sweep.env.recalibrations.append(Recalibration(done_before + n, tuple(again)))
                sweep.save()


@contextmanager
def local(sweep: Sweep) -> Iterator[LocalExecutor]:
    yield LocalExecutor(sweep)
