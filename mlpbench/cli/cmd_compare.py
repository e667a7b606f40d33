"""``mlpbench compare A B``: per-point ratios and a test, for people and for CI gates.

Exit 0: no slowdown by the gate's rules (``mlpbench.analysis.compare``); 1: at least one point
is slower beyond the threshold, significantly after the Holm correction or, where the repeats
cannot reach significance, with its whole bootstrap interval beyond the threshold (``--strict``:
also any undecided or unstable point, and a bad row in either folder); 2: bad input or nothing
to compare."""

from __future__ import annotations

import argparse
from typing import Any

EXIT_CODES = """exit status:
  0  no point is slower by more than --threshold by the gate's rules (slowdowns these
     repeats cannot decide are listed, and named in the closing line)
  1  a point is slower by more than --threshold: significant after the Holm correction on
     steady repeats, or with its whole interval beyond it (--strict: also an undecided or
     unstable point)
  2  bad input, nothing to compare, or two sides that measured different work"""


def add(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="ratio table of two result dirs; exit 1 on a slowdown",
        description="Compare two result sets point by point: B's time over A's, a test per "
        "point, and a verdict a CI job can gate on.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", help="baseline result dir")
    p.add_argument("b", help="new result dir")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.10,
        help="relative slowdown that counts (default 0.10 = 10%%)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 also on a slowdown these repeats cannot decide, on unstable points, and "
        "on points that ran on one side only; refuse a folder with a bad row (default: leave "
        "that run out, with a warning)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="compare even when the two sides' [data] or [model] differ",
    )
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.analysis.compare import Gate, compare, differences, one_sided
    from mlpbench.analysis.tables import ResultSet
    from mlpbench.render.text import compare_lines, gate_lines

    set_a, set_b = ResultSet.load(a.a, a.strict), ResultSet.load(a.b, a.strict)
    rows = compare(set_a, set_b, a.threshold, a.alpha, force=a.force)
    for group, lines in differences(set_a, set_b).items():
        print(f"differs ({group}): " + "; ".join(lines))
    only_a, only_b = one_sided(set_a, set_b)
    gate = Gate.of(rows, a.strict, alone=len(only_a) + len(only_b))
    print("\n".join(compare_lines(rows, a.a, a.b)))
    for side, keys in (("A", only_a), ("B", only_b)):
        if keys:
            shown = "; ".join(k.label() for k in keys[:10])
            more = f"; and {len(keys) - 10} more" if len(keys) > 10 else ""
            print(
                f"not compared: {len(keys)} point(s) ran on {side} only: {shown}{more}"
                + (" (--strict fails on them)" if not a.strict else " (--strict: exit 1)")
            )
    print("\n".join(cost_lines(set_a.runs, set_b.runs, a.threshold)))
    if set_a.directory != set_b.directory:
        print(
            "note: A and B ran in separate sessions, so the machine's drift between them is "
            "not controlled (benchmarks/gate_aa.py measures it on your machine); `mlpbench gate "
            "SWEEP --baseline ... --candidate ...` runs both sides interleaved in one session"
        )
    print("\n".join(gate_lines(gate, a.threshold, rows)))
    return gate.exit_code


def cost_lines(a_runs: Any, b_runs: Any, threshold: float) -> list[str]:
    """Why a point moved, in the cost model's terms: which part of the per-step cost changed
    from A to B (series with 3 or more batch sizes on both sides)."""
    from mlpbench.analysis.costs import moved_terms
    from mlpbench.config.points import series_name

    out = []
    for m in moved_terms(a_runs, b_runs, threshold):
        name = series_name(m["backend"], m["options"], m["env"])
        where = f"{m['device']}, {m['dtype']}, {m['threads']} thread(s)"
        terms = "; ".join(
            f"{word} {scale * m['a'][t]:.3g} -> {scale * m['b'][t]:.3g} {unit} "
            f"({100 * m['change'][t]:+.0f}%)"
            for t, word, scale, unit in (("fixed_s", "fixed", 1e3, "ms"),
                                         ("per_sample_s", "per sample", 1e6, "us"))
        )  # fmt: skip
        which = " and ".join(
            {"fixed_s": "the fixed part (dispatch, launches, Python)",
             "per_sample_s": "the per-sample part (arithmetic, copies)"}[t]
            for t in m["moved"]
        )  # fmt: skip
        out.append(f"cost per step, {name} ({where}): {terms}: {which} moved")
    return [""] + out if out else []
