"""Every results page in docs/results/ written again from the result set beside it (after a
change to the analysis or the Markdown renderer), and the README's headline from the page it
links: ``make pages``. tests/test_results_pages.py checks that they match byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path

from mlpbench.analysis.tables import Analysis
from mlpbench.render import markdown

ROOT = Path(__file__).resolve().parent.parent.parent


def main() -> int:
    pages = sorted((ROOT / "docs" / "results").glob("*.md"))
    for page in pages:
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
