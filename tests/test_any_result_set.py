"""Issue 48: any result set renders, and no two points share a label.

A property-based test (hypothesis) writes result sets over random subsets of the axes (1 to
3 backends; 1 or 2 batch sizes, dtypes, devices, threads, networks, options, stacks;
statuses ok/failed/skipped; one or several repeats; missing phases) and runs each through the
terminal summary, the Markdown page, report.html, every plot and the interactive view. The
crossover sweep whose report died with ZeroDivisionError in plot_crossover (two networks of
different depth, so no panel) is a test of its own.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mlpbench.analysis.findings import findings, verdict_rows
from mlpbench.analysis.tables import Analysis
from mlpbench.config.points import KEY_COLUMNS
from mlpbench.render import interactive, markdown
from mlpbench.render.plots import plot_all
from mlpbench.render.report import write_report
from mlpbench.render.text import summary_lines
from mlpbench.results.schema import EPOCH_COLUMNS, RUN_COLUMNS, SCHEMA_VERSION, columns_record
from mlpbench.results.store import append_rows, write_json

AXIS_VALUES = {
    "backend": ["numpy", "keras", "tf", "numpy-plain"],
    "batch_size": [100, 500, 2000],
    "dtype": ["float32", "float64", "bfloat16"],
    "device": ["cpu", "gpu"],
    "threads": [1, 2, 16],
    "layers": ["784-64-10", "784-512-512-10", "784-70-30-10"],
    "options": ["-", "fused=true"],
    "env": ["current", "numpy126"],
}


def subset(values: list) -> st.SearchStrategy:
    """1 to 3 values of an axis (2 for most: 3 of each of 8 axes is thousands of points, and
    a minute of plots; the pairs already meet every way of keeping points apart)."""
    return st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True)


result_sets = st.fixed_dictionaries(
    {
        **{axis: subset(values) for axis, values in AXIS_VALUES.items()},
        "backend": st.lists(st.sampled_from(AXIS_VALUES["backend"]), min_size=1, max_size=3,
                            unique=True),
        "repeats": st.integers(1, 3),
        "statuses": st.lists(st.sampled_from(["ok", "failed", "skipped"]), min_size=1,
                             max_size=3),
        "phases": st.booleans(),
        "seed": st.integers(0, 1000),
    }
)  # fmt: skip

CROSSOVER = {
    "backend": ["numpy", "keras"],
    "batch_size": [500],
    "dtype": ["float32", "bfloat16"],
    "device": ["cpu"],
    "threads": [2],
    "layers": ["784-64-10", "784-512-512-10"],
    "options": ["-", "keras_backend=jax"],
    "env": ["current"],
    "repeats": 2,
    "statuses": ["ok", "ok", "skipped"],
    "phases": True,
    "seed": 1,
}


def write_set(folder: Path, spec: dict) -> Path:
    """A result set of every combination of ``spec``'s axis values."""
    import random

    rng = random.Random(spec["seed"])
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text('name = "generated"\n')
    write_json(
        folder / "environment.json",
        {
            "schema_version": SCHEMA_VERSION, "columns": columns_record(),
            "cpu_model": "Generated CPU", "cores_usable": 2, "config_name": "generated",
            "peaks": [{"dtype": d, "threads": t, "device": v, "gflops": 50.0}
                      for d in spec["dtype"] for t in spec["threads"] for v in spec["device"]],
        },
    )  # fmt: skip
    axes = [a for a in KEY_COLUMNS if a in AXIS_VALUES or a == "variant"]
    runs, epochs, i = [], [], 0
    combos = itertools.product(*[spec.get(a, ["default"]) for a in axes])
    for repeat, values in itertools.product(range(spec["repeats"]), list(combos)):
        point = dict(zip(axes, values))
        status = spec["statuses"][i % len(spec["statuses"])]
        t = rng.uniform(0.1, 1.0)
        run_id = f"r{i:04d}"
        i += 1
        row = {"run_id": run_id, **point, "repeat": repeat, "status": status}
        if status == "ok":
            row.update(
                dataset="mnist", n_train=60000, epochs=3, import_s=0.1, setup_s=0.1,
                first_epoch_s=2 * t, steady_epoch_s=t, steady_epoch_min_s=t, steady_epoch_max_s=t,
                train_s=4 * t, cpu_s=3 * t, samples_per_s=60000 / t, gflops=5 / t,
                peak_gflops=50.0, efficiency=0.1 / t, final_loss=1.0, final_accuracy=math.nan,
                test_loss=1.0, test_accuracy=0.9, blas_threads=point["threads"],
            )  # fmt: skip
            for e in range(1, 4):
                erow = {"run_id": run_id, **point, "repeat": repeat, "epoch": e, "wall_s": t,
                        "cpu_s": t, "loss": 1.0 / e, "accuracy": math.nan}  # fmt: skip
                if spec["phases"]:
                    erow.update(phase_forward=t / 2, phase_backward=t / 2)
                epochs.append(erow)
        else:
            row["reason"] = f"{status} on purpose"
        runs.append(row)
    append_rows(folder / "runs.csv", RUN_COLUMNS, runs)
    append_rows(folder / "epochs.csv", EPOCH_COLUMNS, epochs)
    return folder


def render_everything(folder: Path) -> None:
    a = Analysis.of(folder)
    lines = summary_lines(a)
    not_run = [x for x in lines[lines.index("not run:") + 1 :]] if "not run:" in lines else []
    twice = [x for x, n in Counter(not_run).items() if n > 1]
    assert not twice, twice  # two distinct points never share a "not run" line
    labels = [(v.batch, v.label) for v in verdict_rows(a)]
    assert len(labels) == len(set(labels)), labels
    markdown.page(a)
    findings(a)
    plots = plot_all(a)
    write_report(a, plots)
    chart = interactive.chart(a)
    if chart is not None:
        chart.to_dict()


def test_the_crossover_sweep_renders(tmp_path):
    """The crossover sweep's report died with ZeroDivisionError in plot_crossover, and its
    "not run" list printed the numpy bfloat16 line twice."""
    render_everything(write_set(tmp_path / "crossover", CROSSOVER))


@pytest.mark.slow
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a failure is shown as generated
)
@given(result_sets)
def test_any_result_set_renders(tmp_path_factory, spec):
    render_everything(write_set(tmp_path_factory.mktemp("any") / "set", spec))
