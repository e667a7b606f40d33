"""Bad input: one line naming the key or option and what is allowed, exit 2, nothing started.

Each value here was accepted, silently changed, or answered with a traceback on f45c878.
"""

from __future__ import annotations

import gzip
import os
import string
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlpbench import data as datasets
from mlpbench.config import expand
from mlpbench.config.sweepfile import TOP_KEYS, ConfigError, load_config, parse_config
from mlpbench.machine.threads import cpu_count

GRID = '[grid]\nbackend = ["numpy"]\n'


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlpbench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def assert_one_clear_line(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


@pytest.mark.parametrize(
    "text,needles",
    [
        (f"{GRID}threads = [1000]\n", ["[grid] threads", "1000", "usable cores", "oversubscribe"]),
        ("timeout_s = nan\n" + GRID, ["timeout_s", "finite"]),
        ("timeout_s = inf\n" + GRID, ["timeout_s", "finite"]),
        ("repeats = true\n" + GRID, ["repeats", "integer"]),
        ("repeats = 2.0\n" + GRID, ["repeats", "integer"]),
        ("[train]\nepochs = 2.5\n" + GRID, ["[train]", "epochs", "integer"]),
        ("[train]\nepochs = '2'\n" + GRID, ["[train]", "epochs", "integer"]),
        ("[train]\nlearning_rate = nan\n" + GRID, ["learning_rate", "finite"]),
        ("[model]\nlayers = [784, 70.7, 10]\n" + GRID, ["[model]", "layers", "integer"]),
        ("[model]\nlayers = 'abc'\n" + GRID, ["[model]", "layers", "list of integers"]),
        ("[model]\nregularize_output = 'maybe'\n" + GRID, ["regularize_output", "true or false"]),
        ("[data]\nsubset = true\n" + GRID, ["[data]", "subset", "integer"]),
        ("variant = 5\n" + GRID, ["[[variant]]", "array of tables"]),
        ("exclude = 5\n" + GRID, ["[[exclude]]", "array of tables"]),
        ("extra = [5]\n" + GRID, ["[[extra]]", "array of tables"]),
        ("options = 5\n" + GRID, ["[options]", "table"]),
        ("[options]\nnumpy = 5\n" + GRID, ["[options].numpy", "table of backend options"]),
        (GRID + "[[variant]]\nname = 'v'\noptions = 5\n", ["[[variant]] #1 options", "table"]),
        (GRID + "[[variant]]\nname = 'v'\noptions = {numpy = 5}\n", ["options.numpy"]),
        (GRID + "[[variant]]\nname = 5\n", ["[[variant]] #1 name", "5"]),
        ("name = '../../x'\n" + GRID, ["name", "'../../x'", "A-Z"]),
        ("description = 5\n" + GRID, ["description", "string"]),
        ("oversubscribe = 'yes'\n" + GRID, ["oversubscribe", "true or false"]),
        ("", ["[grid]", "backend"]),
        ("[grid]\nbatch_size = [100]\n", ["[grid]", "backend"]),
    ],
)
def test_sweep_file_values_are_checked(tmp_path, text, needles):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    for needle in needles:
        assert needle in str(e.value), str(e.value)


def test_oversubscribe_on_purpose_is_allowed():
    cfg = parse_config({"oversubscribe": True, "grid": {"backend": ["numpy"], "threads": [64]}})
    assert cfg.grid["threads"] == (64,) or cpu_count() >= 64


def test_a_binary_sweep_file_is_one_error(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


@pytest.mark.parametrize(
    "text,needles",
    [
        (GRID.replace('"numpy"', '"nope"'), ["'nope' is not installed", "usable here: "]),
        (GRID + "[options.numpy]\nsplit_rows = 'maybe'\n", ["split_rows", "true or false"]),
        (GRID + "[options.numpy]\nfast = true\n", ["'fast'", "allowed", "split_rows"]),
        (
            GRID + "[[variant]]\nname = 'v'\noptions = {numpy = {warp = 9}}\n",
            ["'warp'", "allowed"],
        ),
        ("[data]\ndataset = 'mnist'\npath = '/nonexistent/mnist.npz'\n" + GRID, ["[data]"]),
    ],
)
def test_sweep_checks_backends_options_and_data_before_anything_runs(tmp_path, text, needles):
    path = tmp_path / "sweep.toml"
    path.write_text("[train]\nepochs = 1\n" + text)
    proc = run_cli("sweep", str(path), "--quiet", cwd=tmp_path)
    assert_one_clear_line(proc, *needles)
    assert not (tmp_path / "results").exists()  # nothing started, nothing written


def test_results_pointing_at_a_file(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text("[data]\ndataset = 'synthetic'\n[train]\nepochs = 1\n" + GRID)
    (tmp_path / "afile").write_text("x")
    proc = run_cli("sweep", str(path), "--quiet", "--results", "afile", cwd=tmp_path)
    assert_one_clear_line(proc, "--results", "not a directory")


RUN = ["run", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "50", "--threads", "1"]


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--layers", "784,-5,10"], ["784,-5,10", "layer sizes"]),
        (["--layers", "784,70--10"], ["784,70--10", "layer sizes"]),
        (["--layers", "784,70.5,10"], ["layer sizes"]),
        (["-o", "split_rows=maybe"], ["split_rows", "true or false"]),
        (["-o", "warp=1"], ["'warp'", "allowed"]),
        (["--threads", "1000"], ["--threads", "usable cores", "--oversubscribe"]),
        (["--lr", "nan"], ["learning_rate", "finite"]),
        (["-o", "pad_to=0"], ["pad_to", "at least 1"]),
        (["-o", "chunk_rows=-1"], ["chunk_rows", "at least 0"]),
        (["-o", "chunk_rows=256"], ["chunk_rows = 256", "data_parallel = true"]),
    ],
)
def test_run_options_are_checked(tmp_path, args, needles):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    assert_one_clear_line(run_cli(*RUN, *args, cwd=tmp_path, env=env), *needles)


def test_run_reruns_itself_with_the_variables_its_plan_needs(tmp_path):
    """A plan's variable is read when NumPy loads, too late inside `mlpbench run`: it runs
    itself again with them, and says so (it used to refuse)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    proc = run_cli(*RUN, "-o", "plan=sleep", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "re-running with `env OPENBLAS_THREAD_TIMEOUT=4`" in proc.stdout
    assert "plan sleep (named with -o plan); OPENBLAS_THREAD_TIMEOUT=4 set" in proc.stdout


def test_run_unsets_a_shell_variable_that_would_turn_its_plan_into_another(tmp_path):
    """Under OPENBLAS_THREAD_TIMEOUT=4, plan spin would run as sleep and be recorded as spin."""
    env = {**os.environ, "OPENBLAS_THREAD_TIMEOUT": "4"}
    proc = run_cli(*RUN, "-o", "plan=spin", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "re-running with `env -u OPENBLAS_THREAD_TIMEOUT`" in proc.stdout
    assert "OPENBLAS_THREAD_TIMEOUT left unset (OpenBLAS's default)" in proc.stdout


# Data files that are not what they claim: one DataError each, exit 2 from `mlpbench run`.


def _idx(path: Path, shape: tuple[int, ...], body: bytes, gz: bool = True) -> None:
    data = struct.pack(">HBB", 0, 8, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + body
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _idx_dir(tmp_path: Path, broken: str) -> Path:
    d = tmp_path / "idx"
    d.mkdir()
    for key, stem in datasets.IDX_NAMES.items():
        n = 3
        shape = (n, 28, 28) if key.startswith("x") else (n,)
        _idx(d / (stem + ".gz"), shape, bytes(int(np.prod(shape))))
    target = d / (datasets.IDX_NAMES["x_train"] + ".gz")
    if broken == "short body":
        _idx(target, (3, 28, 28), bytes(100))
    elif broken == "two bytes":
        target.unlink()
        (d / datasets.IDX_NAMES["x_train"]).write_bytes(b"\x00\x00")
    elif broken == "bad gz":
        target.write_bytes(b"\x1f\x8b not really gzip")
    return d


@pytest.mark.parametrize(
    "broken,needle", [("short body", "truncated"), ("two bytes", "too short"), ("bad gz", "read")]
)
def test_broken_idx_files(tmp_path, broken, needle):
    with pytest.raises(datasets.DataError, match=needle):
        datasets.load_mnist_raw(str(_idx_dir(tmp_path, broken)))


@pytest.mark.parametrize("broken", ["missing keys", "not a zip", "object arrays"])
def test_broken_npz(tmp_path, broken):
    path = tmp_path / "mnist.npz"
    if broken == "missing keys":
        np.savez(path, x_train=np.zeros((2, 784), np.uint8))
    elif broken == "not a zip":
        path.write_bytes(b"hello")
    else:
        arrays = {k: np.array([object()] * 2) for k in datasets.MNIST_SHA256}
        np.savez(path, **arrays)
    with pytest.raises(datasets.DataError, match="mnist.npz"):
        datasets.load_mnist_raw(str(path))


def test_unknown_home_in_mnist_path_exits_2(tmp_path):
    import os

    env = {**os.environ, "MLPBENCH_MNIST": "~nouser_mlpbench/x"}
    proc = run_cli(
        "run", "--epochs", "1", "--subset", "500", "--threads", "1", cwd=tmp_path, env=env
    )
    assert_one_clear_line(proc, "data error", "~nouser_mlpbench")


# The property: random tables give points or one ConfigError naming a key, nothing else.

KEYS = st.sampled_from(
    [
        *TOP_KEYS,
        "backend",
        "batch_size",
        "dtype",
        "device",
        "threads",
        "layers",
        "epochs",
        "learning_rate",
        "dataset",
        "subset",
        "synthetic_samples",
        "activation",
        "numpy",
        "split_rows",
        "x",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["numpy", "keras", "float32", "cpu", "all", "mnist", "synthetic", "sigmoid"]),
    st.text(string.printable, max_size=8),
)
VALUES = st.recursive(
    SCALARS.filter(lambda v: v is not None),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


def maybe(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a valid value, sometimes anything."""
    return st.one_of(valid, valid, valid, VALUES)


NEARLY_VALID = st.fixed_dictionaries(
    {
        "grid": maybe(
            st.fixed_dictionaries(
                {"backend": maybe(st.lists(st.sampled_from(["numpy", "keras"]), min_size=1))},
                optional={
                    "batch_size": maybe(st.lists(st.integers(1, 2000), min_size=1, max_size=3)),
                    "dtype": maybe(st.lists(st.sampled_from(["float32", "float64"]), min_size=1)),
                    "device": maybe(st.just(["cpu"])),
                    "threads": maybe(st.lists(st.sampled_from([1, "all"]), min_size=1)),
                },
            )
        )
    },
    optional={
        "name": maybe(st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)),
        "repeats": maybe(st.integers(1, 3)),
        "timeout_s": maybe(st.floats(1, 1000)),
        "data": maybe(
            st.fixed_dictionaries(
                {"dataset": st.just("synthetic")},
                optional={"subset": maybe(st.integers(0, 100)), "seed": maybe(st.integers(0, 9))},
            )
        ),
        "model": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "layers": maybe(st.lists(st.integers(1, 50), min_size=2, max_size=4)),
                    "l2": maybe(st.floats(0, 1)),
                    "activation": maybe(st.sampled_from(["sigmoid", "relu"])),
                },
            )
        ),
        "train": maybe(
            st.fixed_dictionaries(
                {},
                optional={"epochs": maybe(st.integers(1, 5)), "momentum": maybe(st.floats(0, 1))},
            )
        ),
        "options": maybe(st.fixed_dictionaries({}, optional={"numpy": maybe(st.just({}))})),
        "variant": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {"name": maybe(st.sampled_from(["a", "b", "c"]))},
                    optional={"train": maybe(st.just({"epochs": 2}))},
                ),
                max_size=3,
            )
        ),
        "exclude": maybe(st.lists(st.fixed_dictionaries({"dtype": maybe(st.just("float64"))}))),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.dictionaries(KEYS, VALUES, max_size=6), NEARLY_VALID))
def test_random_tables_give_points_or_one_config_error(doc):
    try:
        cfg = parse_config(doc, "fuzz.toml")
    except ConfigError as e:
        message = str(e)
        assert message.startswith("fuzz.toml: ") and len(message) > len("fuzz.toml: ")
        return
    assert expand.points(cfg) and all(
        p.run.train.batch_size == p.key.batch_size for p in expand.points(cfg)
    )


def test_an_unknown_backend_gets_a_near_miss_among_the_usable_ones(fake_plugins, capsys):
    """Issue 41: `kears` got no "did you mean", and the list named backends that
    `mlpbench backends` reports as broken (here: broken, notatrainer, badcapabilities)."""
    from mlpbench.cli.app import main

    assert main(["run", "--backend", "kears", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'keras'?" in err and "usable here: " in err
    usable = err.split("usable here: ", 1)[1].split(" (", 1)[0].split(", ")
    assert "numpy" in usable and "keras" in usable
    assert not {"broken", "notatrainer", "badcapabilities", "gpuonly"} & set(usable)
    assert "Traceback" not in err
