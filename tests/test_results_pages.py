"""Results pages are generated, never typed: a page regenerates byte for byte from the result
set beside it, every page in docs/results/ does, and the README's headline is cut from one."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlpbench.analysis.tables import Analysis
from mlpbench.render import markdown
from tests.fixture_results import make_results

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs" / "results").glob("*.md"))


def test_a_page_regenerates_from_its_result_set(tmp_path):
    res = make_results(tmp_path / "res", repeats=6)
    from mlpbench.render.plots import plot_all

    analysis = Analysis.of(res)
    written = markdown.write_page(analysis, tmp_path / "pages", plot_all(analysis))
    beside = written.with_suffix("")
    assert (beside / "runs.csv").exists() and (beside / "plots" / "epoch_time.png").exists()
    again = markdown.page(Analysis.of(beside), plots_dir=f"{written.stem}/plots")
    assert again == written.read_text()
    text = written.read_text()
    assert text.index("## Verdict") < text.index("## Findings")
    assert "| 500 | keras (float32, 2 threads) |" in text and "numpy faster" in text


def test_one_repeat_gives_the_direction_only(tmp_path):
    res = make_results(tmp_path / "one", repeats=1)
    text = markdown.page(Analysis.of(res))
    assert "1 repeat: direction only" in text and "-1." not in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_results_page_regenerates_byte_for_byte(page):
    folder = page.with_suffix("")
    assert (folder / "runs.csv").exists(), f"{page.name} has no result set beside it"
    assert markdown.page(Analysis.of(folder), plots_dir=f"{page.stem}/plots") == page.read_text()


def test_the_readme_headline_is_cut_from_a_results_page():
    readme = (ROOT / "README.md").read_text()
    start = readme.index(markdown.HEADLINE_START)
    block = readme[start : readme.index(markdown.HEADLINE_END) + len(markdown.HEADLINE_END)]
    linked = [p for p in PAGES if f"docs/results/{p.name}" in block]
    assert linked, "the README's headline links no page in docs/results/"
    assert block == markdown.headline(Analysis.of(linked[0].with_suffix("")), linked[0].stem)


def test_the_report_opens_with_the_verdict(tmp_path):
    from mlpbench.render.report import write_report

    res = make_results(tmp_path / "r", repeats=6)
    html = write_report(Analysis.of(res), []).read_text()
    assert html.index('id="verdict"') < html.index('id="findings"')
    assert "numpy faster" in html


def test_the_gpu_page_answers_the_gpu_question_in_its_first_3_lines():
    """Issue 52: the GPU page opened with "Decided: none of the 24 comparisons yet" and a
    ten-series paragraph; the answer came after a 24-row table."""
    folder = ROOT / "docs" / "results" / "2026-12-04-intel-r-xeon-r-processor-gpu"
    first = markdown.page(Analysis.of(folder)).splitlines()[:3]
    answer = first[2]
    assert answer.startswith("Should you train on the GPU? Train on the GPU with ")
    assert "numpy from batch 1000" in answer and "keras/torch" in answer
    assert "does not pay off in this sweep" in answer
