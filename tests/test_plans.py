"""Thread plans: every plan trains the same weights; tune picks the fastest and caches it per
machine; a sweep runs each point with its plan and records it (issue 13)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from mlpbench import data as datasets
from mlpbench.api import conformance as testing
from mlpbench.api.conformance import DATA, SPEC
from mlpbench.api.protocol import TrainSpec
from mlpbench.backends.numpy.trainer import THREAD_PLANS, NumpyTrainer, differs_at
from mlpbench.config.sweepfile import parse_config
from mlpbench.machine.threads import cpu_count
from mlpbench.results.environment import Environment, PlanEntry
from mlpbench.sweep import tuning as plans
from mlpbench.sweep.loop import run_sweep
from mlpbench.sweep.preflight import preflight


def _weights(options: dict, dtype: str = "float32", threads: int = 2) -> list[np.ndarray]:
    train = TrainSpec(epochs=2, batch_size=50, shuffle="harness", learning_rate=0.01, seed=2)
    t = NumpyTrainer(SPEC, train, dtype=dtype, options={"threads": threads, **options})
    t.fit(datasets.load(DATA, dtype))
    return t.weights()


def _small_pieces(options: dict) -> dict:
    """A "-chunk" plan's options with pieces small enough that this suite's batches of 50 (25
    rows a block) are cut: at its real size they would be one piece, its unchunked sibling."""
    return {**options, "chunk_rows": 8} if options.get("chunk_rows") else options


def _relative(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max() / np.abs(x).max()) for x, y in zip(a, b))


def test_every_plan_trains_the_same_weights():
    """Plans that change only threads give bit-identical weights. Four change the order of
    the sums: data-parallel sums the weight gradient per row block, then over blocks; "-chunk"
    sums it per piece of a block, then over pieces; "-tgrad" computes it as (D^T A)^T, which
    the BLAS sums in another order; "-pad" widens the hidden layers with zero units (SPEC's 12
    to 16), whose products the BLAS blocks differently. Plans that share all four switches are
    bit-identical; across them the weights agree within float rounding (or exactly, where the
    shapes are too small for the order to differ) (measured: under 1e-6 relative in float32,
    1e-15 in float64 after 2 epochs), and each is bit-identical from run to run."""

    def arithmetic(plan: dict) -> tuple[bool, bool, bool, bool]:
        o = plan["options"]
        return (
            bool(o.get("data_parallel")),
            bool(o.get("transposed_gradient")),
            o.get("pad_to", 1) > 1,
            bool(o.get("chunk_rows")),
        )

    for dtype, tol in (("float32", 1e-5), ("float64", 1e-13)):
        first = _weights({**THREAD_PLANS["spin"]["options"], "plan": "spin"}, dtype)
        seen: dict[tuple[bool, bool], list[np.ndarray]] = {}
        for name, plan in THREAD_PLANS.items():
            w = _weights(_small_pieces({**plan["options"], "plan": name}), dtype)
            group = arithmetic(plan)
            if group in seen:  # the same arithmetic on other threads: the same bits
                assert all(np.array_equal(a, b) for a, b in zip(seen[group], w)), (name, dtype)
                continue
            seen[group] = w
            if group == (False, False, False):
                assert all(np.array_equal(a, b) for a, b in zip(first, w)), (name, dtype)
            else:
                assert _relative(first, w) < tol, (name, dtype)
                again = _weights(_small_pieces({**plan["options"], "plan": name}), dtype)
                assert all(np.array_equal(a, b) for a, b in zip(w, again)), (name, dtype)
        # every combination of the first three switches, and "-chunk" on both of its plans
        assert len(seen) == 10, dtype


def test_a_chunked_block_runs_in_pieces_and_sums_their_gradients():
    """ "-chunk" cuts each thread's block into near-equal pieces of at most chunk_rows rows (on
    one thread the whole batch is the block); its weights are the unchunked plan's within
    float rounding, and one piece is exactly the unchunked plan."""
    plan = THREAD_PLANS["data-parallel-tgrad-chunk"]
    assert plan["one_thread"] and plan["options"]["chunk_rows"] == plan["chunk_rows"] > 1
    base = {**THREAD_PLANS["data-parallel-tgrad"]["options"], "plan": "data-parallel-tgrad"}
    train = TrainSpec(epochs=2, batch_size=50, shuffle="harness", learning_rate=0.01, seed=2)
    for threads in (1, 2):
        unchunked = _weights(base, "float64", threads)
        options = {"threads": threads, **plan["options"], "chunk_rows": 8}
        t = NumpyTrainer(SPEC, train, dtype="float64", options=options)
        t.fit(datasets.load(DATA, "float64"))
        # the pieces the steps ran, from the trained model's own layout of a batch of 50
        n_blocks, which = t.model._layouts[50]
        blocks = sorted((ps[0][0], ps[-1][1], ps) for _, ps in which.values())
        assert n_blocks == threads and [len(ps) for *_, ps in blocks] == (
            [7] if threads == 1 else [4, 4]
        )
        assert blocks[0][0] == 0 and blocks[-1][1] == 50
        for lo, hi, ps in blocks:  # they tile the block, none over 8 rows
            assert ps[0][0] == lo and ps[-1][1] == hi and all(b - a in (6, 7, 8) for a, b in ps)
            assert all(b == a2 for (_, b), (a2, _) in zip(ps, ps[1:]))
        assert _relative(unchunked, t.weights()) < 1e-13
        whole = _weights({**plan["options"], "chunk_rows": 50}, "float64", threads)
        assert all(np.array_equal(a, b) for a, b in zip(unchunked, whole))


class DataParallelNumpy(NumpyTrainer):
    """The numpy backend as the data-parallel plan runs it, for the conformance kit."""

    def __init__(self, spec, train, device="cpu", dtype="float32", options=None):
        options = {**(options or {}), "threads": 2, "data_parallel": True}
        super().__init__(spec, train, device, dtype, options)


def test_the_data_parallel_plan_passes_the_conformance_kit():
    """Every kit check, partial last batches included (a batch smaller than the blocks)."""
    assert set(testing.run_all(DataParallelNumpy).values()) == {"ok"}


class PaddedDataParallelNumpy(NumpyTrainer):
    """The numpy backend as data-parallel-tgrad-pad runs it (every switch at once)."""

    def __init__(self, spec, train, device="cpu", dtype="float32", options=None):
        plan = THREAD_PLANS["data-parallel-tgrad-pad"]["options"]
        options = {**(options or {}), "threads": 2, **plan}
        super().__init__(spec, train, device, dtype, options)


def test_the_padded_data_parallel_plan_passes_the_conformance_kit():
    assert set(testing.run_all(PaddedDataParallelNumpy).values()) == {"ok"}


class ChunkedNumpy(NumpyTrainer):
    """The numpy backend as data-parallel-tgrad-pad-chunk runs it, in pieces small enough
    that the kit's batches are cut (and its partial last batches are smaller than a piece)."""

    def __init__(self, spec, train, device="cpu", dtype="float32", options=None):
        plan = THREAD_PLANS["data-parallel-tgrad-pad-chunk"]["options"]
        options = {**(options or {}), "threads": 2, **plan, "chunk_rows": 8}
        super().__init__(spec, train, device, dtype, options)


def test_the_chunked_plan_passes_the_conformance_kit():
    assert set(testing.run_all(ChunkedNumpy).values()) == {"ok"}


def test_tune_picks_the_fastest_and_caches_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path))
    cfg = parse_config({"grid": {"backend": ["numpy"], "batch_size": [100, 500], "threads": [2]}})
    from mlpbench.config import expand

    points = expand.points(cfg)
    speed = {"spin": 3.0, "spin-split": 2.0, "sleep": 1.0, "sleep-split": math.inf}
    calls = []

    def run(point, env):
        name = point.run.options["plan"]
        calls.append((name, dict(env), point.run.data.subset))
        return speed.get(name, 4.0)

    table = plans.tune(points, {"numpy": THREAD_PLANS}, run, {})
    assert {e.choice for e in table.values()} == {"sleep"} and len(table) == 2
    assert ("sleep", {"OPENBLAS_THREAD_TIMEOUT": "4"}, 100 * plans.TUNE_STEPS) in calls
    env = {"cpu_model": "X", "cores_usable": 2}
    path = plans.write_cache(env, table)
    assert path.parent == tmp_path and plans.read_cache(env) == table
    assert plans.read_cache({**env, "cpu_model": "Y"}) == {}  # another machine, another cache
    assert any("-> sleep" in line and "sleep-split failed" in line for line in plans.lines(table))
    calls.clear()
    plans.tune(points, {"numpy": THREAD_PLANS}, run, table)
    assert calls == []  # cached: nothing measured again
    newer = {**THREAD_PLANS, "new-plan": {"env": {}, "options": {}}}
    speed["new-plan"] = 0.5
    table = plans.tune(points, {"numpy": newer}, run, table)
    assert {e.choice for e in table.values()} == {"new-plan"}  # a plan the cache lacks


def test_a_trial_is_shorter_on_wide_networks():
    """Trials of a wide network run fewer steps (each long enough to time), at least one."""
    from mlpbench.config import expand

    def trial_samples(layers: list[int], batch: int) -> int:
        doc = {"model": {"layers": layers}, "grid": {"backend": ["numpy"], "batch_size": [batch]}}
        (point,) = expand.points(parse_config(doc))
        return plans.trial(point).run.data.subset

    assert trial_samples([784, 70, 30, 10], 500) == 500 * plans.TUNE_STEPS  # the article's net
    assert trial_samples([784, 1024, 1024, 1024, 10], 100) == 100 * 12  # 1.6 GFLOP per step
    assert trial_samples([784, 4096, 4096, 4096, 10], 2000) == 2000  # one step, not less


def test_close_plans_are_measured_again_and_keep_their_best_time():
    cfg = parse_config({"grid": {"backend": ["numpy"], "batch_size": [500], "threads": [2]}})
    from mlpbench.config import expand

    times = {"spin": [1.0, 1.2], "spin-split": [1.05, 0.9], "sleep": [2.0]}
    times.update({name: [5.0] for name in THREAD_PLANS if name not in times})
    calls: list[str] = []

    def run(point, env):
        name = point.run.options["plan"]
        calls.append(name)
        return times[name][calls.count(name) - 1]

    (entry,) = plans.tune(expand.points(cfg), {"numpy": THREAD_PLANS}, run, {}).values()
    assert entry.choice == "spin-split"  # second on the first round, fastest on the second
    assert entry.seconds["spin"] == 1.0 and entry.seconds["spin-split"] == 0.9
    assert calls.count("spin") == calls.count("spin-split") == 2
    assert calls.count("sleep") == 1  # twice the fastest: one trial is enough


def _runs(folder):
    with (folder / "runs.csv").open() as f:
        return list(csv.DictReader(f))


SMALL = {
    "name": "plans",
    "data": {"dataset": "synthetic", "synthetic_samples": 3000, "synthetic_features": 50,
             "synthetic_classes": 4},
    "model": {"layers": [50, 32, 4]},
    "train": {"epochs": 2},
    "grid": {"backend": ["numpy", "numpy-plain"], "batch_size": [100], "threads": [1]},
}  # fmt: skip


def test_one_thread_measures_only_the_plans_that_differ_there():
    """On one thread there are no idle BLAS threads and no split: only "one_thread" plans
    (the transposed gradient, the padding) can differ, and only they are measured."""
    cfg = parse_config({"grid": {"backend": ["numpy"], "threads": [1]}})
    from mlpbench.config import expand

    calls: list[str] = []

    def run(point, env):
        calls.append(point.run.options["plan"])
        return {"spin": 2.0, "spin-tgrad": 1.0, "spin-pad": 1.5,
                "spin-tgrad-pad": 1.2}[calls[-1]]  # fmt: skip

    # which plans differ is the backend's answer, asked through the preflight as a sweep does
    checked = preflight(cfg)
    assert checked.plans["numpy"] == json.loads(json.dumps(THREAD_PLANS))
    table = plans.tune(
        expand.points(cfg), {"numpy": THREAD_PLANS}, run, {}, differing=checked.differing
    )
    assert [e.choice for e in table.values()] == ["spin-tgrad"]
    one_thread = {n for n, p in THREAD_PLANS.items() if p.get("one_thread")}
    chunked = {n for n, p in THREAD_PLANS.items() if p.get("chunk_rows")}
    assert chunked == {"data-parallel-tgrad-chunk", "data-parallel-tgrad-pad-chunk"}
    # the default batch, 500, is one piece on one thread: the "-chunk" plans are their
    # siblings there
    assert all(THREAD_PLANS[n]["chunk_rows"] >= 500 for n in chunked)
    spins = {"spin", "spin-tgrad", "spin-pad", "spin-tgrad-pad"}
    assert set(calls) == one_thread - chunked == spins
    only_spin = {"spin": THREAD_PLANS["spin"], "sleep": THREAD_PLANS["sleep"]}
    table = plans.tune(
        expand.points(cfg), {"numpy": only_spin}, lambda p, e: 1 / 0, {},
        differing=checked.differing,
    )  # fmt: skip
    assert [e.choice for e in table.values()] == ["spin"]  # nothing to compare: no trial


@pytest.mark.slow
@pytest.mark.skipif(cpu_count() < 2, reason="with one core every plan is the same")
def test_a_sweep_tunes_runs_and_records_the_plan(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    doc = {**SMALL, "grid": {**SMALL["grid"], "threads": ["all"]}}
    out = run_sweep(parse_config(doc), root=tmp_path, quiet=True)
    env = json.loads((out / "environment.json").read_text())
    (entry,) = Environment.from_json(env).plans.values()  # the file's own reader
    # SMALL's hidden width, 32, is a multiple of 8 already: the padding plans are not measured;
    # nor the "-chunk" ones, whose blocks of 50 rows are one piece each
    padding = {n for n, p in THREAD_PLANS.items() if p.get("pad_to", 1) > 1}
    chunked = {n for n, p in THREAD_PLANS.items() if p.get("chunk_rows")}
    assert padding and chunked and set(entry.seconds) == set(THREAD_PLANS) - padding - chunked
    by = {r["backend"]: r for r in _runs(out)}
    assert by["numpy"]["plan"] == entry.choice and by["numpy-plain"]["plan"] == ""
    assert plans.cache_path(env).exists()


@pytest.mark.slow
@pytest.mark.parametrize("forced", ["sleep", "spin"])
def test_a_forced_plan_is_used_and_recorded(tmp_path, forced):
    doc = {**SMALL, "options": {"numpy": {"plan": forced}}}
    out = run_sweep(parse_config(doc), root=tmp_path, quiet=True)
    by = {r["backend"]: r for r in _runs(out)}
    assert by["numpy"]["plan"] == forced
    assert "split_rows=" not in by["numpy"]["backend_info"]  # the plan, not a raw option


def test_padding_plans_are_measured_only_where_a_width_is_not_a_multiple():
    from mlpbench.config.points import PointKey

    pad = THREAD_PLANS["spin-pad"]
    assert pad["options"]["pad_to"] == pad["pad_to"] > 1
    n = pad["pad_to"]

    def key(layers: str, threads: int = 2) -> PointKey:
        return PointKey("numpy", 100, "float32", "cpu", threads, layers=layers)

    def differs_here(plan: dict, k: PointKey) -> bool:
        return differs_at(plan, k.threads, k.batch_size, k.widths)

    assert differs_here(pad, key("784-70-30-10"))  # the article's 70 and 30
    assert not differs_here(pad, key(f"784-{4 * n}-{8 * n}-10"))
    assert differs_here(pad, key("784-70-30-10", threads=1))  # marked one_thread
    assert not differs_here(THREAD_PLANS["data-parallel-pad"], key("784-70-10", threads=1))
    # the hook the tuner asks (through the preflight) says the same
    named = NumpyTrainer.plans_that_differ(threads=2, batch_size=100, widths=(4 * n, 8 * n))
    assert "spin" in named and "spin-pad" not in named


def test_chunked_plans_are_measured_only_where_a_block_has_more_rows_than_a_piece():
    from mlpbench.config.points import PointKey

    plan = THREAD_PLANS["data-parallel-tgrad-chunk"]
    c = plan["chunk_rows"]

    def differs_here(plan: dict, k: PointKey) -> bool:
        return differs_at(plan, k.threads, k.batch_size, k.widths)

    def differs(batch: int, threads: int) -> bool:
        return differs_here(plan, PointKey("numpy", batch, "float32", "cpu", threads))

    assert not differs(c, 1) and differs(c + 1, 1)  # one thread: the batch is the block
    assert not differs(2 * c, 2) and differs(2 * c + 1, 2)  # a block of c + 1 rows: 2 pieces
    padded = THREAD_PLANS["data-parallel-tgrad-pad-chunk"]
    wide = PointKey("numpy", 10 * c, "float32", "cpu", 2, layers="784-64-32-10")
    assert differs_here(plan, wide) and not differs_here(padded, wide)


def test_padded_units_stay_zero_and_the_weights_keep_their_shapes():
    """The padded units' weights never learn, whatever their activation outputs at zero
    (sigmoid: 0.5), and the trainer hands back the specified shapes."""
    from mlpbench.api.protocol import ModelSpec

    for activation in ("sigmoid", "tanh", "relu"):
        spec = ModelSpec(layers=(20, 12, 5, 4), activation=activation, l2=0.001, l1=0.0005)
        train = TrainSpec(epochs=2, batch_size=50, learning_rate=0.01, seed=2)
        t = NumpyTrainer(spec, train, dtype="float64", options={"pad_to": 8, "plan": "spin-pad"})
        t.fit(datasets.load(DATA, "float64"))
        m = t.model
        assert m.sizes == [20, 16, 8, 4]
        assert [w.shape for w in t.weights()] == [(20, 12), (12,), (12, 5), (5,), (5, 4), (4,)]
        assert not m.W[0][:, 12:].any() and not m.b[0][12:].any(), activation
        assert not m.W[1][12:].any() and not m.W[1][:, 5:].any() and not m.b[1][5:].any()
        assert not m.W[2][5:].any(), activation
        assert np.abs(t.weights()[2]).min() > 0  # the specified weights did learn


def test_a_plan_named_alone_brings_its_settings():
    """`mlpbench run -o plan=NAME` (or Python) passes the name only: the trainer must run that
    plan, not record its name over the default path."""
    from mlpbench.api.protocol import ModelSpec
    from mlpbench.backends.numpy.parallel import DataParallelMLP

    options = {"plan": "data-parallel-pad", "threads": 2}
    t = NumpyTrainer(ModelSpec(), TrainSpec(), options=options)
    assert isinstance(t.model, DataParallelMLP) and t.model.sizes == [784, 72, 32, 10]
    assert t.info()["plan"] == "data-parallel-pad"
    assert NumpyTrainer(ModelSpec(), TrainSpec(), options={"plan": "spin"}).model.split.workers == 1


def test_a_pad_below_one_is_refused():
    from mlpbench.api.protocol import SpecError

    with pytest.raises(SpecError, match="pad_to = 0: must be at least 1"):
        NumpyTrainer.check_options({"pad_to": 0})


def test_chunk_rows_need_the_data_parallel_step():
    """Only the data-parallel step cuts blocks into pieces: elsewhere chunk_rows would be
    recorded and do nothing, so it is refused; a data-parallel plan named with it is not."""
    from mlpbench.api.protocol import SpecError

    with pytest.raises(SpecError, match="chunk_rows = 256 needs data_parallel = true"):
        NumpyTrainer.check_options({"chunk_rows": 256, "plan": "spin-tgrad"})
    NumpyTrainer.check_options({"chunk_rows": 256, "data_parallel": True})
    NumpyTrainer.check_options({"chunk_rows": 256, "plan": "data-parallel-tgrad"})


def test_an_unknown_plan_is_refused():
    from mlpbench.api.protocol import SpecError

    with pytest.raises(SpecError, match="plan = 'fast'; allowed: auto, spin"):
        NumpyTrainer.check_options({"plan": "fast"})


def test_a_sweep_measures_again_what_the_cache_chose_among_other_plans(tmp_path, monkeypatch):
    """A cache written before a plan was added must not decide for the sweep."""
    from mlpbench.config import expand
    from mlpbench.machine import describe as environment

    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    cfg = parse_config({"grid": {"backend": ["numpy"], "batch_size": [100, 500], "threads": [2]}})
    points = expand.points(cfg)
    env = environment.describe()
    old = sorted(set(THREAD_PLANS) - {"spin-tgrad"})
    plans.write_cache(env, {
        plans.slot(points[0].key): PlanEntry("spin", candidates=tuple(old)),
        plans.slot(points[1].key): PlanEntry("spin", candidates=tuple(sorted(THREAD_PLANS))),
    })  # fmt: skip
    asked = []

    def fake_tune(missing, plans_of, run, table, force=False, differing=None):
        asked.extend(missing)
        return table

    monkeypatch.setattr(plans, "tune", fake_tune)
    plans.choose(points, {"numpy": THREAD_PLANS}, env, run=lambda p, e: None, mode="none")
    assert [p.key for p in asked] == [points[0].key]


def test_the_plans_mismatched_environment_is_named_in_env_syntax():
    env = {"OPENBLAS_THREAD_TIMEOUT": "4"}
    assert plans.environment_mismatch(THREAD_PLANS, "sleep", env) == []
    assert plans.environment_mismatch(THREAD_PLANS, "sleep", {}) == ["OPENBLAS_THREAD_TIMEOUT=4"]
    # another plan's variable changes this one: spin under the sleep setting is sleep
    assert plans.environment_mismatch(THREAD_PLANS, "spin", env) == ["-u OPENBLAS_THREAD_TIMEOUT"]
    assert plans.environment_mismatch(THREAD_PLANS, "spin", {}) == []


def test_make_benchmarks_measures_every_plan():
    """`make benchmarks` runs the step benchmark once per OpenBLAS setting in its recipe; each
    plan runs as named under one of them (a plan with a new setting needs a new line)."""
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    recipe = makefile.split("\nbenchmarks:", 1)[1].split("\n\n", 1)[0]
    settings = [
        dict(kv.split("=", 1) for kv in line.split("$(BIN)")[0].split())
        for line in recipe.splitlines()[1:]
        if "pytest" in line
    ]
    assert len(settings) >= 2, recipe
    covered = {
        name
        for environ in settings
        for name in THREAD_PLANS
        if not plans.environment_mismatch(THREAD_PLANS, name, environ)
    }
    assert covered == set(THREAD_PLANS)


def test_a_plans_worker_environment_removes_another_plans_variable(monkeypatch):
    """Started from a shell with OPENBLAS_THREAD_TIMEOUT=4, a sweep ran plan spin as sleep,
    and tune timed the two as one: the worker's environment now unsets what a plan does not
    set."""
    from mlpbench.sweep.spawn import env_for

    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "4")
    _, spin = plans.settings({}, "spin", THREAD_PLANS)
    _, sleep = plans.settings({}, "sleep", THREAD_PLANS)
    assert "OPENBLAS_THREAD_TIMEOUT" not in env_for(2, spin)
    assert env_for(2, sleep)["OPENBLAS_THREAD_TIMEOUT"] == "4"
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT")
    assert env_for(2, sleep)["OPENBLAS_THREAD_TIMEOUT"] == "4"


def test_auto_is_the_tuned_plan_in_run_and_from_python(tmp_path, monkeypatch):
    """plan = auto means this machine's tuned choice everywhere: `mlpbench run` prints the plan
    and why, and a NumpyTrainer built from Python without a plan takes the same entry; with
    no table the backend's default plan runs (not the plain defaults)."""
    import subprocess
    import sys

    from mlpbench.api import plancache
    from mlpbench.api.protocol import ModelSpec
    from mlpbench.backends.numpy.trainer import default_plan
    from mlpbench.machine import describe

    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    plancache._this_machine.cache_clear()
    env = describe.machine()
    key = plancache.slot("numpy", "20-8-4", "float32", "cpu", 1, 50)
    seconds = {"spin": 0.02, "spin-tgrad": 0.01}
    plans.write_cache(
        env, {key: PlanEntry("spin-tgrad", seconds, tuple(sorted(THREAD_PLANS)))}
    )
    model, train = ModelSpec(layers=(20, 8, 4)), TrainSpec(batch_size=50)
    t = NumpyTrainer(model, train, options={"threads": 1})
    assert t.info()["plan"] == "spin-tgrad" and t.info()["plan_source"] == "tuned on this machine"
    cmd = [sys.executable, "-m", "mlpbench", "run", "--dataset", "synthetic",
           "--synthetic-features", "20", "--synthetic-classes", "4", "--layers", "20,8,4",
           "--epochs", "2", "--batch-size", "50", "--threads", "1"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "plan spin-tgrad (tuned on this machine (cached table): 0.0100 s" in out.stdout
    monkeypatch.setenv("MLPBENCH_TUNE", "0")  # no table: the plan that won most often
    t = NumpyTrainer(model, train, options={"threads": 1})
    assert t.info()["plan"] == default_plan(1, 50) == "spin-tgrad-pad"
    assert t.info()["plan_source"].startswith("no tuned table")
    plancache._this_machine.cache_clear()


def test_the_fingerprint_holds_the_users_blas_variables(monkeypatch):
    """A table tuned with the image's OPENBLAS_CORETYPE unset is not used with it set; the
    variables a sweep sets per point are not part of it."""
    from mlpbench.api import plancache

    base = {"cpu_model": "x", "blas_env": plancache.blas_environment({})}
    other = {**base, "blas_env": plancache.blas_environment({"OPENBLAS_CORETYPE": "Haswell"})}
    assert plancache.fingerprint(base) != plancache.fingerprint(other)
    per_point = {"OPENBLAS_NUM_THREADS": "2", "OPENBLAS_THREAD_TIMEOUT": "4"}
    assert plancache.blas_environment(per_point) == {}


def test_tuning_and_calibration_show_their_progress_and_time_left(tmp_path, monkeypatch, capsys):
    """Issue 26: tuning and calibration can take minutes on a machine's first sweep; each step
    prints where it is of how many, and about how long the rest takes."""
    from dataclasses import fields
    from types import SimpleNamespace

    from mlpbench.config import expand
    from mlpbench.machine import describe as environment
    from mlpbench.results.point import PointResult
    from mlpbench.results.schema import RunSummary
    from mlpbench.sweep import spawn

    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("MLPBENCH_TUNE", "1")
    cfg = parse_config({"grid": {"backend": ["numpy"], "batch_size": [100], "threads": [1]}})
    points = expand.points(cfg)
    summary = RunSummary(**{f.name: 0 for f in fields(RunSummary)})
    summary.steady_epoch_s = 0.01
    plans.choose(
        points, {"numpy": THREAD_PLANS}, environment.describe(),
        differing=lambda key: ["spin", "spin-tgrad", "spin-pad"],
        run=lambda point, env: PointResult("ok", summary=summary), mode="lines",
    )  # fmt: skip
    err = capsys.readouterr().err
    # issue 41: the estimate said "about 68" and the count then ran to "96/~96"; it now says
    # how many first runs there are and that the close plans' second runs come after them
    assert "tuning thread plans for 1 point(s): 3 trials, then a second one of each plan" in err
    assert "(up to 6 in all)" in err
    assert "tuning trial 1 (first run 1 of 3): " in err and "s so far, about " in err
    assert "tuning trial 6 (second run 3): " in err  # the three close plans ran once more
    assert "/~" not in err

    ran = SimpleNamespace(returncode=0, stdout='{"gflops": 10.0}\n', stderr="")
    monkeypatch.setattr(spawn.subprocess, "run", lambda *a, **k: ran)
    said: list[str] = []
    spawn.calibrate([("float32", 1, "cpu"), ("float64", 1, "cpu")], pin=False, say=said.append)
    assert said[0].startswith("  GEMM peak 1/2: float32") and "about" in said[0]
    assert said[1].startswith("  GEMM peak 2/2: float64") and said[1].endswith("s so far")
