"""`mlpbench gate` (issue 39): baseline and candidate in one session, in rounds, each point's
two runs back to back in alternating order, judged on the per-round ratio with a sign-test
interval. The statistics are tested on made-up rounds; a real gate run is tested for what it
runs and writes, never for a timing ratio (the machine decides those: benchmarks/)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from mlpbench.analysis import gate
from mlpbench.cli.app import main
from mlpbench.cli.cmd_gate import gate_text
from tests.conftest import sweep_text

SWEEP = sweep_text(
    "tiny", 'backend = ["numpy"]\nbatch_size = [50, 100]\nthreads = [1]\n', top="repeats = 3\n",
    epochs=2,
)  # fmt: skip


def test_the_median_interval_is_the_sign_tests():
    x = np.arange(1, 11, dtype=float)  # 10 rounds: the 2nd and the 9th (coverage 97.9%)
    assert gate.median_interval(x) == (2.0, 9.0)
    assert gate.median_interval(np.arange(12.0)) == (2.0, 9.0)  # the 3rd and 10th of 12
    lo, hi = gate.median_interval([1.0, 2, 3, 4, 5])  # five rounds cannot cover 95%
    assert lo != lo and hi != hi


def _rounds(ratios: dict[int, list[float]]) -> pd.DataFrame:
    rows = []
    for batch, per_round in ratios.items():
        for r, ratio in enumerate(per_round):
            base = 0.1 * (1 + 0.2 * np.sin(r))  # the machine drifts by 20% across rounds
            for env, t in (("baseline", base), ("candidate", base * ratio)):
                rows.append({"backend": "numpy", "batch_size": batch, "dtype": "float32",
                             "device": "cpu", "threads": 1, "variant": "default",
                             "layers": "784-32-10", "options": "-", "env": env, "repeat": r,
                             "status": "ok", "steady_epoch_s": t})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_planted_ten_percent_fails_at_five_and_drift_alone_never_does():
    rng = np.random.default_rng(0)
    planted = {100: list(1.10 * rng.uniform(0.98, 1.02, 10))}
    same = {500: list(rng.uniform(0.98, 1.02, 10))}
    rows = {r.key.batch_size: r for r in gate.judge(_rounds({**planted, **same}), 0.05)}
    assert rows[100].verdict == "slower" and rows[100].low > 1.05 and rows[100].rounds == 10
    assert rows[500].verdict == "same" and rows[500].high < 1.05
    assert gate.exit_code(list(rows.values())) == 1
    wide = gate.judge(_rounds({100: list(rng.uniform(0.9, 1.2, 10))}), 0.05)
    assert wide[0].verdict == "undecided" and gate.exit_code(wide) == 0
    assert gate.exit_code(wide, strict=True) == 1


def test_the_gate_sweep_names_both_sides_and_alternates_them(tmp_path):
    text = gate_text(SWEEP, "tiny.toml", 6, {"baseline": [], "candidate": ["numpy==2.3.*"]})
    assert "repeats = 6" in text and "repeats = 3" not in text
    assert 'env = ["baseline", "candidate"]' in text
    assert '[environments.candidate]\nrequirements = ["numpy==2.3.*"]' in text
    from mlpbench.config import expand
    from mlpbench.config.sweepfile import parse_config, parse_toml

    cfg = parse_config(parse_toml(text), "tiny.toml", text)
    from mlpbench.errors import UserError

    with pytest.raises(UserError, match="names its own two sides"):
        gate_text(text, "tiny.toml", 6, {"baseline": [], "candidate": []})
    order = [(p.repeat, p.key.batch_size, p.key.env) for p in expand.points(cfg)][:8]
    assert order == [
        (0, 50, "baseline"), (0, 50, "candidate"), (0, 100, "baseline"), (0, 100, "candidate"),
        (1, 50, "candidate"), (1, 50, "baseline"), (1, 100, "candidate"), (1, 100, "baseline"),
    ]  # fmt: skip


def test_an_undecided_point_gets_more_rounds_until_decided_or_the_maximum():
    """After the planned rounds, only the undecided point runs again: one round, both sides,
    in the order that alternates with the last round's."""
    import types

    from mlpbench.config import expand
    from mlpbench.config.sweepfile import parse_config, parse_toml
    from mlpbench.sweep.rounds import until_decided

    text = gate_text(SWEEP, "tiny.toml", 7, {"baseline": [], "candidate": []})
    cfg = parse_config(parse_toml(text), "tiny.toml", text)
    rng = np.random.default_rng(2)
    runs = _rounds({50: list(rng.uniform(0.9, 1.2, 7)), 100: list(rng.uniform(0.99, 1.01, 7))})
    runs["layers"] = "20-8-4"
    said: list[str] = []

    def sweep_of(frame: pd.DataFrame) -> object:
        return types.SimpleNamespace(
            cfg=cfg, points=expand.points(cfg), used={f"r{i:04d}" for i in range(len(frame))},
            folder=types.SimpleNamespace(runs=lambda: frame.to_dict("records")),
            progress=types.SimpleNamespace(say=said.append),
        )  # fmt: skip

    sweep = sweep_of(runs)
    added = until_decided(0.05, 30)(sweep)
    assert [(p.repeat, p.key.batch_size, p.key.env) for _, p in added] == [
        (7, 50, "candidate"), (7, 50, "baseline"),  # round 7 is odd: B A
    ]  # fmt: skip
    assert [i for i, _ in added] == [56, 57] and "1 point(s) undecided at 5%" in said[0]
    assert until_decided(0.05, 7)(sweep) == []  # the maximum reached: it stays undecided
    decided = _rounds({50: [1.0] * 7, 100: [1.0] * 7})
    decided["layers"] = "20-8-4"
    assert until_decided(0.05, 30)(sweep_of(decided)) == []


@pytest.mark.slow
def test_a_gate_runs_both_sides_in_rounds_and_writes_a_result_set(tmp_path, capsys):
    sweep = tmp_path / "tiny.toml"
    sweep.write_text(SWEEP.replace("batch_size = [50, 100]", "batch_size = [50]"))
    code = main(["gate", str(sweep), "--baseline", "current", "--candidate", "current",
                 "--rounds", "6", "--max-rounds", "6", "--results", str(tmp_path / "r"),
                 "--quiet"])  # fmt: skip
    out = capsys.readouterr().out
    assert code in (0, 1)  # which, the machine decides; what it prints and writes, the code
    points = [x for x in out.splitlines() if x.startswith("  numpy 20-8-4 b=")]
    assert len(points) == 1 and all("6 rounds" in x for x in points), out
    assert out.strip().splitlines()[-2].startswith(("ok: ", "FAIL: "))
    (folder,) = (tmp_path / "r").glob("*-tiny")
    with (folder / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert len(runs) == 2 * 6 and {r["status"] for r in runs} == {"ok"}
    firsts = [r["env"] for r in runs if r["batch_size"] == "50"][::2]
    assert firsts == ["baseline", "candidate"] * 3  # A B, B A, ...
    assert main(["summary", str(folder)]) == 0  # a result set like any other
    assert main(["gate", str(sweep), "--baseline", "", "--candidate", "current"]) == 2
    assert main(["gate", str(sweep), "--baseline", "current", "--candidate", "current",
                 "--rounds", "3"]) == 2  # fmt: skip


@pytest.mark.slow
def test_a_side_that_cannot_be_built_is_refused_before_anything_runs(tmp_path, capsys):
    """Issue 47: `--baseline numpy==0.0.1` said so, then ran all 20 candidate runs and
    repeated the error 20 times before "nothing to compare", after 2 min 39 s."""
    import time

    from mlpbench.cli.app import main

    t0 = time.monotonic()
    code = main(["gate", "gate", "--baseline", "numpy==0.0.1", "--candidate", "current",
                 "--results", str(tmp_path / "r"), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--baseline 'numpy==0.0.1': cannot be built" in err
    assert "nothing was run" in err and not (tmp_path / "r").exists()
    assert time.monotonic() - t0 < 60
