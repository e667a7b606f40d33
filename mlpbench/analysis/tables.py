"""One results folder loaded once, and every table the renderers need, computed once.

The data flows one way: ``ResultSet.load`` (runs, epochs, environment, config) ->
:class:`Analysis` (summary, ratios, dtype gains, efficiency, phases, ablation, start-up) ->
renderers (``mlpbench.render.text`` for the terminal, ``mlpbench.render.plots`` for matplotlib,
``mlpbench.render.report`` for HTML). Nothing here draws or prints; no table is computed in two
places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from mlpbench.analysis import costs
from mlpbench.analysis.axes import KeyAxes
from mlpbench.analysis.peaks import against_best_peaks, peak_warning
from mlpbench.analysis.stats import speed_ratios, summarize
from mlpbench.api.protocol import PHASES, ModelSpec
from mlpbench.config.points import AXES, CURRENT_ENV, PointKey, series_name
from mlpbench.config.sweepfile import SweepConfig, load_config
from mlpbench.errors import UserError
from mlpbench.results.environment import Environment
from mlpbench.results.folder import ResultsFolder
from mlpbench.results.profile import CATEGORIES, COVERAGE_LOW, ProfiledRun
from mlpbench.results.store import load_epochs, load_runs, resolve
from mlpbench.stacks.build import named_versions

OVERHEAD_HIGH = 1.25  # a profiled run this much slower than the timed ones says so
PROFILE_COLUMNS = [*AXES, "series", "run_id", "tool", "skipped", "sees", "coverage",
                   "cores_busy", "step_ms", "overhead", "category", "ms_per_step"]  # fmt: skip

# A neutral palette (matplotlib's tab10): any backend, built in or plugin, gets a color by its
# place in the sweep's backend order; a sweep file's [report] colors override it.
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


@dataclass
class ResultSet:
    """What a results folder holds, read and checked once."""

    directory: Path
    runs: pd.DataFrame
    epochs: pd.DataFrame
    env: Environment
    config: SweepConfig | None
    profiles: list[ProfiledRun] = field(default_factory=list)  # profiled runs, apart

    @classmethod
    def load(cls, directory: str | Path, strict: bool = False) -> ResultSet:
        """Read a folder; a bad row leaves its run out with a warning, or with ``strict`` is
        an error (mlpbench.results.store.read_table)."""
        directory = resolve(directory)
        env = ResultsFolder(directory).read_environment()
        try:
            config = load_config(ResultsFolder(directory).config_path)
        except UserError:  # a hand-made or older folder: the CSVs alone still tell a lot
            config = None
        # Efficiency against the best peak the session measured: one calibrated while the
        # machine was busy reads low, and a share above 100% is no measurement.
        runs = against_best_peaks(load_runs(directory, strict), env)
        profiles = ResultsFolder(directory).profiles()
        return cls(directory, runs, load_epochs(directory, strict), env, config, profiles)

    @property
    def ok(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "ok"]

    @property
    def not_run(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] != "ok"]


class Analysis:
    """The tables of one result set. Each is computed on first use and kept."""

    def __init__(self, results: ResultSet) -> None:
        self.results = results
        cfg = results.config
        order = list(cfg.grid["backend"]) if cfg else []
        order += [b for b in dict.fromkeys(results.runs["backend"]) if b not in order]
        self.backends: list[str] = order
        report = cfg.report if cfg else {}
        self.reference: str = cfg.reference if cfg else (order[0] if order else "")
        self.colors: dict[str, str] = {
            b: PALETTE[i % len(PALETTE)] for i, b in enumerate(order)
        } | dict(report.get("colors", {}))
        networks = results.runs["layers"].astype(str)
        self.network: str = (
            cfg.grid["layers"][0] if cfg else (networks.mode()[0] if len(networks) else "")
        )
        present = list(dict.fromkeys(results.runs["variant"].astype(str)))
        first = cfg.variants[0].name if cfg else ""
        self.baseline: str = first if first in present or not present else present[0]

    @classmethod
    def of(cls, directory: str | Path, strict: bool = False) -> Analysis:
        return cls(ResultSet.load(directory, strict))

    # Helpers

    def color(self, backend: str) -> str:
        if backend not in self.colors:
            self.colors[backend] = PALETTE[len(self.colors) % len(PALETTE)]
        return self.colors[backend]

    def default_variant(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of the first (baseline) variant, so lines are not mixed across variants."""
        if frame.empty:
            return frame
        return frame[frame["variant"].astype(str) == self.baseline]

    @cached_property
    def primary_host(self) -> str | None:
        """In a cluster sweep, the host with the most successful runs: the machine whose
        numbers the "why" tables (phases, engine split) explain, never an average of several.
        None when the runs come from one host."""
        ok = self.results.ok
        if "host" not in ok or ok["host"].nunique() < 2:
            return None
        return str(ok["host"].value_counts().idxmax())

    def on_primary_host(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s rows from :attr:`primary_host` (all of them from a one-host sweep)."""
        if self.primary_host is None or "host" not in frame:
            return frame
        return frame[frame["host"] == self.primary_host]

    @cached_property
    def axes(self) -> KeyAxes:
        """Which key axes vary among the runs that succeeded (each labels every row) and which
        are fixed (said once)."""
        ok = self.results.ok
        return KeyAxes.of(ok if len(ok) else self.results.runs)

    @cached_property
    def costs(self) -> pd.DataFrame:
        """The per-step cost model of each series over the batch axis
        (:func:`mlpbench.analysis.costs.cost_models`), primary host."""
        return costs.cost_models(self.on_primary_host(self.results.runs))

    @cached_property
    def gpu_speedups(self) -> pd.DataFrame:
        """CPU time over GPU time per series, context and batch; empty without both devices."""
        return costs.device_speedups(self.on_primary_host(self.summary))

    @cached_property
    def fastest(self) -> pd.DataFrame:
        """The fastest series per device and batch (:func:`costs.fastest_per_device`)."""
        return costs.fastest_per_device(self.summary, self.axes)

    @cached_property
    def device_verdict(self) -> pd.DataFrame:
        """The device question per series (and varying context): the GPU's speed-up over
        the CPU at each batch size ("2.28x" or with its range "2.28x (2.1-2.4)"), and the
        batch from which the GPU pays off, or "nowhere in this sweep". Empty without both
        devices."""
        g_all = self.gpu_speedups
        if g_all.empty:
            return pd.DataFrame()
        rows = []
        skip = ("batch_size", "device")
        for key, g in self.axes.groups(g_all, by=("backend", "options", "env"), skip=skip):
            row = {"series": self.axes.label(key, skip=skip)}
            for r in g.sort_values("batch_size").itertuples():
                ranged = f" ({r.low:.2f}-{r.high:.2f})" if r.low != r.high else ""
                row[f"batch {int(r.batch_size)}"] = f"{r.speedup:.2f}x{ranged}"
            first = costs.pays_off_from(g)
            row["GPU pays off from"] = f"batch {first}" if first else "nowhere in this sweep"
            rows.append(row)
        frame = pd.DataFrame(rows).fillna("-")
        batches = sorted((c for c in frame.columns if c.startswith("batch ")),
                         key=lambda c: int(c.split()[1]))  # fmt: skip
        return frame[["series", *batches, "GPU pays off from"]]

    @property
    def max_threads(self) -> int:
        return int(self.main["threads"].max()) if not self.main.empty else 1

    # Tables

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Per point: n, median/min/max steady epoch time, CI, throughput, efficiency."""
        return summarize(self.results.runs)

    @cached_property
    def main(self) -> pd.DataFrame:
        """The summary of the sweep's first network, each backend run with several grid
        options as a series per combination (``keras/jax``): what the standard tables and
        plots compare."""
        return self._series_apart(self.summary[self.summary["layers"] == self.network])

    @cached_property
    def main_runs(self) -> pd.DataFrame:
        """The runs behind :attr:`main`, named as there (``keras/jax``)."""
        runs = self.results.runs
        return self._series_apart(runs[runs["layers"] == self.network])

    @cached_property
    def _apart(self) -> set[str]:
        """The backends (not the reference) the first network ran with several grid options."""
        s = self.summary
        s = s[s["layers"] == self.network]
        counts = s[["backend", "options", "env"]].drop_duplicates().groupby("backend").size()
        stacks = s[["backend", "env"]].drop_duplicates().groupby("backend").size()
        # The reference keeps its name (the ratios are over it) unless it ran in several
        # version stacks: then each stack is a series of its own, like any backend's.
        return {b for b, n in counts.items() if n > 1 and (b != self.reference or stacks[b] > 1)}

    def _series_apart(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the rows of :attr:`_apart`'s backends named by series."""
        s = frame.copy()
        rows = s["backend"].isin(self._apart)
        if rows.any():
            s.loc[rows, "backend"] = [
                series_name(b, o, e)
                for b, o, e in zip(
                    s.loc[rows, "backend"], s.loc[rows, "options"], s.loc[rows, "env"]
                )
            ]
        return s

    @cached_property
    def versions(self) -> pd.DataFrame:
        """Each point measured in several version stacks ([environments]): per stack its
        median time and that time over the first stack's (the grid's order), baseline variant.
        Column ``stack`` names the stack with the versions it resolved to."""
        cols = [
            "backend", "options", "batch_size", "dtype", "device", "threads", "layers",
            "env", "stack", "median_s", "min_s", "max_s", "ratio", "baseline_env",
        ]  # fmt: skip
        s = self.default_variant(self.summary)
        if s.empty or s["env"].nunique() < 2:
            return pd.DataFrame(columns=cols)
        cfg = self.results.config
        order = list(cfg.grid["env"]) if cfg else []
        order += [e for e in dict.fromkeys(s["env"]) if e not in order]
        group = ["backend", "options", "batch_size", "dtype", "device", "threads", "layers"]
        rows = []
        for _, g in s.groupby(group, sort=True):
            if g["env"].nunique() < 2:
                continue
            g = g.assign(_o=g["env"].map(order.index)).sort_values("_o")
            base = g.iloc[0]
            for r in g.itertuples():
                rows.append(
                    {
                        **{c: getattr(r, c) for c in group},
                        "env": r.env,
                        "stack": self.stack_label(r.env),
                        "median_s": r.median_s,
                        "min_s": r.min_s,
                        "max_s": r.max_s,
                        "ratio": r.median_s / base["median_s"],
                        "baseline_env": base["env"],
                    }
                )
        return pd.DataFrame(rows, columns=cols)

    def stack_label(self, env: str) -> str:
        """A stack's name with the versions that set it apart: ``keras2 (tensorflow-cpu
        2.15.1, keras 2.15.0)``; the sweep's own environment is ``current``."""
        entry = self.results.env.stacks.get(env)
        if entry is None or not entry.versions:
            return env
        shown = named_versions(
            entry.requirements,
            entry.versions,
            also=entry.backends,  # a backend's own package, when not named
        )
        return f"{env} ({', '.join(shown)})" if shown else env

    @cached_property
    def ratios(self) -> pd.DataFrame:
        """Every other backend's median time over the reference's, per point (all variants);
        column ``backend`` names the other backend. > 1: the reference is faster."""
        frames = [
            speed_ratios(
                self.main, numerator=other, denominator=self.reference, runs=self.main_runs
            ).assign(backend=other)
            for other in dict.fromkeys(self.main["backend"])
            if other != self.reference
        ]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame(
                columns=["backend", "batch_size", "dtype", "device", "threads", "variant",
                         "ratio", "ratio_low", "ratio_high", "pairs", "paired"]  # fmt: skip
            )
        return pd.concat(frames, ignore_index=True)

    @cached_property
    def profiles(self) -> pd.DataFrame:
        """The profiled runs, a row per run and category (a skipped profile: one row, no
        category): CPU ms per step in it, and the run's wall ms per step, cores busy,
        coverage and overhead (its steady epoch over the timed runs' median)."""
        ok = self.results.ok
        timed = ok.groupby(list(AXES))["steady_epoch_s"].median().to_dict() if len(ok) else {}
        rows: list[dict[str, Any]] = []
        for run in self.results.profiles:
            key, p = run.key, run.profile
            median = timed.get(key.values(), math.nan)
            base = {
                **{axis: getattr(key, axis) for axis in AXES},
                "series": series_name(key.backend, key.options, key.env),
                "run_id": run.run_id, "tool": p.tool, "skipped": p.skipped, "sees": p.sees,
                "coverage": p.coverage, "cores_busy": p.cores_busy, "step_ms": 1e3 * p.step_s,
                "overhead": run.steady_epoch_s / median if median > 0 else math.nan,
            }  # fmt: skip
            if p.skipped or not p.samples:
                rows.append({**base, "category": "", "ms_per_step": math.nan})
                continue
            for c in CATEGORIES:
                rows.append({**base, "category": c, "ms_per_step": 1e3 * p.per_step(c)})
        return pd.DataFrame(rows, columns=PROFILE_COLUMNS)

    @cached_property
    def dtype_gain(self) -> pd.DataFrame:
        """float64 time over float32 time per point of every other axis (and host), baseline
        variant; empty unless both dtypes ran."""
        s = self.default_variant(self.main)
        keys = [a for a in AXES if a not in ("dtype", "variant") and a in s] + ["host"]
        if s.empty or not {"float32", "float64"} <= set(s["dtype"]):
            return pd.DataFrame(columns=[*keys, "gain"])
        wide = s.pivot_table(index=keys, columns="dtype", values="median_s").dropna()
        return (wide["float64"] / wide["float32"]).rename("gain").reset_index()

    @cached_property
    def efficiency(self) -> pd.DataFrame:
        """The summary rows (baseline variant) that have an efficiency."""
        return self.default_variant(self.main).dropna(subset=["efficiency"])

    @cached_property
    def phases(self) -> pd.DataFrame:
        """The phase table of the first device measured (cpu before gpu)."""
        tables = self.phases_by_device
        return next(iter(tables.values())) if tables else pd.DataFrame()

    @cached_property
    def phases_by_device(self) -> dict[str, pd.DataFrame]:
        """Per device (cpu first), :meth:`phases_on` that device; devices without phases left
        out. A CPU and a GPU epoch are never stacked into one bar."""
        e = self.results.epochs
        devices = sorted(e["device"].astype(str).unique()) if len(e) else []
        tables = {d: self.phases_on(d) for d in devices}
        return {d: t for d, t in tables.items() if not t.empty}

    def phases_on(self, device: str) -> pd.DataFrame:
        """Median seconds per phase per steady-state epoch of the reference backend on
        ``device``, by batch size (float32 where measured, most threads, baseline variant)."""
        e = self.results.epochs
        cols = [f"phase_{p}" for p in PHASES if f"phase_{p}" in e.columns]
        if e.empty or not cols:
            return pd.DataFrame()
        e = e[e["device"].astype(str) == device]
        e = self.default_variant(e[(e["backend"] == self.reference) & (e["epoch"] > 1)])
        if self.primary_host is not None:  # epochs.csv names no host: its runs do
            e = e[e["run_id"].isin(self.on_primary_host(self.results.runs)["run_id"])]
        e = e.dropna(subset=cols, how="all")
        if e.empty:
            return pd.DataFrame()
        dtype = "float32" if (e["dtype"] == "float32").any() else e["dtype"].iloc[0]
        e = e[(e["dtype"] == dtype) & (e["threads"] == e["threads"].max())]
        per_run = e.groupby(["batch_size", "run_id"])[cols].median()
        table = per_run.groupby("batch_size").median().fillna(0.0)
        table.columns = [c.removeprefix("phase_") for c in table.columns]
        return table.loc[:, table.sum() > 0]

    @cached_property
    def ablation(self) -> pd.DataFrame:
        """Each variant's median time over the baseline variant's float32 time, per (backend,
        batch), at the most threads measured. ``cost`` > 1: the variant is slower."""
        s = self.main
        if s.empty or s["variant"].nunique() < 2:
            return pd.DataFrame()
        s = s[s["threads"] == s["threads"].max()]
        keys = ["backend", "batch_size", "device", "threads", "host"]  # never across hosts
        base_rows = s[(s["variant"] == self.baseline) & (s["dtype"] == "float32")]
        base = base_rows.set_index(keys)["median_s"]
        rows = []
        for r in s.itertuples():
            key = (r.backend, r.batch_size, r.device, r.threads, r.host)
            if key not in base.index or (r.variant == self.baseline and r.dtype == "float32"):
                continue
            label = r.variant if r.dtype == "float32" else f"{r.variant} + float64"
            if r.variant == self.baseline:
                label = "float64"
            rows.append(
                {
                    "backend": r.backend,
                    "batch_size": r.batch_size,
                    "switch": label,
                    "cost": r.median_s / base.loc[key],
                    "cost_low": r.min_s / base.loc[key],
                    "cost_high": r.max_s / base.loc[key],
                }
            )
        return pd.DataFrame(rows)

    @cached_property
    def engine_split(self) -> pd.DataFrame:
        """Why a framework is slower: per batch size (float32, most threads, baseline variant)
        the reference backend's time, the raw engine's and the framework's on that engine;
        ``overhead_s`` is the framework's own share (framework minus engine). A framework is a
        backend whose info() names another backend of the sweep as its ``engine`` (Keras on
        TensorFlow: ``engine=tf``); one series each, the first in the sweep's order."""
        cols = [
            "batch_size", "framework", "engine", "reference_s", "engine_s", "framework_s",
            "overhead_s",
        ]  # fmt: skip
        ok = self.on_primary_host(self.results.ok)
        ok = ok[ok["layers"] == self.network]
        s = self.on_primary_host(self.default_variant(self.main))
        if ok.empty or s.empty:
            return pd.DataFrame(columns=cols)
        s = s[(s["dtype"] == "float32") & (s["threads"] == s["threads"].max())]
        s = s[s["device"] == sorted(s["device"].unique())[0]] if len(s) else s  # cpu first
        medians = s.pivot_table(index="batch_size", columns="backend", values="median_s")
        engines = ok["backend_info"].astype(str).str.extract(r"(?:^|;)engine=([\w.-]+)")[0]
        named = ok.assign(engine=engines).dropna(subset=["engine"])
        for framework in [b for b in self.backends if b in set(named["backend"])]:
            if framework in self._apart or framework == self.reference:
                continue  # several engines: no one split to tell
            engine = named[named["backend"] == framework]["engine"].mode()[0]
            if not {framework, engine, self.reference} <= set(medians.columns):
                continue
            out = medians[[self.reference, engine, framework]].dropna().reset_index()
            out.columns = ["batch_size", "reference_s", "engine_s", "framework_s"]
            out.insert(1, "framework", framework)
            out.insert(2, "engine", engine)
            out["overhead_s"] = out["framework_s"] - out["engine_s"]
            return out[cols]
        return pd.DataFrame(columns=cols)

    @cached_property
    def crossover(self) -> pd.DataFrame:
        """Where another backend wins: the reference's median time over the other's (> 1: the
        other is faster) per (dtype, series, hidden depth, width, batch), most threads,
        baseline variant; ``series`` names the backend with its grid options (``keras/jax``).
        A dtype the reference cannot compute (bfloat16 for NumPy) is set against the
        reference's float32, the best it can do. Uniform hidden widths only."""
        cols = [
            "dtype", "series", "depth", "width", "batch_size", "reference_dtype",
            "reference_s", "other_s", "ratio", "reference_eff", "other_eff",
        ]  # fmt: skip
        s = self.default_variant(self.summary)
        if s.empty:
            return pd.DataFrame(columns=cols)
        s = s[s["threads"] == s["threads"].max()]
        ref = s[s["backend"] == self.reference].set_index(
            ["layers", "batch_size", "dtype", "host", "env", "device"]
        )
        rows = []
        for k in s[s["backend"] != self.reference].itertuples():
            widths = PointKey(k.backend, 1, k.dtype, k.device, 1, layers=k.layers).widths
            if not widths or len(set(widths)) != 1:
                continue
            for ref_dtype in (k.dtype, "float32"):
                at = (k.layers, k.batch_size, ref_dtype, k.host, k.env, k.device)  # same place
                if at in ref.index:
                    r = ref.loc[at]
                    rows.append(
                        (k.dtype, series_name(k.backend, k.options, k.env), len(widths), widths[0],
                         k.batch_size,
                         ref_dtype, r["median_s"], k.median_s, r["median_s"] / k.median_s,
                         r["efficiency"], k.efficiency)
                    )  # fmt: skip
                    break
        return pd.DataFrame(rows, columns=cols)

    @cached_property
    def cost_per_sample(self) -> pd.DataFrame:
        """Seconds per training sample against training FLOPs per sample, per point (most
        threads, baseline variant): flat where overhead rules, rising where GEMMs do."""
        s = self.default_variant(self.summary)
        if s.empty:
            return pd.DataFrame(
                columns=["series", "dtype", "device", "flops", "seconds", "batch_size"]
            )
        s = s[s["threads"] == s["threads"].max()]
        flops = {
            layers: ModelSpec(layers=tuple(int(v) for v in layers.split("-"))).flops_per_sample()[1]
            for layers in s["layers"].unique()
        }
        return pd.DataFrame(
            {
                "series": [
                    series_name(b, o, e) for b, o, e in zip(s["backend"], s["options"], s["env"])
                ],
                "dtype": s["dtype"],
                "device": s["device"],
                "flops": s["layers"].map(flops),
                "seconds": 1.0 / s["samples_per_s"],
                "batch_size": s["batch_size"],
            }
        )

    @cached_property
    def startup(self) -> pd.DataFrame:
        """Median import, model build, first and steady epoch, and the first epoch's extra time
        (tracing) per backend."""
        ok = self.results.ok
        cols = ["import_s", "setup_s", "first_epoch_s", "steady_epoch_s", "first_extra_s"]
        if ok.empty:
            return pd.DataFrame(columns=cols)
        ok = ok.assign(first_extra_s=(ok["first_epoch_s"] - ok["steady_epoch_s"]).clip(lower=0))
        apart = [a for a in ("options", "env", "device") if a in self.axes.varying]
        table = ok.groupby(["backend", *apart])[cols].median()
        order = {b: i for i, b in enumerate(self.backends)}
        keys = sorted(table.index, key=lambda k: (order.get(k[0] if apart else k, 99), k))
        table = table.reindex(keys)
        if apart:  # one row per series and device: "keras/jax (gpu)"
            table.index = [self.axes.label(dict(zip(["backend", *apart], k))) for k in table.index]
        return table


DRIFT_WARN = 0.05  # a change of the GEMM peak beyond this over a sweep is a warning
NOISY_LOAD_PCT = 10.0  # other processes' share of the CPU during a run
NOISY_STEAL_PCT = 2.0


def drift(env: dict[str, Any]) -> list[dict[str, Any]]:
    """Each GEMM peak (``peak_key``) that changed beyond 5% between the start of the sweep and
    a later calibration: start, end and the change."""
    start = {p.key: p.gflops for p in env.peaks if p.measured}
    out = []
    for again in env.recalibrations:
        for p in again.peaks:
            key = p.key
            a, b = start.get(key), p.gflops
            if a and p.measured and abs(b / a - 1) > DRIFT_WARN:
                out.append(
                    {
                        "key": key,
                        "start": a,
                        "end": b,
                        "change": b / a - 1,
                        "after_runs": again.after_runs,
                    }
                )
    return out


def warnings(a: Analysis) -> list[str]:
    """Why some numbers of this result set may not be trusted, one sentence each: the
    machine check at the sweep's start, drift of the GEMM peak, runs disturbed by other
    processes or the hypervisor, and points whose repeats disagree."""
    from mlpbench.machine.doctor import warnings_of

    out = [f"machine check at the start: {w}" for w in warnings_of(a.results.env)]
    for d in drift(a.results.env):
        device, dtype, threads, stack, _ = d["key"]
        where = "" if stack == CURRENT_ENV else f", stack {stack}"
        out.append(
            f"drift: the GEMM peak ({dtype}, {threads} thr, {device}{where}) went from "
            f"{d['start']:.1f} to {d['end']:.1f} GFLOP/s ({100 * d['change']:+.0f}%) by run "
            f"{d['after_runs']}: the machine's speed changed during the sweep; compare ratios "
            "within one repeat, or rerun on a quiet machine"
        )
    ok = a.results.ok
    if "other_load_pct" in ok:
        noisy = ok[(ok["other_load_pct"] > NOISY_LOAD_PCT) | (ok["steal_pct"] > NOISY_STEAL_PCT)]
        if len(noisy):
            worst = noisy.loc[noisy["other_load_pct"].fillna(0).idxmax()]
            out.append(
                f"load: {len(noisy)} of {len(ok)} runs shared the machine (other processes "
                f"up to {worst['other_load_pct']:.0f}% of the CPU, steal up to "
                f"{noisy['steal_pct'].max():.1f}%): their times are slower than the machine "
                "can do; stop the other work and rerun them"
            )
    low = peak_warning(a.results.runs)
    if low:
        out.append(low)
    unstable = a.summary[a.summary["unstable"].astype(bool)] if not a.summary.empty else []
    if len(unstable):
        worst = unstable.loc[unstable["spread"].idxmax()]
        out.append(
            f"unstable: {len(unstable)} point(s) whose repeats differ by more than "
            f"{100 * 0.10:.0f}% of their median (worst: {worst['backend']} batch "
            f"{worst['batch_size']} {worst['dtype']} {worst['threads']} thr, "
            f"{100 * worst['spread']:.0f}%): rerun with more repeats"
        )
    return out + profile_warnings(a.profiles)


def profile_warnings(profiles: pd.DataFrame) -> list[str]:
    """What qualifies a profile: skipped, low coverage, what its tool cannot see."""
    out = []
    for r in profiles.drop_duplicates("run_id").to_dict("records"):
        name = f"{r['series']} batch {int(r['batch_size'])}"
        if r["skipped"]:
            out.append(f"profile of {name} skipped: {r['skipped']}")
        elif not r["coverage"] >= COVERAGE_LOW:
            out.append(
                f"profile of {name}: its samples cover {r['coverage']:.0%} of the process's CPU "
                "time (under 80%): its categories may miss work"
            )
        if r["overhead"] > OVERHEAD_HIGH:
            out.append(
                f"profile of {name}: the profiled run took {r['overhead']:.2f}x the timed runs' "
                "median: its categories describe a slowed run (the sampler shares the cores)"
            )
        if r["sees"]:
            out.append(f"profile of {name}: {r['sees']}")
    return list(dict.fromkeys(out))
