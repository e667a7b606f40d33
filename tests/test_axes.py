"""Every key axis a sweep varies reaches every table, finding, plot and menu (issue 37): for
each axis, a small result set that varies only it must render with no two rows or series
under one label. The H200 result set (tests/data/results-h200, a real CPU-against-GPU sweep)
must say CPU against GPU in words: verdict labels with the device, the GPU's speed-up and
where it pays off, and each series' per-step cost."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from mlpbench.analysis import costs
from mlpbench.analysis.axes import word
from mlpbench.analysis.findings import findings, verdict_rows
from mlpbench.analysis.tables import Analysis
from mlpbench.config.points import KEY_COLUMNS
from mlpbench.render import interactive, plots
from mlpbench.render.text import summary_lines
from mlpbench.results.schema import EPOCH_COLUMNS, RUN_COLUMNS, SCHEMA_VERSION, columns_record
from mlpbench.results.store import append_rows, write_json

H200 = Path(__file__).parent / "data" / "results-h200"
BASE = {
    "batch_size": 1000, "dtype": "float32", "device": "cpu", "threads": 2,
    "variant": "default", "layers": "784-70-30-10", "options": "-", "env": "current",
}  # fmt: skip
TWO = {  # each axis's two values; batch size is the x axis and varies in every set
    "device": ("cpu", "gpu"),
    "dtype": ("float32", "float64"),
    "threads": (1, 2),
    "layers": ("784-70-30-10", "784-32-10"),
    "options": ("keras_backend=jax", "keras_backend=torch"),
    "env": ("current", "older"),
    "variant": ("default", "slow"),
    "batch_size": (100, 1000),
}


def one_axis(directory: Path, axis: str) -> Path:
    """numpy and keras at batch 100, 1000 and 10000, 3 repeats, varying ``axis`` only."""
    directory.mkdir(parents=True)
    (directory / "config.toml").write_text('name = "axis"\n')
    write_json(
        directory / "environment.json",
        {"schema_version": SCHEMA_VERSION, "columns": columns_record(), "cpu_model": "Fixture",
         "config_name": "axis", "peaks": [], "versions": {}},
    )  # fmt: skip
    runs, epochs = [], []
    values = TWO[axis] if axis != "batch_size" else (None,)
    for repeat in range(3):
        for backend in ("numpy", "keras"):
            for value in values:
                for batch in (100, 1000, 10000):
                    point = {**BASE, "backend": backend, "batch_size": batch}
                    if value is not None:
                        point[axis] = value
                    if axis == "options" and backend == "numpy":
                        point["options"] = "-"
                    steps = -(-60000 // batch)
                    fixed = 0.001 * (3 if backend == "keras" else 1)
                    fixed *= 1.0 if value in (None, TWO[axis][0]) else 1.7
                    t = steps * (fixed + 2e-6 * batch) * (1 + 0.01 * repeat)
                    run_id = f"r{len(runs):04d}"
                    key = {c: point[c] for c in KEY_COLUMNS if c != "repeat"}
                    runs.append(
                        {"run_id": run_id, **key, "repeat": repeat, "status": "ok",
                         "dataset": "mnist", "n_train": 60000, "epochs": 3, "import_s": 0.1,
                         "setup_s": 0.1, "first_epoch_s": t * 1.5, "steady_epoch_s": t,
                         "steady_epoch_min_s": t, "steady_epoch_max_s": t, "train_s": 3 * t,
                         "cpu_s": t, "samples_per_s": 60000 / t, "gflops": 1.0 / t,
                         "peak_gflops": 100.0, "efficiency": 0.01 / t, "final_loss": 1.0,
                         "test_loss": 1.0, "test_accuracy": 0.9, "blas_threads": 1}
                    )  # fmt: skip
                    for e in (1, 2, 3):
                        epochs.append(
                            {"run_id": run_id, **key, "repeat": repeat, "epoch": e,
                             "wall_s": t, "cpu_s": t, "loss": 1.0 / e,
                             **({"phase_forward": t / 2, "phase_backward": t / 2}
                                if backend == "numpy" else {})}
                        )  # fmt: skip
    append_rows(directory / "runs.csv", RUN_COLUMNS, runs)
    append_rows(directory / "epochs.csv", EPOCH_COLUMNS, epochs)
    return directory


def legend_labels(a: Analysis, tmp_path: Path, monkeypatch) -> dict[str, list[list[str]]]:
    """Every plot's legend labels, per panel, as drawn (the figure before it is saved)."""
    seen: dict[str, list[list[str]]] = {}

    def keep(self, fig, name):  # the labels as drawn; no PNG or SVG written (the slow part)
        seen[name] = [ax.get_legend_handles_labels()[1] for ax in fig.axes]
        plots.plt.close(fig)
        return self.out / f"{name}.png"

    monkeypatch.setattr(plots.Context, "save", keep)
    plots.plot_all(a)
    return seen


@pytest.mark.parametrize("axis", list(TWO))
def test_each_key_axis_renders_distinctly_everywhere(axis, tmp_path, monkeypatch):
    a = Analysis.of(one_axis(tmp_path / axis, axis))
    assert axis in a.axes.varying
    rows = verdict_rows(a)
    labels = [(v.batch, v.label) for v in rows]
    assert rows and len(labels) == len(set(labels)), labels
    said = findings(a)
    assert len(said) == len(set(said)), [f for f, n in Counter(said).items() if n > 1]
    lines = [x for x in summary_lines(a) if x.strip()]
    table = [x for x in lines if x.startswith(("numpy", "keras"))]
    assert len(table) == len(set(table)), table  # the terminal's summary rows
    for name, panels in legend_labels(a, tmp_path, monkeypatch).items():
        for labels_ in panels:
            twice = [x for x, n in Counter(labels_).items() if n > 1]
            assert not twice, (name, twice)
    spec = interactive.chart(a).to_dict()
    menus = {p["name"] for p in spec.get("params", []) if "bind" in p and "name" in p}
    if axis in ("device", "dtype", "threads", "layers", "variant"):
        assert axis in menus, menus  # a menu for it, and it splits the lines
    if axis not in ("batch_size",):
        assert axis not in a.axes.header()  # said once as varying, not as fixed
        # nor any of its values among the fixed ones said once in the header
        assert axis not in a.axes.fixed
        header = a.axes.header().split(", ")
        assert not {word(axis, v) for v in TWO[axis]} & set(header), header


def test_the_h200_set_answers_cpu_against_gpu(tmp_path):
    folder = tmp_path / "h200"
    shutil.copytree(H200, folder)
    a = Analysis.of(folder)
    rows = verdict_rows(a)
    labels = [(v.batch, v.label) for v in rows]
    assert len(labels) == len(set(labels)) == 24
    assert all(v.label.split("(")[1].startswith(("cpu,", "gpu,")) for v in rows)
    said = findings(a)
    for f in said:  # every finding that names a series names its device
        if f.startswith(("jax", "keras", "torch", "numpy", "Cost per step", "At batch")):
            assert "cpu" in f or "gpu" in f or "GPU" in f or "CPU" in f, f
    assert set(a.phases_by_device) == {"cpu", "gpu"}  # never one bar of both devices
    device = a.device_verdict
    assert list(device["series"]) == ["jax", "keras/jax", "keras/torch", "numpy", "torch"]
    pays = dict(zip(device["series"], device["GPU pays off from"]))
    # numpy on CuPy: 0.890 s at batch 100 on the GPU against 0.520 s on the CPU, then faster
    assert pays["numpy"] == "batch 1000" and pays["keras/torch"] == "nowhere in this sweep"
    fits = a.costs.set_index(["backend", "options", "device"])
    numpy_gpu = fits.loc[("numpy", "-", "gpu")]
    steps = costs.step_times(a.results.runs)
    measured = steps[(steps["backend"] == "numpy") & (steps["device"] == "gpu")]["step_s"]
    assert numpy_gpu["fixed_s"] == pytest.approx(measured.min(), rel=0.1)  # ~1.45 ms a step
    assert numpy_gpu["per_sample_s"] * 10000 < numpy_gpu["fixed_s"]  # flat: launch-bound
    cost_lines = [f for f in said if f.startswith("Cost per step")]
    assert len(cost_lines) == 10 and all(" ms fixed + " in f for f in cost_lines)
    assert any("GPU pays off nowhere" in f or "pays off nowhere" in f for f in said)
    spec = interactive.chart(a).to_dict()
    assert "device" in {p["name"] for p in spec.get("params", []) if "bind" in p}
    layers = spec.get("layer", [])
    lines = [x for x in layers if x.get("mark", {}).get("type") == "line"]
    assert lines and "device" in str(lines[0]["encoding"].get("detail"))


def test_the_cost_model_fits_known_terms_and_needs_three_batches():
    batches = [100, 1000, 10000]
    fit = costs.fit(batches, [0.002 + 3e-6 * b for b in batches])
    assert fit.fixed_s == pytest.approx(0.002) and fit.per_sample_s == pytest.approx(3e-6)
    assert fit.residual < 1e-9 and fit.balance_batch == pytest.approx(2000 / 3)
    assert costs.fit([100, 1000], [0.002, 0.005]) is None
    assert "dispatch-bound below batch ~667" in costs.regime(0.002, 3e-6, batches)


def test_compare_says_which_cost_term_moved(tmp_path, capsys):
    """Issue 37: compare names the part of the per-step cost that moved: a B whose every step
    costs 2 ms more (overhead) moved the fixed part, not the per-sample one."""
    import pandas as pd

    from mlpbench.analysis.costs import moved_terms
    from mlpbench.cli.app import main

    a = one_axis(tmp_path / "a", "batch_size")
    b = one_axis(tmp_path / "b", "batch_size")
    runs = pd.read_csv(b / "runs.csv")
    steps = -(-runs["n_train"] // runs["batch_size"])
    runs["steady_epoch_s"] = runs["steady_epoch_s"] + steps * 0.002  # 2 ms more a step
    runs.to_csv(b / "runs.csv", index=False)
    moved = {m["backend"]: m["moved"] for m in moved_terms(
        pd.read_csv(a / "runs.csv"), runs, 0.10)}  # fmt: skip
    assert moved == {"numpy": ["fixed_s"], "keras": ["fixed_s"]}
    main(["compare", str(a), str(b)])
    out = capsys.readouterr().out
    assert "cost per step, numpy (cpu, float32, 2 thread(s)): fixed 1.01 -> 3.01 ms" in out, out
    assert "the fixed part (dispatch, launches, Python) moved" in out
