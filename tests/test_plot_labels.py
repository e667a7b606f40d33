"""Issue 52: plots whose tick labels overlap ("3x10^-1 4x10^-1") or whose footer is cut. Every
plot of every shipped result set (tests/data and docs/results) is drawn and, laid out as it is
saved, each axis's visible tick labels are checked pairwise for overlapping boxes, and the
footer for covering none of a panel's labels."""

from __future__ import annotations

import shutil
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from mlpbench.analysis.tables import Analysis
from mlpbench.render import plots

ROOT = Path(__file__).resolve().parent.parent
SETS = sorted(
    {  # one folder per distinct result set (a page's set may also be a test's)
        p.read_bytes(): p.parent
        for base in (ROOT / "tests" / "data", ROOT / "docs" / "results")
        for p in sorted(base.glob("*/runs.csv"))
    }.values()
)


def overlaps(fig: Any) -> list[str]:
    """Each pair of visible tick labels on one axis whose boxes overlap, and a footer over a
    panel's labels (the saved image grows to hold every text: bbox_inches="tight")."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels(which="both")
                      if t.get_visible() and t.get_text().strip()]  # fmt: skip
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
            for (a, box_a), (b, box_b) in combinations(boxes, 2):
                if box_a.overlaps(box_b) and (box_a.width > 0 and box_b.width > 0):
                    found.append(f"{ax.get_title() or ax.get_ylabel()!r}: {a!r} over {b!r}")
    footer = fig.texts[-1]  # Context.lay_out's, the last text added
    box = footer.get_window_extent(renderer)
    for ax in fig.axes:  # its tick labels and axis labels: the footer must not cover them
        if ax.get_visible() and box.overlaps(ax.get_tightbbox(renderer)):
            found.append(f"the footer covers {ax.get_title() or ax.get_xlabel()!r}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("folder", SETS, ids=lambda p: p.name)
def test_no_plot_has_overlapping_tick_labels_or_a_cut_footer(folder, tmp_path, monkeypatch):
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("plots", "report.html"))
    problems: dict[str, list[str]] = {}

    def checked(self: Any, fig: Any, name: str) -> Path:  # laid out as saved, not written
        import matplotlib.pyplot as plt

        self.lay_out(fig)
        found = overlaps(fig)
        if found:
            problems[name] = found
        plt.close(fig)
        return self.out / f"{name}.png"

    monkeypatch.setattr(plots.Context, "save", checked)
    made = plots.plot_all(Analysis.of(copy))
    assert made, "no plot drawn"
    assert not problems, problems
