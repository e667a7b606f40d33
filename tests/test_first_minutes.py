"""The first ten minutes (issue 41): nothing a newcomer meets on the way contradicts itself.
Each defect the walk-through found is a test here."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from mlpbench.cli.app import main
from mlpbench.machine import describe
from mlpbench.render import format as fmt
from mlpbench.results.environment import PlanEntry
from tests.fixture_results import make_results

ROOT = Path(__file__).resolve().parent.parent


def headings(path: Path) -> set[str]:
    return {
        line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#")
    }


def test_every_pointer_a_command_prints_is_a_real_heading():
    """`summary`, `sweep` and `doctor` said `see README, 'When a number cannot be trusted'`:
    the README had no such section any more."""
    assert fmt.POINTERS
    for doc, heading in fmt.POINTERS:
        assert (ROOT / doc).exists(), doc
        assert heading in headings(ROOT / doc), (doc, heading)
    sources = "\n".join(p.read_text() for p in (ROOT / "mlpbench").rglob("*.py"))
    assert not re.search(r"see README, '", sources)  # every pointer goes through fmt.pointer


def test_summary_points_to_the_trust_page(tmp_path, capsys):
    res = make_results(tmp_path / "r", repeats=3)
    env = json.loads((res / "environment.json").read_text())
    env["recalibrations"] = [{"after_runs": 1, "peaks": [
        dict(p, gflops=p["gflops"] * 0.5) for p in env["peaks"]]}]  # fmt: skip
    (res / "environment.json").write_text(json.dumps(env))
    assert main(["summary", str(res)]) == 0
    out = capsys.readouterr().out
    assert "see docs/trust.md, 'When a number cannot be trusted'" in out


def test_compare_help_gives_the_exit_codes(capsys):
    try:
        main(["compare", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert "exit status:" in out and re.search(r"^\s+0 ", out, re.M)
    assert re.search(r"^\s+1 ", out, re.M) and re.search(r"^\s+2 ", out, re.M)


def test_compare_closing_line_names_the_slowdowns_it_cannot_decide(tmp_path, capsys):
    """`compare A B` ended `ok: no point slower by more than 10%` while its rows showed B/A up
    to 1.79x, "slower (untested: 1 vs 1 repeats)"."""
    point = ("keras", 500, "float32", "cpu", 2, "baseline")
    a = make_results(tmp_path / "a", repeats=1)
    b = make_results(tmp_path / "b", repeats=1, slow={point: 1.8}, seed=1)
    assert main(["compare", str(a), str(b)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("ok (exit 0)") and "look slower" in last and "cannot decide" in last
    assert "1.8" in last


def test_a_finished_sweep_leaves_no_lock(tmp_path):
    from mlpbench.config.sweepfile import parse_config
    from mlpbench.sweep.loop import run_sweep
    from tests.test_sweep import config

    out = run_sweep(parse_config(config()), root=tmp_path, quiet=True)
    assert (out / "runs.csv").exists() and not (out / ".lock").exists()


def test_the_commit_comes_from_the_install_record_without_a_checkout(tmp_path, monkeypatch):
    """`git commit` was empty for a clone installed with `pip install .`."""
    repo = tmp_path / "clone"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "pyproject.toml"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip

    class Installed:
        def __init__(self, record: dict) -> None:
            self.record = record

        def read_text(self, name: str) -> str:
            return json.dumps(self.record)

    monkeypatch.setattr(describe, "SOURCE_ROOT", tmp_path / "site-packages")  # no checkout
    monkeypatch.setattr(describe, "distribution", lambda _: Installed(
        {"url": f"file://{repo}", "dir_info": {}}))  # fmt: skip
    assert describe.git_commit() == head
    monkeypatch.setattr(describe, "distribution", lambda _: Installed(
        {"url": "https://x/y.git", "vcs_info": {"vcs": "git", "commit_id": "abcdef0123"}}))
    assert describe.git_commit() == "abcdef0"


def test_a_dtype_the_backend_cannot_do_is_never_tuned(monkeypatch, capsys, tmp_path):
    """`mlpbench run --backend numpy --dtype bfloat16` ran 11 tuning trials of `inf s/epoch`,
    then skipped, and the machine's plan table kept an entry made of Infinity."""
    import math

    from mlpbench.api import plancache
    from mlpbench.sweep import tuning

    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path / "cache"))
    args = ["run", "--backend", "numpy", "--dtype", "bfloat16", "--epochs", "2",
            "--subset", "1000", "--test-subset", "100", "--threads", "1"]  # fmt: skip
    assert main(args) == 3
    captured = capsys.readouterr()
    assert "tuning" not in captured.err + captured.out and "inf s" not in captured.err
    assert "skipped: numpy: dtype 'bfloat16' not supported" in captured.err
    env = describe.machine()
    assert not plancache.read(env)  # nothing written
    # and whatever a tuner gets, no entry of failed trials reaches the table
    plans = {"a": {"env": {}, "options": {}}, "b": {"env": {}, "options": {}}}

    class P:
        key = type("K", (), {"backend": "x", "layers": "4-2", "dtype": "float32",
                             "device": "cpu", "threads": 1, "batch_size": 8})()  # fmt: skip
        run = None

    monkeypatch.setattr(tuning, "trial", lambda p: p)
    monkeypatch.setattr(tuning, "with_plan", lambda p, name, offered: (p, {}))
    table = tuning.tune([P()], {"x": plans}, lambda p, e: math.inf, {})
    assert table == {}
    plancache.write(env, {"s": PlanEntry("a", {"a": math.inf})})
    assert plancache.read(env) == {}


def test_a_sweep_with_no_successful_run_exits_1(fake_plugins, tmp_path, capsys):
    """A bfloat16 sweep on a machine without jax printed `no successful runs` and exited 0."""
    path = tmp_path / "none.toml"
    path.write_text(
        'name = "none"\n[data]\ndataset = "synthetic"\nsynthetic_samples = 200\n'
        "synthetic_features = 20\nsynthetic_classes = 4\n[model]\nlayers = [20, 8, 4]\n"
        '[train]\nepochs = 2\n[grid]\nbackend = ["gpuonly"]\nbatch_size = [50]\n'
        "threads = [1]\n"
    )
    assert main(["sweep", str(path), "--quiet", "--results", str(tmp_path / "r")]) == 1
    assert "no run succeeded (1 run(s): 1 skipped)" in capsys.readouterr().err


def test_a_calibration_that_needs_a_missing_package_says_which():
    from mlpbench.sweep.spawn import calibration_error

    trace = "Traceback (most recent call last):\n...\nModuleNotFoundError: No module named 'jax'\n"
    assert calibration_error(trace) == (
        "not measured: it needs jax, which is not installed here (pip install jax)"
    )
    assert calibration_error("RuntimeError: boom\n") == "RuntimeError: boom"


def test_run_help_shows_every_default_in_plain_words(capsys):
    """`run --help` said `--epochs ... counted from 0 by backends (default: 35)` and showed
    no defaults for --backend, --dtype and --threads."""
    try:
        main(["run", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert "counted from 0" not in out and "DATA_" not in out and "MODEL_" not in out
    body = out.split("options:", 1)[1]
    entries = re.split(r"\n  (?=-)", body)
    for entry in entries:
        if not entry.strip().startswith("-"):
            continue  # a group's heading
        flag = entry.strip().split()[0]
        if flag in ("-h,", "--oversubscribe", "--option", "--regularize-output,"):
            continue
        assert "(default:" in " ".join(entry.split()), entry


def test_the_report_summary_shows_only_what_varies(tmp_path):
    """At 1400 px the Summary table was cut off behind `stack current` and `host ...` columns
    that did not vary; its one-repeat spread read 0.0% where the terminal says -."""
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.report import write_report

    res = make_results(tmp_path / "r", repeats=1)
    page = write_report(Analysis.of(res), []).read_text()
    summary = page.split('id="summary"', 1)[1].split("</section>", 1)[0]
    head = re.findall(r"<th>([^<]*)</th>", summary)
    assert "stack" not in head and "host" not in head and "layers" not in head
    assert "The same in every row: " in summary and "stack current" in summary
    assert "0.0%" not in summary  # one repeat: no spread to show


def test_plots_tell_dtypes_apart_and_one_colour_per_backend_everywhere(tmp_path, monkeypatch):
    """float32 and float64 shared colour and marker (a dash the legend's sample hid); the
    static plots coloured numpy blue and keras red, the interactive view keras blue and numpy
    orange; the note box covered the batch-500 points."""
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render import interactive, plots

    res = make_results(tmp_path / "r", repeats=3)
    (res / "config.toml").write_text(  # the article's model and optimizer, by default
        'name = "fixture"\n[grid]\nbackend = ["numpy", "keras"]\n'
    )
    a = Analysis.of(res)
    assert plots.slow_on_purpose(plots.Context(a, tmp_path / "p"))  # the note is drawn
    drawn: dict[str, list] = {}

    covered: list[str] = []

    def keep(self, fig, name):  # what is drawn, without writing the PNG and SVG
        drawn[name] = [line for ax in fig.axes for line in ax.get_lines() if line.get_label()]
        fig.tight_layout(rect=(0, 0.07, 1, 1))  # as save() lays it out
        fig.canvas.draw()
        for ax in fig.axes:
            box = ax.get_window_extent()
            for text in ax.texts:
                if text.get_bbox_patch() is not None and text.get_window_extent().overlaps(box):
                    covered.append(f"{name}: {text.get_text()[:40]}")
        plots.plt.close(fig)
        return self.out / f"{name}.png"

    monkeypatch.setattr(plots.Context, "save", keep)
    plots.plot_all(a)
    assert "accuracy_time" in drawn and not covered, covered  # a boxed note sits off the data
    for name in ("epoch_time", "speedup", "efficiency"):
        looks = {}
        for line in drawn[name]:
            label = line.get_label()
            if label.startswith("_"):
                continue
            dtype = "float64" if "float64" in label else "float32"
            looks.setdefault(dtype, set()).add((line.get_color(), line.get_marker()))
        if len(looks) == 2:
            assert not looks["float32"] & looks["float64"], (name, looks)
    spec = interactive.chart(a).to_dict()
    scale = next(
        layer["encoding"]["color"]["scale"]
        for layer in spec["layer"]
        if "scale" in layer["encoding"].get("color", {})
    )
    for series, colour in zip(scale["domain"], scale["range"]):
        assert colour == a.color(series)


def test_the_first_lines_say_what_is_decided_what_not_and_why(tmp_path):
    """The quick report's verdict rows all read `1 repeat: direction only` and nothing said
    which command would settle them, nor what "the article" is."""
    from mlpbench.analysis.answer import answer_lines
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.report import write_report

    decided = Analysis.of(make_results(tmp_path / "six", repeats=6))  # 6 pairs: 95% possible
    lines = answer_lines(decided)
    assert lines[0].startswith("Measured: numpy, keras on mnist (60,000 training samples)")
    assert any(x.startswith("Decided (") and "numpy is faster than keras" in x for x in lines)
    assert any(x.startswith("Why: ") and " ms + " in x for x in lines)
    assert sum("The article" in x for x in lines) == 1
    page = write_report(decided, []).read_text()
    # the first screen (issue 52): one sentence, then the table; the words folded below it
    top = page.index('<p class="headline">numpy is faster than keras at ')
    assert top < page.index("<table>") < page.index("<details><summary>The verdict in words")
    assert page.index("<details><summary>The verdict in words") < page.index("Decided (")
    one = Analysis.of(make_results(tmp_path / "one", repeats=1))
    undecided = [x for x in answer_lines(one) if x.startswith("Not decided")]
    assert undecided and "mlpbench sweep" in undecided[0] and "repeats" in undecided[0]


def test_a_finding_states_a_ratio_in_the_verdicts_direction(tmp_path):
    """"its best is 0.47x of numpy's speed" sat right under a "2.11x" time ratio, the
    direction flipped: the finding now says the time ratio the verdict shows."""
    from mlpbench.analysis.findings import findings, verdict_rows
    from mlpbench.analysis.tables import Analysis

    a = Analysis.of(make_results(tmp_path / "r", repeats=3))
    said = [f for f in findings(a) if "does not overtake" in f]
    assert said
    for f in said:
        x = float(re.search(r"at best it takes ([\d.]+)x numpy's time", f).group(1))
        assert x >= 1  # keras takes more time than numpy: a time ratio above 1
        batch = int(re.search(r"at batch (\d+)", f).group(1))
        verdict = {v.batch: v.decision.ratio for v in verdict_rows(a)}
        assert abs(verdict[batch] - x) < 0.01


def test_a_wheel_names_the_commit_its_builder_said(monkeypatch):
    """Issue 52: the GPU page's commit read `unknown`: the device ran a wheel, which knows no
    commit. The bundle records it and on_device.sh says it (MLPBENCH_COMMIT)."""
    from importlib.metadata import PackageNotFoundError

    from mlpbench.machine import describe

    def no_record(_: str) -> None:
        raise PackageNotFoundError("mlpbench")

    monkeypatch.setattr(describe, "_checkout_commit", lambda root: "")
    monkeypatch.setattr(describe, "distribution", no_record)
    monkeypatch.setenv("MLPBENCH_COMMIT", "41cc708")
    assert describe.git_commit() == "41cc708"
    monkeypatch.setenv("MLPBENCH_COMMIT", "<script>")  # only a commit is taken
    assert describe.git_commit() == ""


def test_doctor_names_blas_threads_that_contend_on_a_small_product():
    """Issue 52: a plugin ran 8.98x slower than numpy because two OpenBLAS threads took 7.1 ms
    on a 500x784 by 784x70 product against 0.98 ms with one; nothing said so. The check's rule
    on given times (the real one measures, interleaved, in `mlpbench doctor`)."""
    from mlpbench.machine.doctor import blas_contention

    slow = blas_contention(lambda threads: 7.1e-3 if threads > 1 else 0.98e-3, cores=2)
    assert not slow.ok and "7.10 ms with 2 BLAS threads, 0.98 ms with 1" in slow.detail
    assert "threadpool_limits" in slow.line()
    fine = blas_contention(lambda threads: 0.5e-3 if threads > 1 else 0.9e-3, cores=2)
    assert fine.ok and "threadpool_limits" not in fine.line()
    assert blas_contention(lambda threads: 1.0, cores=1).ok  # one core: nothing to contend


def test_every_rendering_opens_with_one_sentence_and_the_ratio_picture(tmp_path):
    """Issue 52: make bench's report opened with five paragraphs before the table that says
    the same at a glance. The terminal, the page and report.html now open with one sentence
    (each series: where the reference is faster, decided at 95%), then the picture."""
    from mlpbench.analysis.answer import headline
    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.markdown import page
    from mlpbench.render.plots import Context, plot_speedup
    from mlpbench.render.report import write_report
    from mlpbench.render.text import summary_lines

    a = Analysis.of(make_results(tmp_path / "six", repeats=6))
    sentence = headline(a)
    assert sentence.startswith("numpy is faster than keras at ") and sentence.count(". ") == 0
    assert "of 3 comparisons decided at 95%" in sentence
    plots = [plot_speedup(Context(a, a.results.directory / "plots"))]  # the one it needs
    lines = page(a).splitlines()
    assert lines[2] == sentence and lines[4].startswith("![") and "speedup.png" in lines[4]
    assert summary_lines(a)[2].startswith("numpy is faster than keras at ")
    html = write_report(a, plots).read_text()
    assert html.index('class="headline"') < html.index('id="fig-speedup"') < html.index("<table>")
    assert html.count('id="fig-speedup"') == 1  # drawn once, up top


def test_the_gpu_answer_is_said_once_first():
    """The one-sentence answer on a sweep over devices is the GPU question's; the lines under
    it said it again (the GPU page and the terminal printed it twice)."""
    from pathlib import Path

    from mlpbench.analysis.tables import Analysis
    from mlpbench.render.markdown import page
    from mlpbench.render.text import summary_lines

    a = Analysis.of(Path(__file__).parent / "data" / "results-h200")
    lines = page(a).splitlines()
    assert lines[2].startswith("Should you train on the GPU?")
    assert sum("Should you train on the GPU?" in x for x in lines) == 1
    said = "\n".join(summary_lines(a))
    assert said.count("Should you train on the GPU?") == 1
