"""Can `mlpbench gate` hold a 5% threshold on this machine? Runs the gate N times A/A (the
same plugin on both sides) and N times against a planted slowdown (the plugin at a second
"ref" whose step is 10% slower), and counts how often each exits 1.

    python benchmarks/gate_check.py [--sweep FILE] [--aa 10] [--planted 10] [--threshold 0.05]
                                    [--rounds 10] [--max-rounds 30]
                                    [--page docs/results/gate-check/DATE-CPU.md]

The slowdown is planted in a package, not in mlpbench: two copies of a small backend plugin
(`planted`, the NumPy backend whose every training step busy-waits until it has taken FACTOR
times as long), version 1.0 with FACTOR 1.0 and 1.1 with FACTOR 1.10, each installed into a
version stack of its own as a gate side is (`--baseline ./v1 --candidate ./v2`). It writes a
page with the counts, the widest A/A interval, the narrowest planted one, the wall time and
the CPU (`lscpu`'s model name), generated from what it measured.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGIN = '''
"""A NumPy backend whose every training step takes FACTOR times as long (busy-waiting)."""
import time

from mlpbench.backends.numpy.trainer import NumpyTrainer

FACTOR = {factor}


class Planted(NumpyTrainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        step = self.model.step

        def slower(*a, **k):
            t0 = time.perf_counter()
            out = step(*a, **k)
            end = t0 + FACTOR * (time.perf_counter() - t0)
            while time.perf_counter() < end:
                pass
            return out

        self.model.step = slower
'''
PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "mlpbench-planted"
version = "{version}"
dependencies = ["numpy"]

[project.entry-points."mlpbench.backends"]
planted = "mlpbench_planted:Planted"

[tool.setuptools]
py-modules = ["mlpbench_planted"]
"""
SWEEP = """name = "gate-check"
min_measured_s = 1.0
[data]
dataset = "synthetic"
synthetic_samples = 10000
synthetic_features = 784
synthetic_classes = 10
[model]
layers = [784, 64, 10]
[train]
epochs = 6
[grid]
backend = ["planted"]
batch_size = [100, 500]
threads = [1]
"""


def plugin(folder: Path, version: str, factor: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mlpbench_planted.py").write_text(PLUGIN.format(factor=factor))
    (folder / "pyproject.toml").write_text(PYPROJECT.format(version=version))
    return folder


def one_gate(sweep: Path, base: Path, cand: Path, args: argparse.Namespace, root: Path):
    """(exit code, [(point, ratio, low, high, verdict, rounds)]) of one `mlpbench gate` run."""
    out = subprocess.run(
        [sys.executable, "-m", "mlpbench", "gate", str(sweep), "--baseline", str(base),
         "--candidate", str(cand), "--threshold", str(args.threshold), "--rounds",
         str(args.rounds), "--max-rounds", str(args.max_rounds), "--results", str(root),
         "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    rows = re.findall(
        r"^  (.+?)\s+([\d.]+)x  \[([\d.]+)-([\d.]+)\]  (\d+) rounds  (\w+)$", out.stdout, re.M
    )
    if out.returncode not in (0, 1) or not rows:
        raise SystemExit(f"the gate failed to run: {out.stderr.strip()[-500:]}")
    return out.returncode, [
        (p, float(r), float(lo), float(hi), v, int(n)) for p, r, lo, hi, n, v in rows
    ]


def cpu_name() -> str:
    """lscpu's model name, family and model, and the CPUs this process may use."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        field = dict(
            (k.strip(), v.strip()) for k, _, v in (x.partition(":") for x in text.splitlines())
        )
        name = field.get("Model name") or platform.processor() or "unknown CPU"
    except OSError:
        field, name = {}, platform.processor() or "unknown CPU"
    family = f", family {field['CPU family']} model {field['Model']}" if "Model" in field else ""
    return f"{name}{family}, {len(os.sched_getaffinity(0))} CPUs usable"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweep", type=Path, help="a sweep file whose backend is `planted`")
    ap.add_argument("--aa", type=int, default=10)
    ap.add_argument("--planted", type=int, default=10)
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--max-rounds", type=int, default=30)
    ap.add_argument("--page", type=Path, help="write the results page here (Markdown), and "
                    "what it was generated from beside it (the same name, .json)")  # fmt: skip
    ap.add_argument("--from-record", type=Path, metavar="JSON",
                    help="no gates: write --page again from a run's .json record")  # fmt: skip
    args = ap.parse_args()
    if args.from_record:
        record = json.loads(args.from_record.read_text())
        if args.page:
            write_page(args.page, record)
        return
    work = Path(tempfile.mkdtemp(prefix="gate-check-"))
    v1 = plugin(work / "planted-1.0", "1.0", 1.0)
    v2 = plugin(work / "planted-1.1", "1.1", 1.10)
    sweep = args.sweep or work / "sweep.toml"
    if not args.sweep:
        sweep.write_text(SWEEP)
    t0 = time.monotonic()
    results = {"aa": [], "planted": []}
    # A/A and planted gates alternate, so that a slow hour of the machine hits both kinds.
    order = [("aa", v1)] * args.aa + [("planted", v2)] * args.planted
    order = [x for pair in itertools.zip_longest(order[: args.aa], order[args.aa :]) for x in pair
             if x is not None]  # fmt: skip
    for kind, cand in order:
        t1 = time.monotonic()
        code, rows = one_gate(sweep, v1, cand, args, work / "results")
        results[kind].append({"exit": code, "rows": rows, "wall_s": time.monotonic() - t1})
        print(f"{kind} {len(results[kind])}: exit {code}; " + "; ".join(
            f"{p} {r:.3f}x [{lo:.3f}-{hi:.3f}] {v} ({n} rounds)"
            for p, r, lo, hi, v, n in rows), flush=True)  # fmt: skip
    wall = time.monotonic() - t0
    aa_fail = sum(g["exit"] == 1 for g in results["aa"])
    pl_fail = sum(g["exit"] == 1 for g in results["planted"])
    aa_rows = [r for g in results["aa"] for r in g["rows"]]
    pl_rows = [r for g in results["planted"] for r in g["rows"]]
    widest = max(aa_rows, key=lambda r: r[3] - r[2]) if aa_rows else None
    lowest = min(pl_rows, key=lambda r: r[2]) if pl_rows else None
    summary = {
        "cpu": cpu_name(), "threshold": args.threshold, "rounds": args.rounds,
        "aa_runs": len(results["aa"]), "aa_failed": aa_fail,
        "planted_runs": len(results["planted"]), "planted_failed": pl_fail,
        "widest_aa_interval": widest[2:4] if widest else None,
        "lowest_planted_bound": lowest[2] if lowest else None, "wall_s": round(wall),
        "gate_wall_s": [round(g["wall_s"]) for k in results for g in results[k]],
        "point_rounds": [r[5] for r in aa_rows + pl_rows],
    }  # fmt: skip
    print(json.dumps(summary))
    record = {
        "command": " ".join(["python benchmarks/gate_check.py", *sys.argv[1:]]),
        "settings": {k: getattr(args, k) for k in ("threshold", "rounds", "max_rounds")},
        "summary": summary,
        "results": results,
    }
    if args.page:
        write_page(args.page, record)


def write_page(path: Path, record: dict) -> None:
    """The page, and beside it the record it is generated from (``--from-record``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    path.write_text(page(record))


def page(record: dict) -> str:
    summary, results = record["summary"], record["results"]
    args = argparse.Namespace(**record["settings"])
    lines = [
        f"# mlpbench gate at {100 * args.threshold:g}%: A/A and a planted 1.10x slowdown",
        "",
        f"<!-- generated by `{record['command']}`"
        + (f" ({record['how']})" if record.get("how") else "")
        + "; do not edit -->",
        "",
        f"- CPU: {summary['cpu']}; threshold {100 * args.threshold:g}%; {args.rounds} rounds a "
        f"gate, and one at a time up to {args.max_rounds} where a point is undecided",
        f"- wall time: {summary['wall_s']} s in all; a gate took "
        f"{min(summary['gate_wall_s'], default=0)}-{max(summary['gate_wall_s'], default=0)} s; "
        f"a point ran {min(summary['point_rounds'], default=0)}-"
        f"{max(summary['point_rounds'], default=0)} "
        "rounds",
        f"- A/A (the plugin at 1.0 on both sides): {summary['aa_failed']} of "
        f"{summary['aa_runs']} gates failed",
        f"- planted (1.0 against 1.1, every step 1.10x as long): {summary['planted_failed']} of "
        f"{summary['planted_runs']} gates failed",
    ]
    if summary["widest_aa_interval"]:
        lo, hi = summary["widest_aa_interval"]
        lines.append(f"- widest A/A interval: {lo:.3f}-{hi:.3f}")
    if summary["lowest_planted_bound"] is not None:
        bound = summary["lowest_planted_bound"]
        lines.append(f"- lowest lower bound of a planted point: {bound:.3f}")
    lines += [
        "",
        "| gate | exit | wall s | points (ratio [interval] verdict, rounds) |",
        "| --- | --- | --- | --- |",
    ]
    for kind in ("aa", "planted"):
        for i, g in enumerate(results[kind], 1):
            pts = "; ".join(
                f"{p} {r:.3f}x [{lo:.3f}-{hi:.3f}] {v}, {n}" for p, r, lo, hi, v, n in g["rows"]
            )
            lines.append(f"| {kind} {i} | {g['exit']} | {g['wall_s']:.0f} | {pts} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
