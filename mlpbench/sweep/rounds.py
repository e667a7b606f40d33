"""The gate's extra rounds: after the planned rounds, each point the gate cannot decide yet
(its interval reaches across a bound) gets one more round on both sides, back to back and in
the order that alternates with the last (A B, then B A), until every point is decided or has
``max_rounds``. A point already decided gets none: its interval cannot change its verdict
without new rounds, and rounds of it would only cost time."""

from __future__ import annotations

import pandas as pd

from mlpbench.analysis import gate
from mlpbench.config import expand
from mlpbench.config.expand import Point
from mlpbench.sweep.loop import MorePolicy
from mlpbench.sweep.session import Sweep


def until_decided(threshold: float, max_rounds: int) -> MorePolicy:
    """The policy ``run_sweep(more=...)`` asks once the planned rounds are done."""

    def more(sweep: Sweep) -> list[tuple[int, Point]]:
        runs = pd.DataFrame(sweep.folder.runs())
        if runs.empty:
            return []
        out: list[tuple[int, Point]] = []
        base = len(sweep.points) + len(sweep.used)
        keys = expand.keys(sweep.cfg)  # baseline then candidate, as the planned rounds run them
        for row in gate.judge(runs, threshold):
            if row.verdict != "undecided":
                continue
            sides = [k for k in keys if gate.same_point(k, row.key)]
            done = int(runs.loc[gate.matches(runs, row.key), "repeat"].max()) + 1
            if done >= max_rounds or len(sides) != 2:
                continue
            order = expand.alternated(sides) if done % 2 else sides  # as expand.points orders
            out += [(base + len(out) + i, expand.point(sweep.cfg, k, done))
                    for i, k in enumerate(order)]  # fmt: skip
        if out:
            sweep.progress.say(
                f"{len(out) // 2} point(s) undecided at {100 * threshold:g}%: one more round each"
            )
        return out

    return more
