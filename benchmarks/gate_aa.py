"""How often does `mlpbench compare` fail the same code, and catch a planted slowdown, on this
machine? Runs a sweep N times (A/A) and M times with the NumPy backend's article paths
(`compute_input_delta`, `bias_as_column`: slower), then compares every A/A pair and the first
sweep against each planted one with compare's gate, as `mlpbench compare A B` would exit.

    python benchmarks/gate_aa.py [--sweep gate] [--aa 10] [--planted 5]

The result sets stay under results/gate-aa/ for `mlpbench compare` by hand. Prints the counts,
the A/A pairs' largest ratio and the planted pairs' smallest, and the CPU they ran on.
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
    aa = [compare(a, b) for a, b in itertools.combinations(same, 2)]
    ab = [compare(same[0], b) for b in planted]
    cpu = same[0].env.get("cpu_model", "?")
    print(f"{args.sweep}: {args.aa} A/A sweeps, {args.planted} planted, {time.time() - t0:.0f} s")
    print(f"CPU: {cpu}; result sets under {root}")
    print(f"A/A pairs failed by the gate: {sum(Gate.of(r).exit_code for r in aa)} of {len(aa)}")
    print(f"planted pairs failed: {sum(Gate.of(r).exit_code for r in ab)} of {len(ab)}")
    worst = max((r for rows in aa for r in rows), key=lambda r: r.ratio)
    print(f"largest A/A ratio: {worst.ratio:.2f} ({worst.key.label()}: {worst.verdict})")
    if ab:
        least = min((r for rows in ab for r in rows), key=lambda r: r.ratio)
        print(f"smallest planted ratio: {least.ratio:.2f} ({least.key.label()}: {least.verdict})")


if __name__ == "__main__":
    main()
