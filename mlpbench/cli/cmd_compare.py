"""``mlpbench compare A B``: per-point ratios and a test; exit 1 on a slowdown, 2 when nothing
could be compared."""

from __future__ import annotations

import argparse
from typing import Any


def add(sub: Any) -> None:
    p = sub.add_parser("compare", help="ratio table of two result dirs; exit 1 on a slowdown")
    p.add_argument("a", help="baseline result dir")
    p.add_argument("b", help="new result dir")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.10,
        help="relative slowdown that counts (default 0.10 = 10%%)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    p.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from mlpbench.analysis.compare import compare
    from mlpbench.render.text import compare_lines

    rows = compare(a.a, a.b, a.threshold, a.alpha)
    print("\n".join(compare_lines(rows, a.a, a.b)))
    slower = [r for r in rows if r.verdict.startswith("slower")]
    if slower:
        print(f"\n{len(slower)} point(s) slower by more than {100 * a.threshold:.0f}%")
        return 1
    return 0
