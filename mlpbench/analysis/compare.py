"""Compare two result sets point by point (asv-style), for humans and for CI.

Per point: the ratio of median steady epoch times B / A with a bootstrap 95% interval, and a
two-sided Mann-Whitney U test over the repeats. The p-values are corrected across all points
with Holm-Bonferroni: it bounds the chance of *any* false verdict (what a CI gate needs) without
assuming the points independent; Benjamini-Hochberg would bound only the share of false ones.

- ``slower`` / ``faster``: the ratio passes the threshold and the corrected p <= alpha.
- ``slower (untested)`` / ``faster (untested)``: past the threshold, but even the smallest p
  these repeats can reach (exact test, 2 / C(n_a + n_b, n_a)), corrected for the number of
  points, is above alpha: no test could have decided.
- ``unclear``: past the threshold, testable, not significant after the correction.
- ``same``: within the threshold.
A point is ``unstable`` when either side's repeats spread by more than 10% of their median or
the ratio's interval is wider than the effect it reports.

The gate (``Row.fails``, what makes ``mlpbench compare`` exit 1): a ``slower`` point whose
repeats hold still, or else a slower point whose whole bootstrap interval lies beyond the
threshold. "Else" is where the U test's p cannot be trusted to stand for the code: the repeats
cannot reach significance (``untested``), they spread by more than 10% (``unstable``: a shared
VM's fast and slow spells last seconds, so one sweep can draw more fast ones than the next), or
the machine moved between the sweeps (below). No interval is given under
``MIN_CI`` repeats, so such a point never fails. A slower point that misses these rules is
``undecided``: reported on a line of its own, failing only with ``strict`` (a real slowdown
may hide there: add repeats, use a quieter machine). Computation only:
``mlpbench.render.text.compare_lines`` renders.

The machine moves between two sweeps (a VM's neighbours, its clock): repeats taken inside one
sweep cannot see that, so a whole sweep can come out 15% slower with a tiny p on the same code.
Each sweep measures the machine's GEMM peak at its start and end; where B's ran slower by more
than ``MACHINE_MOVED``, the point's interval is divided by the machine's own slowdown before it
is held against the threshold. Only between sides with the same libraries: a slower BLAS in B
slows its GEMM peak too, and that is the code's slowdown, not the machine's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpbench.analysis.peaks import measured_peaks
from mlpbench.analysis.stats import (
    POINT,
    UNSTABLE_SPREAD,
    holm,
    mann_whitney_u,
    min_p_value,
    ratio_ci,
)
from mlpbench.analysis.tables import ResultSet
from mlpbench.config.points import PointKey
from mlpbench.errors import UserError
from mlpbench.results.environment import PeakKey
from mlpbench.results.folder import ResultsFolder
from mlpbench.results.profile import CATEGORIES, Profile


@dataclass
class Row:
    key: PointKey
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    ratio: float  # B / A: > 1 means B is slower
    ci_low: float
    ci_high: float
    p: float  # raw two-sided Mann-Whitney p
    p_holm: float  # corrected across the compared points
    min_p: float  # the smallest raw p these repeats can reach
    verdict: str
    unstable: bool
    threshold: float = 0.10
    machine: float = float("nan")  # B's machine time over A's (GEMM peaks A / B); NaN: unknown
    moved: str = ""  # where both sides profiled the point: the category that moved most

    @property
    def machine_moved(self) -> bool:
        """B's GEMM peak ran more than ``MACHINE_MOVED`` below A's (same libraries)."""
        m = self.machine
        return m == m and m > 1 + MACHINE_MOVED

    @property
    def machine_explains(self) -> bool:
        """B's machine itself ran slower, by enough to account for this point's slowdown."""
        return self.machine_moved and self.ratio / self.machine <= 1 + self.threshold

    @property
    def slower(self) -> bool:
        return self.verdict.startswith("slower") or (self.verdict == "unclear" and self.ratio > 1)

    @property
    def steady(self) -> bool:
        """Repeats a p can stand on: they hold still (not unstable) on a machine that did not
        move between the sweeps."""
        return not (self.unstable or self.machine_moved)

    @property
    def clear(self) -> bool:
        """The whole interval of the ratio, over the machine's own slowdown where it moved,
        lies beyond the threshold (no interval under ``MIN_CI`` repeats: never clear)."""
        scale = self.machine if self.machine_moved else 1.0
        return self.ci_low / scale > 1 + self.threshold

    @property
    def fails(self) -> bool:
        """A slowdown the gate stands on: significant on repeats that hold still (stable, the
        machine unmoved), or else with its whole interval beyond the threshold."""
        if not self.verdict.startswith("slower"):
            return False
        if self.verdict == "slower" and self.steady:
            return True
        return self.clear

    @property
    def undecided(self) -> bool:
        """Slower past the threshold, but not by the gate's rules: more repeats (or, where the
        repeats spread or the machine moved, a quieter machine) may tell."""
        return self.slower and not self.fails


GROUPS = ("data", "model", "train", "options")
MACHINE_MOVED = 0.05  # B's GEMM peak this much below A's: the machine moved between the sweeps


def gemm_stack(env: dict) -> tuple:
    """What a sweep's GEMM peaks run on (NumPy, Python, the BLAS and its variables): where the
    two sides differ in it, a slower peak is the code's, not the machine's."""
    versions, blas = env.versions, env.blas
    return (versions.get("numpy"), versions.get("python"), blas.get("blas"),
            blas.get("blas_architecture"), env.blas_env)  # fmt: skip


def machine_speed(env: dict) -> dict[PeakKey, float]:
    """GFLOP/s of the machine over one sweep per ``peak_key``: the geometric mean of its GEMM
    peak at the start and at each recalibration (the end, at least)."""
    seen: dict[PeakKey, list[float]] = {}
    for p in measured_peaks(env):
        if p.measured:  # the peak's one figure, as the drift warning and the report read it
            seen.setdefault(p.key, []).append(p.gflops)
    return {k: float(np.exp(np.mean(np.log(v)))) for k, v in seen.items()}


def differences(a: ResultSet, b: ResultSet) -> dict[str, list[str]]:
    """What differs between the two sides beyond the points: the sweep's ``data``, ``model``,
    ``train`` and backend ``options`` (from their config.toml) and the environment (versions,
    BLAS and its kernels, CPU), as ``key: A -> B`` lines grouped by table."""
    from dataclasses import asdict

    out: dict[str, list[str]] = {}

    def note(group: str, key: str, x: object, y: object) -> None:
        if x != y:
            out.setdefault(group, []).append(f"{key}: {x!r} -> {y!r}")

    ca, cb = a.config, b.config
    if ca is not None and cb is not None:  # the checked specs, defaults filled in
        tables = [
            ("data", asdict(ca.data), asdict(cb.data)),
            ("model", asdict(ca.model), asdict(cb.model)),
            ("train", asdict(ca.train), asdict(cb.train)),
            ("options", dict(ca.options), dict(cb.options)),
        ]
    else:  # a folder whose config.toml no longer loads: its tables as written
        from mlpbench.config.sweepfile import parse_toml

        def raw(s: ResultSet) -> dict:
            path = ResultsFolder(s.directory).config_path
            return parse_toml(path.read_text()) if path.exists() else {}

        ta, tb = raw(a), raw(b)
        tables = [(g, dict(ta.get(g, {})), dict(tb.get(g, {}))) for g in GROUPS]
    for group, x, y in tables:
        for key in sorted(set(x) | set(y)):
            if group == "train" and key == "batch_size":
                continue  # a grid axis: the points say it
            note(group, f"{group}.{key}", x.get(key), y.get(key))
    ea, eb = a.env, b.env
    va, vb = ea.versions, eb.versions
    for key in sorted(set(va) | set(vb)):
        note("environment", f"versions.{key}", va.get(key), vb.get(key))
    for key in ("cpu_model", "cores_usable"):
        note("environment", key, getattr(ea, key), getattr(eb, key))
    for key in ("blas", "blas_architecture"):
        note("environment", f"blas.{key}", ea.blas.get(key), eb.blas.get(key))
    note("environment", "blas_env", ea.blas_env, eb.blas_env)
    return out


def compare(
    a: str | Path | ResultSet,
    b: str | Path | ResultSet,
    threshold: float = 0.10,
    alpha: float = 0.05,
    force: bool = False,
) -> list[Row]:
    """One row per point that both result sets ran successfully; a UserError when none did
    (a comparison of nothing must never pass in CI), and when the two measured different
    work (``data`` or ``model`` differ) unless ``force``."""
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold > 0):
        raise UserError(f"--threshold = {threshold}: must be a finite number > 0 (0.10 = 10%)")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise UserError(f"--alpha = {alpha}: must be a number between 0 and 1")
    set_a = a if isinstance(a, ResultSet) else ResultSet.load(a)
    set_b = b if isinstance(b, ResultSet) else ResultSet.load(b)
    a, b = set_a.directory, set_b.directory
    diff = differences(set_a, set_b)
    work = [line for group in ("data", "model") for line in diff.get(group, [])]
    if work and not force:
        raise UserError(
            f"{a} and {b} measured different work ({'; '.join(work)}): their times do not "
            "compare; rerun one side, or --force to compare anyway"
        )
    ok_a = set_a.ok.groupby(POINT)["steady_epoch_s"]
    b_groups = dict(list(set_b.ok.groupby(POINT)["steady_epoch_s"]))
    pairs = []
    for values, times_a in ok_a:
        if values in b_groups:
            pairs.append((values, times_a.to_numpy(float), b_groups[values].to_numpy(float)))
    if not pairs:
        raise UserError(
            f"no point could be compared: {a} and {b} have no successful point in common "
            "(different grids, or no run succeeded)"
        )
    m = len(pairs)
    speed_a, speed_b = machine_speed(set_a.env), machine_speed(set_b.env)
    if gemm_stack(set_a.env) != gemm_stack(set_b.env):
        speed_a = {}  # another GEMM: its peaks measure the code as well as the machine
    raw = [mann_whitney_u(ta, tb)[1] for _, ta, tb in pairs]
    profiled_a, profiled_b = profiled(set_a), profiled(set_b)
    rows = []
    for (values, ta, tb), p, p_adj in zip(pairs, raw, holm(raw)):
        ma, mb = float(np.median(ta)), float(np.median(tb))
        ratio = mb / ma
        lo, hi = ratio_ci(ta, tb)
        floor = min_p_value(len(ta), len(tb))
        testable = min(1.0, floor * m) <= alpha
        beyond = ratio > 1 + threshold or ratio < 1 / (1 + threshold)
        word = "slower" if ratio > 1 else "faster"
        if not beyond:
            verdict = "same"
        elif not testable:
            verdict = f"{word} (untested: {len(ta)} vs {len(tb)} repeats over {m} points)"
        elif p_adj <= alpha:
            verdict = word
        else:
            verdict = "unclear"
        spread = max(float(np.ptp(ta) / ma), float(np.ptp(tb) / mb))
        wide = not math.isnan(lo) and (hi - lo) > abs(ratio - 1)
        unstable = spread > UNSTABLE_SPREAD or (beyond and wide)
        key = PointKey.from_row(dict(zip(POINT, values)))
        slot = (key.device, key.dtype, int(key.threads), key.env)
        same = [k for k in speed_a if k[:4] == slot and k in speed_b]  # measured alike
        machine = speed_a[same[0]] / speed_b[same[0]] if same else float("nan")
        rows.append(
            Row(
                key,
                len(ta),
                len(tb),
                ma,
                mb,
                ratio,
                lo,
                hi,
                p,
                p_adj,
                floor,
                verdict,
                unstable,
                threshold,
                machine,
                moved_category(profiled_a.get(key), profiled_b.get(key)),
            )  # fmt: skip
        )
    return rows


def profiled(results: ResultSet) -> dict[PointKey, Profile]:
    """Each point's profile (its first that was taken), where the set has one."""
    out: dict[PointKey, Profile] = {}
    for run in results.profiles:
        if not run.profile.skipped and run.profile.samples:
            out.setdefault(run.key, run.profile)
    return out


def moved_category(a: Profile | None, b: Profile | None) -> str:
    """The category whose CPU time per step changed most from A's profile to B's, in words
    ("framework runtime +0.41 ms a step (0.62 -> 1.03)"); "" unless both sides profiled."""
    if a is None or b is None:
        return ""
    change = {c: 1e3 * (b.per_step(c) - a.per_step(c)) for c in CATEGORIES}
    top = max(change, key=lambda c: abs(change[c]))
    return (
        f"{top} {change[top]:+.2f} ms a step ({1e3 * a.per_step(top):.2f} -> "
        f"{1e3 * b.per_step(top):.2f}, CPU time by category, all threads)"
    )


def one_sided(a: ResultSet, b: ResultSet) -> tuple[list[PointKey], list[PointKey]]:
    """The points with a successful run in A only, and in B only: a gate that compared only
    what the two share must say what it left out."""
    keys_a = {PointKey.from_row(r) for r in a.ok[POINT].to_dict("records")}
    keys_b = {PointKey.from_row(r) for r in b.ok[POINT].to_dict("records")}
    order = lambda k: k.label()  # noqa: E731
    return sorted(keys_a - keys_b, key=order), sorted(keys_b - keys_a, key=order)


@dataclass
class Gate:
    """What compare's exit status stands on, counted for its closing lines."""

    failing: list[Row]
    undecided: list[Row]
    unstable: list[Row]
    strict: bool = False
    alone: int = 0  # points with a successful run on one side only

    @classmethod
    def of(cls, rows: list[Row], strict: bool = False, alone: int = 0) -> Gate:
        return cls(
            [r for r in rows if r.fails],
            [r for r in rows if r.undecided],
            [r for r in rows if r.unstable],
            strict,
            alone,
        )

    @property
    def exit_code(self) -> int:
        """1: a slowdown by the gate's rules (``strict``: also an undecided or unstable
        point, or one that ran on one side only); 0 otherwise."""
        if self.failing or (self.strict and (self.undecided or self.unstable or self.alone)):
            return 1
        return 0
