"""The ``mlpbench`` command. Bad input exits with code 2 and one message, never a traceback."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from bench import data as datasets
from bench.errors import Interrupted, UserError
from bench.protocol import (
    ACTIVATIONS,
    DTYPES,
    INITS,
    LOSSES,
    OPTIMIZERS,
    OUTPUT_ACTIVATIONS,
    SHUFFLE,
    TRAIN_ACCURACY,
    EpochRecord,
    ModelSpec,
    SpecError,
    TrainSpec,
)
from bench.threads import cpu_count


class UsageError(UserError):
    """Exit code 2, message only."""


LAYERS = re.compile(r"\d+(,\d+)+|\d+(-\d+)+")


def _layers(text: str) -> tuple[int, ...]:
    """Layer sizes as ``784,70,30,10`` or ``784-70-30-10``; nothing else (a minus sign, an
    empty size or a fraction is an error, never a silently different network)."""
    if not LAYERS.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of layer sizes such as 784,70,30,10 (positive integers)"
        )
    return tuple(int(v) for v in re.split("[,-]", text.strip()))


def _option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: backend options are KEY=VALUE")
    key, value = text.split("=", 1)
    lowered = value.strip().lower()
    parsed: Any = value
    if lowered in ("true", "false"):
        parsed = lowered == "true"
    else:
        for conv in (int, float):
            try:
                parsed = conv(value)
                break
            except ValueError:
                pass
    return key.strip(), parsed


def add_run_parser(sub: Any) -> None:
    d_model, d_train = ModelSpec(), TrainSpec()
    p = sub.add_parser("run", help="train one backend once and print per-epoch times")
    g = p.add_argument_group("where")
    g.add_argument("--backend", default="numpy", help="an installed backend (mlpbench backends)")
    g.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
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
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option, e.g. compute_input_delta=true or jit_compile=true",
    )
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="mnist", choices=datasets.DATASETS)
    g.add_argument("--data-path", default="", help="IDX directory or mnist.npz (else built in)")
    g.add_argument("--subset", type=int, default=0, help="training samples to use (0 = all)")
    g.add_argument("--test-subset", type=int, default=0)
    g.add_argument("--scaling", default="divide255", choices=datasets.SCALINGS)
    g = p.add_argument_group("model")
    g.add_argument("--layers", type=_layers, default=d_model.layers, help="e.g. 784,70,30,10")
    g.add_argument("--activation", default=d_model.activation, choices=ACTIVATIONS)
    g.add_argument(
        "--output-activation", default=d_model.output_activation, choices=OUTPUT_ACTIVATIONS
    )
    g.add_argument("--loss", default=d_model.loss, choices=LOSSES)
    g.add_argument("--l1", type=float, default=d_model.l1)
    g.add_argument("--l2", type=float, default=d_model.l2)
    g.add_argument("--regularize-output", action="store_true")
    g.add_argument("--init", default=d_model.init, choices=INITS)
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=d_train.epochs)
    g.add_argument("--batch-size", type=int, default=d_train.batch_size)
    g.add_argument("--optimizer", default=d_train.optimizer, choices=OPTIMIZERS)
    g.add_argument("--learning-rate", "--lr", type=float, default=d_train.learning_rate)
    g.add_argument("--momentum", type=float, default=d_train.momentum)
    g.add_argument(
        "--decay", type=float, default=d_train.decay, help="the article's decrease_const"
    )
    g.add_argument("--shuffle", default=d_train.shuffle, choices=SHUFFLE)
    g.add_argument("--seed", type=int, default=d_train.seed)
    g.add_argument("--train-accuracy", default=d_train.train_accuracy, choices=TRAIN_ACCURACY)
    p.set_defaults(func=cmd_run)


def run_spec_from_args(a: argparse.Namespace) -> Any:
    from bench.spec import RunSpec

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
        model=ModelSpec(
            layers=a.layers,
            activation=a.activation,
            output_activation=a.output_activation,
            loss=a.loss,
            l1=a.l1,
            l2=a.l2,
            regularize_output=a.regularize_output,
            init=a.init,
        ),
        train=TrainSpec(
            epochs=a.epochs,
            batch_size=a.batch_size,
            optimizer=a.optimizer,
            learning_rate=a.learning_rate,
            momentum=a.momentum,
            decay=a.decay,
            shuffle=a.shuffle,
            seed=a.seed,
            train_accuracy=a.train_accuracy,
        ),
        data=datasets.DataSpec(
            dataset=a.dataset,
            subset=a.subset,
            test_subset=a.test_subset,
            scaling=a.scaling,
            path=a.data_path,
        ),
        options=dict(a.option),
    )


def cmd_run(a: argparse.Namespace) -> int:
    import os

    from threadpoolctl import threadpool_limits

    from bench import runner
    from bench.threads import thread_env

    spec = run_spec_from_args(a)
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

    def show(e: EpochRecord) -> None:
        acc = "" if math.isnan(e.accuracy) else f"  acc {e.accuracy:.4f}"
        phases = "  " + " ".join(f"{k} {v:.3f}" for k, v in e.phases.items()) if e.phases else ""
        print(
            f"epoch {e.epoch + 1:3d}/{t.epochs}  {e.wall_s:8.3f} s  (cpu {e.cpu_s:6.2f} s)  "
            f"loss {e.loss:.4f}{acc}{phases}",
            flush=True,
        )

    with threadpool_limits(limits=spec.threads):
        try:
            summary, epochs = runner.run(spec, show)
        except runner.Skip as e:
            print(f"skipped: {e}", file=sys.stderr)
            return 3
    print_summary(asdict(summary))
    return 0


def print_summary(s: dict[str, Any]) -> None:
    n_steady = max(s["epochs"] - 1, 1)
    rows = [
        ("data", f"{s['dataset']}, {s['n_train']} training samples"),
        (
            "start-up",
            f"import {s['import_s']:.2f} s, build {s['setup_s']:.2f} s, "
            f"first epoch {s['first_epoch_s']:.3f} s",
        ),
        (
            "steady-state epoch",
            f"{s['steady_epoch_s']:.3f} s median "
            f"(min {s['steady_epoch_min_s']:.3f}, max "
            f"{s['steady_epoch_max_s']:.3f}) over {n_steady} epochs",
        ),
        ("throughput", f"{s['samples_per_s']:,.0f} samples/s, {s['gflops']:.1f} GFLOP/s"),
        ("total training", f"{s['train_s']:.2f} s wall, {s['cpu_s']:.2f} s CPU"),
        (
            "final train loss",
            f"{s['final_loss']:.4f}"
            + ("" if math.isnan(s["final_accuracy"]) else f", accuracy {s['final_accuracy']:.4f}"),
        ),
        ("test", f"loss {s['test_loss']:.4f}, accuracy {s['test_accuracy']:.4f}"),
        (
            "threads",
            f"BLAS {s['blas']} with {s['blas_threads']} threads"
            + (f"; framework {s['framework_threads']}" if s["framework_threads"] else ""),
        ),
        ("peak memory", f"{s['peak_rss_mb']:.0f} MiB"),
    ]
    if s.get("backend_info"):
        rows.append(("backend", s["backend_info"]))
    print("summary")
    for k, v in rows:
        print(f"  {k:<19} {v}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlpbench",
        description="Benchmark a NumPy MLP against the same network in Keras/TensorFlow.",
    )
    p.add_argument("--version", action="version", version=f"mlpbench {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run_parser(sub)
    for add in _extra_parsers():
        add(sub)
    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlpbench")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _extra_parsers() -> list[Any]:
    from bench import commands

    return commands.PARSERS


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        return int(a.func(a) or 0)
    except datasets.DataError as e:
        print(f"mlpbench {a.command}: data error: {e}", file=sys.stderr)
        return 2
    except (UserError, FileNotFoundError) as e:
        print(f"mlpbench {a.command}: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        return e.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a backend failed: one line; the traceback on request
        if os.environ.get("MLPBENCH_DEBUG"):
            raise
        print(
            f"mlpbench {a.command}: failed: {type(e).__name__}: {e}\n"
            "(MLPBENCH_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
