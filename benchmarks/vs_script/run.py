"""`mlpbench run --backend numpy` against a plain NumPy script of the same maths, in the
machine's default environment (nothing unset), alternating per batch size: the check behind
"the tuned backend beats what a person writes first". Writes a results page.

    python benchmarks/vs_script/run.py [--rounds 3] [--epochs 5] [--out docs/results/...md]

Each round runs the tool, then the script, for every (batch size, threads); a pair's ratio is
the tool's steady epoch (median of epochs 2..N) over the script's. Both run pinned to the same
cores with the same thread caps.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EPOCH = re.compile(r"^epoch\s+(\d+)/\d+\s+([\d.]+) s", re.M)
PHASES = re.compile(r"^epoch\s+\d+/\d+ .*?loss \S+\s+(.*)$", re.M)
PLAN = re.compile(r"mlpbench run: (plan [^;\n]*)")
TARGET = 0.9  # issues 27 and 40: the tool at most 0.9x the script's time ...
SMALL_BATCH, SMALL_TARGET = 100, 1.0  # ... and at most 1.0x at batch 100 and below (issue 40)
MATHS = ["--optimizer", "sgd", "--momentum", "0.9", "--learning-rate", "0.1",
         "--loss", "binary_crossentropy", "--l2", "0.0001"]  # fmt: skip
LAYERS = (784, 70, 30, 10)  # the article's network, which both sides train


def target(batch: int) -> float:
    return SMALL_TARGET if batch <= SMALL_BATCH else TARGET

GEMM_BOUND = """
import sys, timeit
from threadpoolctl import threadpool_limits
sys.path.insert(0, sys.argv[1])
from gemm_only import gemm_only_step
step = gemm_only_step([int(v) for v in sys.argv[2].split("-")], int(sys.argv[3]))
with threadpool_limits(int(sys.argv[4])):
    n = max(5, 20000 // int(sys.argv[3]))
    print(min(timeit.repeat(step, number=n, repeat=5)) / n)
"""


def gemm_bound(batch: int, threads: int) -> float:
    """Seconds per epoch that the step's GEMMs alone take at this shape (benchmarks/
    gemm_only.py, at their fastest with the operands in cache; the BLAS as shipped, the same
    thread cap): no implementation of these maths can run an epoch faster than this."""
    out = subprocess.run(
        [sys.executable, "-c", GEMM_BOUND, str(HERE.parent), "-".join(map(str, LAYERS)),
         str(batch), str(threads)],
        capture_output=True, text=True, check=True, env=caps(threads),
    )  # fmt: skip
    from mlpbench.data import DataSpec, train_size

    samples = train_size(DataSpec(dataset="mnist"))  # both sides train on all of it
    return float(out.stdout) * -(-samples // batch)


def phases(text: str) -> dict[str, float]:
    """The tool's median seconds per phase over its steady epochs (2..N)."""
    per: dict[str, list[float]] = {}
    for line in PHASES.findall(text)[1:]:
        parts = line.split()
        for name, value in zip(parts[::2], parts[1::2]):
            per.setdefault(name, []).append(float(value))
    return {k: statistics.median(v) for k, v in per.items()}


def steady(text: str) -> float:
    times = [float(s) for _, s in EPOCH.findall(text)]
    return statistics.median(times[1:])


def caps(threads: int) -> dict[str, str]:
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    return {**os.environ, **{k: str(threads) for k in names}}


def cost_lines(rows: list[tuple]) -> list[str]:
    """Each side's cost per step, fitted over the batch sizes at each thread count (the cost
    model's terms, mlpbench.analysis.costs.fit): where a target fails, whether the gap is the
    fixed part per step or the part per sample."""
    from mlpbench.analysis.costs import fit
    from mlpbench.data import DataSpec, train_size

    samples = train_size(DataSpec(dataset="mnist"))
    out = ["", "Cost per step, fitted over the batch sizes (fixed + per sample x batch; the "
           "step's seconds are the steady epoch over its steps):", ""]  # fmt: skip
    for threads in sorted({r[1] for r in rows}):
        mine = [r for r in rows if r[1] == threads]
        batches = [r[0] for r in mine]
        for side, column in (("tool", 2), ("script", 3)):
            steps = [statistics.median(r[column]) / -(-samples // r[0]) for r in mine]
            f = fit(batches, steps)
            if f is None:
                out.append(f"- {side}, {threads} thread(s): needs 3 or more batch sizes")
                continue
            out.append(
                f"- {side}, {threads} thread(s): {1e3 * f.fixed_s:.3f} ms fixed + "
                f"{1e6 * f.per_sample_s:.3f} us per sample (fit within "
                f"{max(1, round(100 * f.residual))}%)"
            )
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, nargs="+", default=[100, 500, 2000, 10000])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", default="")
    a = p.parse_args()
    rows = []
    started = time.time()
    for batch in a.batch_size:
        for threads in a.threads:
            cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:threads])
            tool_cmd = [sys.executable, "-m", "mlpbench", "run", "--backend", "numpy",
                        "--dtype", "float32", "--threads", str(threads), "--batch-size",
                        str(batch), "--epochs", str(a.epochs), *MATHS]  # fmt: skip
            script_cmd = ["taskset", "-c", cpus, sys.executable, str(HERE / "plain_mlp.py"),
                          str(batch), str(a.epochs), "float32"]  # fmt: skip
            ratios, tools, scripts, plan, split = [], [], [], "", {}
            for _ in range(a.rounds):
                tool = subprocess.run(tool_cmd, capture_output=True, text=True, check=True)
                script = subprocess.run(
                    script_cmd, capture_output=True, text=True, check=True, env=caps(threads)
                )
                t, s = steady(tool.stdout), steady(script.stdout)
                plan = (PLAN.findall(tool.stdout) or [""])[-1]
                split = phases(tool.stdout)
                tools.append(t)
                scripts.append(s)
                ratios.append(t / s)
            bound = gemm_bound(batch, threads) / statistics.median(scripts)
            rows.append((batch, threads, tools, scripts, ratios, plan, split, bound))
            r = statistics.median(ratios)
            print(f"batch {batch:>5} threads {threads}: tool/script {r:.2f}x "
                  f"({min(ratios):.2f}-{max(ratios):.2f}), GEMMs alone {bound:.2f}x "
                  f"{plan}", flush=True)  # fmt: skip
    cpu = next(
        (line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines()
         if line.startswith("Model name")), "?")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    lines = [
        f"# mlpbench run (numpy) against a plain NumPy script: {cpu}",
        "",
        "<!-- generated by benchmarks/vs_script/run.py; do not edit -->",
        "",
        f"- machine: {cpu}, {os.cpu_count()} CPUs; environment as found "
        f"({env or 'no OPENBLAS_ variables'})",
        f"- command: `python benchmarks/vs_script/run.py --rounds {a.rounds} --epochs {a.epochs}`"
        f" ({time.time() - started:.0f} s); the tool: `mlpbench run --backend numpy --dtype "
        f"float32 {' '.join(MATHS)} --batch-size B --threads T --epochs {a.epochs}`",
        "- ratio: the tool's steady epoch over the script's, per alternated pair; median (range)",
        f"- target: tool/script at most {TARGET}x, {SMALL_TARGET}x at batch {SMALL_BATCH} and "
        "below (issues 27 and 40); GEMMs alone: the step's GEMMs "
        "timed on their own at that shape (operands in cache, the same BLAS and threads) over "
        "the script's epoch, the floor for any implementation of the same maths; phases: the "
        "tool's median seconds per steady epoch",
        "",
        "| batch | threads | tool s | script s | tool/script | target | GEMMs alone "
        "| tool's phases (s) | plan the tool ran |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for batch, threads, tools, scripts, ratios, plan, split, bound in rows:
        r = statistics.median(ratios)
        verdict = "holds" if r <= target(batch) else "fails"
        lines.append(
            f"| {batch} | {threads} | {statistics.median(tools):.4f} | "
            f"{statistics.median(scripts):.4f} | {r:.2f}x "
            f"({min(ratios):.2f}-{max(ratios):.2f}) | {verdict} | "
            f"{bound:.2f}x | {' '.join(f'{k} {v:.3f}' for k, v in split.items())} | "
            f"{plan.removeprefix('plan ')} |"
        )
    lines += cost_lines(rows)
    page = "\n".join(lines) + "\n"
    if a.out:
        Path(a.out).write_text(page)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
