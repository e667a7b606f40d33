"""``mlpbench run``: train one backend once and print per-epoch times and a summary."""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from dataclasses import asdict
from typing import Any

from mlpbench.api.protocol import DEVICES, DTYPES, EpochRecord, ModelSpec, SpecError, TrainSpec
from mlpbench.api.spec import RunSpec
from mlpbench.cli.common import add_spec_arguments, option, spec_from_args
from mlpbench.data import DataSpec
from mlpbench.machine.threads import cpu_count, pin_plan, usable_cpus
from mlpbench.results.point import PointResult


def add(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="train one backend once and print per-epoch times",
        description="Train one backend once and print per-epoch times and a summary.",
        epilog="exit status: 0 trained; 2 bad input (one line naming the flag); 3 the point "
        "was skipped (the backend cannot run that device or dtype here; the line says why); "
        "1 the backend failed; 130 interrupted.",
    )
    g = p.add_argument_group("where")
    g.add_argument(
        "--backend",
        default="numpy",
        metavar="NAME",
        help="an installed backend: `mlpbench backends` lists them (default: %(default)s)",
    )
    g.add_argument(
        "--device", default="cpu", choices=DEVICES, help="where to train (default: %(default)s)"
    )
    g.add_argument(
        "--dtype", default="float32", choices=DTYPES, help="number type (default: %(default)s)"
    )
    g.add_argument(
        "--threads",
        type=int,
        default=cpu_count(),
        metavar="N",
        help="threads for the BLAS and the framework (default: every usable core)",
    )
    g.add_argument(
        "--profile",
        action="store_true",
        help="then one more run whose steady epochs are sampled on every thread (Linux perf; "
        "py-spy where perf cannot run), and the table of where a step's CPU time goes; that "
        "run is not timed (default: off)",
    )
    g.add_argument(
        "--oversubscribe",
        action="store_true",
        help="allow more threads than usable cores (measuring oversubscription on purpose)",
    )
    g.add_argument(
        "--option",
        "-o",
        type=option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option, e.g. compute_input_delta=true or jit_compile=true",
    )
    add_spec_arguments(p.add_argument_group("data"), DataSpec, "data_")
    add_spec_arguments(p.add_argument_group("model"), ModelSpec, "model_")
    add_spec_arguments(p.add_argument_group("training"), TrainSpec, "train_")
    p.set_defaults(func=run)


def run_spec_from_args(a: argparse.Namespace) -> RunSpec:
    if a.threads <= 0:
        raise SpecError(f"--threads = {a.threads}: must be >= 1")
    if a.threads > cpu_count() and not a.oversubscribe:
        raise SpecError(
            f"--threads = {a.threads} is more than the {cpu_count()} usable cores; allowed: "
            f"1-{cpu_count()} (add --oversubscribe to measure oversubscription on purpose)"
        )
    return RunSpec(
        backend=a.backend,
        device=a.device,
        dtype=a.dtype,
        threads=a.threads,
        model=spec_from_args(ModelSpec, a, "model_"),
        train=spec_from_args(TrainSpec, a, "train_"),
        data=spec_from_args(DataSpec, a, "data_"),
        options=dict(a.option),
    )


def epoch_line(e: EpochRecord, epochs: int) -> str:
    acc = "" if math.isnan(e.accuracy) else f"  acc {e.accuracy:.4f}"
    phases = "  " + " ".join(f"{k} {v:.3f}" for k, v in e.phases.items()) if e.phases else ""
    return (
        f"epoch {e.epoch + 1:3d}/{epochs}  {e.wall_s:8.3f} s  (cpu {e.cpu_s:6.2f} s)  "
        f"loss {e.loss:.4f}{acc}{phases}"
    )


RERUN_ENV = "MLPBENCH_RUN_PLAN"  # set in the re-run process: the plan line to print, once


def rerun_with(env: dict[str, str | None]) -> dict[str, str] | None:
    """The environment this process must be re-run in for the plan's variables to hold (they
    are read when NumPy loads, which has happened here), or None when it holds already."""
    if all(os.environ.get(k) == v for k, v in env.items()):
        return None
    out = {k: v for k, v in os.environ.items() if k not in env or env[k] is not None}
    out.update({k: v for k, v in env.items() if v is not None})
    return out


def plan_words(env: dict[str, str | None]) -> str:
    """A plan's variables in words: ``OPENBLAS_THREAD_TIMEOUT=4 set`` or
    ``OPENBLAS_THREAD_TIMEOUT left unset (OpenBLAS's default)``."""
    return ", ".join(
        f"{k} left unset (OpenBLAS's default)" if v is None else f"{k}={v} set"
        for k, v in sorted(env.items())
    )


def plans_change(env: dict[str, str | None]) -> str:
    """The plan's variables in ``env``'s own syntax (``-u VAR`` to unset one)."""
    return " ".join(f"-u {k}" if v is None else f"{k}={v}" for k, v in sorted(env.items()))


def point_run(
    spec: RunSpec, timeout: float, env: dict[str, str | None] | None = None, script: bool = False
) -> PointResult:
    """``spec`` as a sweep runs one point: its own process, pinned and capped like the timed
    run (``script``: as the backend's standalone script)."""
    from mlpbench.config.expand import Point
    from mlpbench.config.points import PointKey
    from mlpbench.sweep.runner import PointRunner

    runner = PointRunner(
        timeout, pin=spec.threads < len(usable_cpus()), scripts={spec.backend} if script else set()
    )
    return runner.run(Point(PointKey.of_run(spec), 0, spec, None), env or {})


def profiled_run(spec: RunSpec) -> PointResult:
    """One more run of ``spec`` in a fresh worker, as a sweep's profiled run is: its steady
    epochs sampled (``mlpbench.worker.profiler``), the result with its profile."""
    from mlpbench.results.profile import PROFILE_ENV

    return point_run(spec, 600, {PROFILE_ENV: "auto"})


def script_run(spec: RunSpec) -> int:
    """A backend that is a script by definition (numpy-script) runs as its standalone script,
    as a sweep runs it: its own process, pinned and capped, no mlpbench inside."""
    from mlpbench.render.text import run_summary_lines

    print(f"mlpbench run: {spec.backend} runs as its standalone script (its own process)",
          flush=True)  # fmt: skip
    result = point_run(spec, 3600, script=True)
    if not result.ok or result.summary is None:
        print(f"{result.status}: {result.reason}", file=sys.stderr)
        return 3 if result.status == "skipped" else 1
    for e in result.epochs:
        print(epoch_line(e, len(result.epochs)), flush=True)
    print("\n".join(run_summary_lines(asdict(result.summary), device=spec.device)))
    return 0


def run(a: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    from mlpbench.machine.threads import thread_env
    from mlpbench.render.text import profile_lines, run_summary_lines
    from mlpbench.worker import train as runner

    spec = run_spec_from_args(a)
    from mlpbench.api import registry

    registry.check_unique([spec.backend])
    if spec.backend not in registry.available():
        from mlpbench.sweep.spawn import unknown_backend

        raise SpecError(unknown_backend(spec.backend))
    from mlpbench.api.framework import hook

    if hook(registry.load(spec.backend).cls, "always_script"):
        return script_run(spec)
    mode = "lines" if not sys.stderr.isatty() else "bar"
    from mlpbench.sweep import tuning
    from mlpbench.sweep.runner import PointRunner

    spec, plan_env, plan_line = tuning.resolve(spec, mode, PointRunner(timeout=600).run)
    environ = rerun_with(plan_env)
    if environ is not None:
        if os.environ.get(RERUN_ENV):  # the re-run could not set them: never loop
            raise SpecError(f"{plan_line}: its variables did not hold in the re-run")
        change = plans_change(plan_env)
        print(
            f"mlpbench run: {plan_line}; re-running with `env {change}` (read when NumPy loads)",
            flush=True,
        )
        argv = list(getattr(a, "raw_argv", [])[1:])  # what followed `run`
        name = spec.options["plan"]
        child = subprocess.run(
            [sys.executable, "-m", "mlpbench", "run", *argv, "-o", f"plan={name}"],
            env={**environ, RERUN_ENV: plan_line},
        )
        return child.returncode
    plan_line = os.environ.get(RERUN_ENV) or plan_line
    for key, value in thread_env(spec.threads).items():
        os.environ.setdefault(key, value)
    m, t = spec.model, spec.train
    print(
        f"mlpbench run: {spec.backend} on {spec.device}, {spec.dtype}, "
        f"{spec.threads} thread{'s' if spec.threads != 1 else ''} | "
        f"{spec.data.dataset} | {'-'.join(map(str, m.layers))} {m.activation}/"
        f"{m.output_activation}, {t.optimizer} lr={t.learning_rate}, l2={m.l2}, "
        f"batch {t.batch_size}, {t.epochs} epochs",
        flush=True,
    )
    from mlpbench.sweep.tuning import plans_apply

    if not plans_apply(spec.device):
        print(f"mlpbench run: on the {spec.device.upper()}: no CPU thread plan", flush=True)
    elif plan_line:
        held = f"; {plan_words(plan_env)}" if plan_env else ""
        print(f"mlpbench run: {plan_line}{held}", flush=True)
    everything = usable_cpus()
    cpus, _ = pin_plan(spec.threads, everything, pin=spec.threads < len(everything))
    os.sched_setaffinity(0, cpus)  # as a sweep's worker is: `threads` cores
    try:
        with threadpool_limits(limits=spec.threads):
            summary, _ = runner.run(spec, lambda e: print(epoch_line(e, t.epochs), flush=True))
    except runner.Skip as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 3
    finally:
        os.sched_setaffinity(0, everything)
    print("\n".join(run_summary_lines(asdict(summary), device=spec.device)))
    if getattr(a, "profile", False):
        print(
            "\nmlpbench run: profiling one more run in a fresh worker (not timed)...", flush=True
        )
        profile = profiled_run(spec)
        if profile.profile is None:
            print(f"profile: the profiled run {profile.status}: {profile.reason}")
        else:
            over = profile.seconds / summary.steady_epoch_s if profile.ok else math.nan
            print("\n".join(profile_lines(profile.profile, over)))
    if tuning.TUNED in plan_line and spec.options.get("plan"):  # not one named with -o plan
        from mlpbench.config.points import PointKey
        from mlpbench.machine import describe

        key = PointKey.of_run(spec)
        stale = tuning.check_against_run(
            describe.machine(), key, str(spec.options["plan"]), summary.steady_epoch_s,
            summary.n_train,
        )  # fmt: skip
        if stale:
            print(f"mlpbench run: {stale}", flush=True)
    return 0
