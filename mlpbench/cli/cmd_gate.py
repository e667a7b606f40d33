"""``mlpbench gate SWEEP --baseline SIDE --candidate SIDE``: a CI gate that holds on a noisy
runner. Both sides run in one session, in rounds, each point's two runs back to back in
alternating order; the per-round ratio decides (``mlpbench.analysis.gate``)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlpbench.analysis.gate import BASELINE, CANDIDATE
from mlpbench.config.points import CURRENT_ENV

EXIT_CODES = """exit status:
  0  no point is slower than the baseline by more than --threshold: the whole interval of
     its per-round ratio is not beyond it (undecided points are listed; --strict fails them)
  1  a point is slower: the whole interval of its per-round ratio (candidate / baseline) lies
     above 1 + --threshold
  2  bad input (a side, the sweep file, a setting), or nothing to compare"""

SIDE_HELP = (
    "'current' (this environment as it is), or requirements separated by spaces as pip takes "
    "them: 'numpy==2.3.*', a local folder or a git URL of a package ('./my-plugin', "
    "'git+https://host/org/plugin@main')"
)


def add(sub: Any) -> None:
    p = sub.add_parser(
        "gate",
        help="baseline against candidate in one session, interleaved; exit 1 on a slowdown",
        description="Run a sweep's points on two sides (versions, a plugin at two refs, or "
        "this environment) in alternating rounds, and fail only on a slowdown the rounds "
        "decide.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sweep", help="a sweep file or a shipped sweep's name (gate is a small one)")
    p.add_argument("--baseline", required=True, metavar="SIDE", help=SIDE_HELP)
    p.add_argument("--candidate", required=True, metavar="SIDE", help="as --baseline")
    p.add_argument(
        "--threshold", type=float, default=0.05,
        help="relative slowdown that fails (default: %(default)s = 5%%)",
    )  # fmt: skip
    p.add_argument(
        "--rounds", type=int, default=10,
        help="rounds: each point once per side per round (default: %(default)s; 6 or more "
        "give the median a 95%% interval, 10 one without the extremes)",
    )  # fmt: skip
    p.add_argument(
        "--max-rounds", type=int, default=30,
        help="rounds a point the first --rounds leave undecided may get, one at a time, until "
        "its interval is decided (default: %(default)s; = --rounds: no more)",
    )  # fmt: skip
    p.add_argument(
        "--strict", action="store_true", help="exit 1 also on a point the rounds cannot decide"
    )
    p.add_argument("--results", default="results", help="where the result set goes")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def side(text: str, flag: str) -> list[str]:
    """A side's requirements ([] for the running environment)."""
    from mlpbench.errors import UserError

    words = text.split()
    if not words:
        raise UserError(f"{flag}: empty; allowed: {SIDE_HELP}")
    if words == ["current"]:
        return []
    out = []
    for word in words:
        if word.startswith((".", "/", "~")):
            path = Path(word).expanduser().resolve()
            if not path.exists():
                raise UserError(f"{flag}: {word!r} is not a folder here; allowed: {SIDE_HELP}")
            word = str(path)
        out.append(word)
    return out


def gate_text(text: str, path: str, rounds: int, sides: dict[str, list[str]]) -> str:
    """The sweep file's text as the gate runs it: its points on two stacks (``env`` =
    baseline, candidate), ``rounds`` repeats, no extra repeats (they would not alternate)."""
    from mlpbench.config.sweepfile import parse_toml
    from mlpbench.errors import UserError

    doc = parse_toml(text)
    if doc.get("environments") or "env" in doc.get("grid", {}):
        raise UserError(f"{path}: a gate names its own two sides; leave [environments] out")
    if "grid" not in doc:
        raise UserError(f"{path}: no [grid] table: nothing to gate")
    lines = [x for x in text.splitlines() if not re.match(r"\s*(repeats|max_repeats)\s*=", x)]
    grid_at = next(i for i, x in enumerate(lines) if re.match(r"\s*\[grid\]\s*(#.*)?$", x))
    lines.insert(grid_at + 1, f'env = ["{BASELINE}", "{CANDIDATE}"]')
    first_table = next(i for i, x in enumerate(lines) if re.match(r"\s*\[", x))
    lines.insert(first_table, f"repeats = {rounds}")
    for name, requirements in sides.items():
        lines += ["", f"[environments.{name}]", f"requirements = {json.dumps(requirements)}"]
    return "\n".join(lines) + "\n"


def run(a: argparse.Namespace) -> int:
    from mlpbench.analysis import gate
    from mlpbench.analysis.tables import ResultSet
    from mlpbench.config.catalog import find
    from mlpbench.config.sweepfile import load_config, parse_config, parse_toml
    from mlpbench.errors import UserError
    from mlpbench.sweep.loop import run_sweep
    from mlpbench.sweep.rounds import until_decided

    if not 0 < a.threshold < 1:
        raise UserError(f"--threshold = {a.threshold:g}: must be between 0 and 1 (0.05 = 5%)")
    if a.rounds < 6:
        raise UserError(f"--rounds = {a.rounds}: must be 6 or more (a 95% interval needs 6)")
    if a.max_rounds < a.rounds:
        raise UserError(f"--max-rounds = {a.max_rounds}: must be --rounds ({a.rounds}) or more")
    sides = {BASELINE: side(a.baseline, "--baseline"), CANDIDATE: side(a.candidate, "--candidate")}
    path = find(a.sweep)
    load_config(path)  # the file as it is: its own mistakes are one line each, as for sweep
    text = gate_text(Path(path).read_text(), str(path), a.rounds, sides)
    cfg = parse_config(parse_toml(text), str(path), text)
    from mlpbench.sweep.preflight import prepare_stacks

    # Both sides built (into the cache; the sweep finds them there) before anything runs: a
    # side that cannot be built leaves nothing to compare, so the gate refuses at once.
    ready = prepare_stacks(cfg, "none" if a.quiet else "lines")
    broken = {n: why for n, why in ready.items() if isinstance(why, str) and why != CURRENT_ENV}
    if broken:
        raise UserError(
            "; ".join(
                f"--{name} {a.baseline if name == BASELINE else a.candidate!r}: cannot be built "
                f"({why})"
                for name, why in broken.items()
            )
            + "; nothing was run"
        )
    more = until_decided(a.threshold, a.max_rounds)
    directory = run_sweep(cfg, root=Path(a.results), quiet=a.quiet, more=more)
    results = ResultSet.load(directory)
    rows = gate.judge(results.runs, a.threshold)
    if not rows:
        print(f"nothing to compare: no point ran on both sides ({directory})", file=sys.stderr)
        return 2
    print("\n".join(lines(rows, a.threshold, a.baseline, a.candidate, directory)))
    return gate.exit_code(rows, a.strict)


def lines(rows: list[Any], threshold: float, base: str, cand: str, directory: Path) -> list[str]:
    """One line per point (ratio, interval, rounds, verdict) and the closing line."""
    pct = f"{100 * threshold:g}%"
    out = [
        f"gate: candidate ({cand}) against baseline ({base}), threshold {pct}; ratio = "
        "candidate time / baseline time per round, median and its 95% sign-test interval",
    ]
    labels = [replace(r.key, env=CURRENT_ENV).label() for r in rows]
    width = max([len(x) for x in labels] + [5])
    for r, label in zip(rows, labels):
        interval = "-" if r.low != r.low else f"{r.low:.3f}-{r.high:.3f}"
        out.append(
            f"  {label:<{width}}  {r.ratio:6.3f}x  [{interval}]  {r.rounds} rounds  {r.verdict}"
        )
    slower = [r for r in rows if r.fails]
    undecided = [r for r in rows if r.verdict == "undecided"]
    if slower:
        out.append(f"FAIL: {len(slower)} point(s) slower by more than {pct}, the whole interval "
                   "beyond it")  # fmt: skip
    else:
        tail = f"; {len(undecided)} undecided (more --max-rounds may decide them)"
        out.append(f"ok: no point slower by more than {pct}" + (tail if undecided else ""))
    out.append(f"results: {directory} (mlpbench report / compare read it; env = the side)")
    return out
