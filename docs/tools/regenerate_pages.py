"""Every results page in docs/results/ written again from the result set beside it (after a
change to the analysis or the Markdown renderer), its key plots drawn again (after a change to
the plots), and the README's headline from the page it links: ``make pages``.
tests/test_results_pages.py checks that the pages match byte for byte."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from mlpbench.analysis.tables import Analysis
from mlpbench.render import markdown

ROOT = Path(__file__).resolve().parent.parent.parent


def redraw(folder: Path) -> None:
    """The page's key plots (those its plots/ folder holds) drawn again from its result set."""
    from mlpbench.render.plots import plot_all

    kept = folder / "plots"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / folder.name
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("plots", "report.html"))
        for png in plot_all(Analysis.of(copy)):
            if (kept / png.name).exists():
                shutil.copyfile(png, kept / png.name)


def main() -> int:
    pages = sorted((ROOT / "docs" / "results").glob("*.md"))
    for page in pages:
        redraw(page.with_suffix(""))
        text = markdown.page(Analysis.of(page.with_suffix("")), plots_dir=f"{page.stem}/plots")
        if text != page.read_text():
            page.write_text(text)
            print(f"rewrote {page.relative_to(ROOT)}")
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(markdown.HEADLINE_START), text.index(markdown.HEADLINE_END)
    block = text[start : end + len(markdown.HEADLINE_END)]
    linked = [p for p in pages if f"docs/results/{p.name}" in block]
    if linked:
        new = markdown.headline(Analysis.of(linked[0].with_suffix("")), linked[0].stem)
        if new != block:
            readme.write_text(text.replace(block, new))
            print("rewrote the README's headline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
