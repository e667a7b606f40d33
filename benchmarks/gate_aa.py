"""How often does `mlpbench compare` fail the same code, and catch a planted slowdown, on this
machine? Runs a sweep N times (A/A) and M times with the NumPy backend's article paths
(`compute_input_delta`, `bias_as_column`: slower), then compares every A/A pair and every
(A, planted) pair with compare's gate, as `mlpbench compare A B --threshold T` would exit.

    python benchmarks/gate_aa.py [--sweep gate] [--aa 10] [--planted 5] [--threshold 0.1 0.25]

The result sets stay under results/gate-aa/ for `mlpbench compare` by hand. Prints, per
threshold, the pairs the gate failed (planted: and those failed on every point), the A/A pairs'
largest ratio and the planted pairs' smallest, and the CPU they ran on. A threshold that fails
no A/A pair and every planted point is one this machine can hold a gate to.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from mlpbench.analysis.compare import Gate, compare
from mlpbench.analysis.tables import ResultSet
from mlpbench.config.catalog import find
from mlpbench.sweep.loop import run_sweep

PLANTED = "\n[options.numpy]\ncompute_input_delta = true\nbias_as_column = true\n"
"""The planted slowdown: the NumPy backend's article paths (tests/test_gate.py plants it too)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweep", default="gate", help="a shipped sweep's name or a sweep file")
    ap.add_argument("--aa", type=int, default=10, help="sweeps of the same code (>= 2)")
    ap.add_argument("--planted", type=int, default=5, help="sweeps with the planted slowdown")
    ap.add_argument("--root", type=Path, default=Path("results/gate-aa"))
    ap.add_argument("--threshold", type=float, nargs="+", default=[0.10],
                    help="compare's --threshold values to try on the same sweeps")  # fmt: skip
    args = ap.parse_args()
    if args.aa < 2 or args.planted < 0:
        ap.error("--aa must be 2 or more (pairs of the same code), --planted 0 or more")
    text = find(args.sweep).read_text()
    root = args.root / time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True)
    files = {"same": root / "same.toml", "planted": root / "planted.toml"}
    files["same"].write_text(text)
    files["planted"].write_text(text + PLANTED)
    t0 = time.time()
    same = [run_sweep(files["same"], root=root / "same", quiet=True) for _ in range(args.aa)]
    planted = [
        run_sweep(files["planted"], root=root / "planted", quiet=True) for _ in range(args.planted)
    ]
    same, planted = [ResultSet.load(d) for d in same], [ResultSet.load(d) for d in planted]
    cpu = same[0].env.get("cpu_model", "?")
    print(f"{args.sweep}: {args.aa} A/A sweeps, {args.planted} planted, {time.time() - t0:.0f} s")
    print(f"CPU: {cpu}; result sets under {root}")
    for threshold in args.threshold:
        aa = [compare(a, b, threshold) for a, b in itertools.combinations(same, 2)]
        ab = [compare(a, b, threshold) for a in same for b in planted]
        every = sum(len(Gate.of(r).failing) == len(r) for r in ab)
        print(f"--threshold {threshold}: A/A pairs failed {sum(Gate.of(r).exit_code for r in aa)} "
              f"of {len(aa)}; planted pairs failed {sum(Gate.of(r).exit_code for r in ab)} "
              f"of {len(ab)}, on every point {every}")  # fmt: skip
    worst = max((r for rows in aa for r in rows), key=lambda r: r.ratio)
    print(f"largest A/A ratio: {worst.ratio:.2f} ({worst.key.label()})")
    if ab:
        least = min((r for rows in ab for r in rows), key=lambda r: r.ratio)
        print(f"smallest planted ratio: {least.ratio:.2f} ({least.key.label()})")


if __name__ == "__main__":
    main()
