"""``mlpbench run``: train one backend once and print per-epoch times and a summary."""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import asdict, replace
from typing import Any

from mlpbench.api.protocol import DEVICES, DTYPES, EpochRecord, ModelSpec, SpecError, TrainSpec
from mlpbench.api.spec import RunSpec
from mlpbench.cli.common import add_spec_arguments, option, spec_from_args
from mlpbench.data import DataSpec
from mlpbench.machine.threads import cpu_count, pin_plan, usable_cpus


def add(sub: Any) -> None:
    p = sub.add_parser("run", help="train one backend once and print per-epoch times")
    g = p.add_argument_group("where")
    g.add_argument("--backend", default="numpy", help="an installed backend (mlpbench backends)")
    g.add_argument("--device", default="cpu", choices=DEVICES)
    g.add_argument("--dtype", default="float32", choices=DTYPES)
    g.add_argument("--threads", type=int, default=cpu_count(), help="BLAS/framework threads")
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


def with_named_plan(spec: RunSpec) -> RunSpec:
    """The run with the thread plan named by ``-o plan=NAME`` applied as a sweep applies it
    (mlpbench.sweep.tuning.settings). The plan's environment variables are read when the libraries
    load, which in `mlpbench run` has happened already: a plan that the shell's variables would
    change (one it needs missing, or another plan's set) is refused with the command to use."""
    from mlpbench.api import registry
    from mlpbench.sweep import tuning as plans

    name = str(spec.options.get("plan", plans.AUTO))
    cls = registry.load(spec.backend).cls
    offered = cls.thread_plans() if callable(getattr(cls, "thread_plans", None)) else {}
    if name not in offered:  # auto, no plans, or a name the backend's options check refuses
        return spec
    options, _ = plans.settings(dict(spec.options), name, offered)
    change = plans.environment_mismatch(offered, name, os.environ)
    if change:
        raise SpecError(
            f"-o plan={name} needs `env {' '.join(change)}` before NumPy loads: run "
            f"`env {' '.join(change)} mlpbench run ...` (a sweep sets them for each point's "
            "worker)"
        )
    return replace(spec, options=options)


def run(a: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    from mlpbench.machine.threads import thread_env
    from mlpbench.render.text import run_summary_lines
    from mlpbench.worker import train as runner

    spec = with_named_plan(run_spec_from_args(a))
    for key, value in thread_env(spec.threads).items():
        os.environ.setdefault(key, value)
    m, t = spec.model, spec.train
    print(
        f"mlpbench run: {spec.backend} on {spec.device}, {spec.dtype}, {spec.threads} threads | "
        f"{spec.data.dataset} | {'-'.join(map(str, m.layers))} {m.activation}/"
        f"{m.output_activation}, {t.optimizer} lr={t.learning_rate}, l2={m.l2}, "
        f"batch {t.batch_size}, {t.epochs} epochs",
        flush=True,
    )
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
    print("\n".join(run_summary_lines(asdict(summary))))
    return 0
