"""Sweep files: grid expansion and errors that name the file, the key and the allowed values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlpbench.config import expand
from mlpbench.config.sweepfile import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


BASE = """
name = "t"
repeats = 2
[data]
dataset = "synthetic"
[train]
epochs = 2
[grid]
backend = ["numpy", "keras"]
batch_size = [100, 500]
dtype = ["float32", "float64"]
threads = [1, 2]
"""


def test_grid_expands_and_interleaves_backends(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    points = expand.points(cfg)
    assert len(points) == 2 * 2 * 2 * 2 * 2  # backend x batch x dtype x threads x repeats
    assert len({(p.key, p.repeat) for p in points}) == len(points)
    # backends alternate within each repeat; repeat 0 finishes before repeat 1 starts
    assert [p.key.backend for p in points[:4]] == ["numpy", "keras", "numpy", "keras"]
    assert [p.repeat for p in points] == [0] * 16 + [1] * 16
    p = points[0]
    assert p.run.train.batch_size == p.key.batch_size and p.run.dtype == p.key.dtype
    assert p.run.train.epochs == 2 and p.run.data.dataset == "synthetic"


def test_exclude_extra_variants_and_options():
    cfg = parse_config(
        {
            "grid": {
                "backend": ["numpy", "keras"],
                "batch_size": [100],
                "dtype": ["float32", "float64"],
            },
            "exclude": [{"backend": "keras", "dtype": "float64"}],
            "extra": [
                {
                    "backend": "numpy",
                    "batch_size": 7,
                    "dtype": "float32",
                    "device": "cpu",
                    "threads": 1,
                }
            ],
            "options": {"keras": {"jit_compile": True}},
            "variant": [
                {"name": "fast"},
                {
                    "name": "slow",
                    "options": {"numpy": {"compute_input_delta": True}},
                    "train": {"train_accuracy": "full"},
                },
            ],
        }
    )
    keys = [
        (p.key.backend, p.key.dtype, p.key.batch_size, p.key.variant) for p in expand.points(cfg)
    ]
    assert ("keras", "float64", 100, "fast") not in keys
    assert ("numpy", "float32", 7, "fast") in keys
    slow = [p for p in expand.points(cfg) if p.key.variant == "slow" and p.key.backend == "numpy"]
    assert slow and all(p.run.options == {"compute_input_delta": True} for p in slow)
    assert all(p.run.train.train_accuracy == "full" for p in slow)
    keras = [p for p in expand.points(cfg) if p.key.backend == "keras"]
    assert all(p.run.options["jit_compile"] is True for p in keras)


def test_threads_all_means_every_core():
    from mlpbench.machine.threads import cpu_count

    cfg = parse_config({"grid": {"backend": ["numpy"], "threads": [1, "all"]}})
    assert set(cfg.grid["threads"]) == {1, cpu_count()}


@pytest.mark.parametrize(
    "text,needles",
    [
        ("[grid]\nbach_size = [100]\n", ["sweep.toml", "[grid]", "'bach_size'", "batch_size"]),
        ("[grid]\nbatch_size = [-5]\n", ["sweep.toml", "[grid] batch_size", "-5", "> 0"]),
        ("[grid]\ndtype = ['float16']\n", ["[grid] dtype", "float16", "float32, float64"]),
        ("[grid]\ndevice = ['tpu']\n", ["[grid] device", "cpu, gpu"]),
        ("[grid]\nthreads = [0]\n", ["[grid] threads", '"all"']),
        ("[model]\nactivation = 'swish'\n", ["[model]", "activation", "sigmoid, tanh, relu"]),
        ("[train]\noptimizer = 'adam'\n", ["[train]", "optimizer", "sgd, rmsprop"]),
        ("[train]\nepochz = 3\n", ["[train]", "'epochz'", "epochs"]),
        ("[data]\ndataset = 'cifar'\n", ["[data]", "dataset", "mnist, fashion-mnist, synthetic"]),
        ("repeat = 3\n", ["'repeat'", "repeats"]),
        ("repeats = 0\n", ["repeats", ">= 1"]),
        ("[grid\n", ["not valid TOML"]),
        ("[[exclude]]\nbackend = 'numpy'\n[grid]\nbackend = ['numpy']\n", ["empty"]),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, needles):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    for needle in needles:
        assert needle in str(e.value)


def test_cli_fails_at_once_with_exit_2(tmp_path):
    path = write(tmp_path, "[grid]\nbatch_size = [-5]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench", "sweep", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "batch_size" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()  # nothing started


@pytest.mark.parametrize(
    "name", ["quick", "default", "seed2020", "perf", "ablation", "gpu", "threads-dtype"]
)
def test_shipped_configs_are_valid(name):
    path = ROOT / "configs" / f"{name}.toml"
    if not path.exists():
        pytest.fail(f"{path} is missing")
    assert expand.points(load_config(path))


def test_variants_keep_their_declared_order():
    cfg = parse_config(
        {"grid": {"backend": ["numpy"]}, "variant": [{"name": "zeta"}, {"name": "alpha"}]}
    )
    assert [p.key.variant for p in expand.points(cfg)] == ["zeta", "alpha"]


def _toml_blocks(path: Path) -> list[str]:
    import re

    return re.findall(r"```toml\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize(
    "doc", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_every_toml_example_in_the_docs_parses(doc):
    from mlpbench.config.sweepfile import tomllib

    for block in _toml_blocks(doc):
        parsed = tomllib.loads(block)  # a syntax error fails here
        if "grid" in parsed:  # a sweep file: it must also be a valid one
            parse_config(parsed, f"{doc.name} example")


def test_a_runs_key_reads_each_axis_back_from_the_field_it_reaches():
    """`mlpbench run` and its tuning build a point's key from a single run: the inverse of the
    axes' ``reaches``, so a sweep's point and the same run alone have one key."""
    from mlpbench.config import expand
    from mlpbench.config.points import PointKey
    from mlpbench.config.sweepfile import parse_config, parse_toml
    from tests.conftest import sweep_text

    grid = 'backend = ["numpy"]\nbatch_size = [50, 100]\nthreads = [1]\ndtype = ["float64"]\n'
    cfg = parse_config(parse_toml(sweep_text("k", grid, layers="[20, 16, 4]")))
    for key in expand.keys(cfg):
        assert PointKey.of_run(expand.point(cfg, key, 0).run) == key
