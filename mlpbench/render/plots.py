"""Plots drawn from an :class:`mlpbench.analysis.tables.Analysis`: drawing only, no loading, no
tables.

Each plot answers one question, has a title, labelled axes with units, a legend, and a caption
naming the machine and the config; each is written as PNG and SVG under ``DIR/plots/``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mlpbench.analysis.tables import Analysis  # noqa: E402
from mlpbench.config.points import series_name  # noqa: E402
from mlpbench.machine.describe import caption as machine_caption  # noqa: E402
from mlpbench.render.format import threads_label  # noqa: E402

STYLES = {"float32": "-", "float64": "--"}
MARKERS = {"float32": "o", "float64": "s", "bfloat16": "^", "float16": "v"}
DEVICE_LINES = {"cpu": "-", "gpu": "--"}


def look(key: dict[str, Any]) -> dict[str, Any]:
    """How a series' context shows: a marker per dtype (never only a dash pattern, which a
    short legend sample hides) and a dashed line on the GPU."""
    return {
        "marker": MARKERS.get(str(key.get("dtype", "float32")), "D"),
        "linestyle": DEVICE_LINES.get(str(key.get("device", "cpu")), ":"),
    }


class Context:
    """What every plot needs: the analysis's tables, the caption, where to write."""

    def __init__(self, analysis: Analysis, out: Path) -> None:
        self.a = analysis
        self.summary = analysis.main
        self.runs = analysis.results.runs
        self.epochs = analysis.results.epochs
        self.reference = analysis.reference
        self.out = out
        self.out.mkdir(exist_ok=True)
        ok = analysis.results.ok
        env = analysis.results.env
        directory = analysis.results.directory
        cfg = env.config_name or directory.name
        n_train = int(ok["n_train"].iloc[0]) if len(ok) else 0
        epochs = int(ok["epochs"].max()) if len(ok) else 0
        self.caption = (
            f"{machine_caption(env)}\nconfig {cfg}: {n_train} samples, "
            f"{epochs} epochs; median over repeats, band = min-max  "
            f"[{directory.name}]"
        )

    def color(self, backend: str) -> str:
        return self.a.color(backend)

    def max_threads(self) -> int:
        return self.a.max_threads

    def default_variant(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.a.default_variant(frame)

    def lay_out(self, fig: Any) -> None:
        """The footer (what ran, where) and the final layout, before a figure is saved."""
        fig.text(0.01, 0.005, self.caption, fontsize=7, color="#555555", va="bottom")
        with warnings.catch_warnings():
            # a figure of many series cannot always fit tight_layout's rectangle; the saved
            # image grows instead (bbox_inches): no legend, label or footer is ever cut
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout(rect=(0, 0.07, 1, 1))

    def save(self, fig: Any, name: str) -> Path:
        self.lay_out(fig)
        png = self.out / f"{name}.png"
        fig.savefig(png, dpi=110, bbox_inches="tight")
        fig.savefig(self.out / f"{name}.svg", bbox_inches="tight")
        plt.close(fig)
        return png


def _log_x(ax: Any, values: Any) -> None:
    """Log batch-size axis labelled with the batch sizes themselves."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log")
    ticks = sorted({int(v) for v in values})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(t) for t in ticks])


def _minor_label(value: float, _: Any = None) -> str:
    """A log axis's minor tick label at 2x and 5x a power of ten only: a label on every minor
    tick crowds the majors (0.09 drawn over 0.1)."""
    if value <= 0:
        return ""
    mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
    return f"{value:g}" if mantissa in (2.0, 5.0) else ""


def _log_y(ax: Any) -> None:
    _log(ax, "y")


def _log(ax: Any, which: str) -> None:
    """A log axis labelled ``0.3``, not ``3x10^-1``: majors as plain numbers, minors at 2x and
    5x only, smaller (matplotlib labels every minor tick of a short range: they overlap)."""
    from matplotlib.ticker import FormatStrFormatter, FuncFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.tick_params(axis=which, which="minor", labelsize=7)


def plot_epoch_time(ctx: Context) -> Path | None:
    """(a) Steady-state time per epoch against batch size, a panel per thread count; a line
    per series and every other axis the sweep varies (device, dtype, network, ...)."""
    s = ctx.default_variant(ctx.summary)
    if s.empty:
        return None
    axes_ = ctx.a.axes
    threads = sorted(s["threads"].unique())
    fig, axes = plt.subplots(
        1, len(threads), figsize=(5.2 * len(threads), 4.4), squeeze=False, sharey=True
    )
    skip = ("batch_size", "threads", "variant")
    for ax, t in zip(axes[0], threads):
        for key, g in axes_.groups(s[s["threads"] == t], by=("backend",), skip=skip):
            g = g.sort_values("batch_size")
            ax.plot(
                g["batch_size"],
                g["median_s"],
                color=ctx.color(key["backend"]),
                label=axes_.label(key, skip=skip),
                **look(key),
            )
            ax.fill_between(
                g["batch_size"], g["min_s"], g["max_s"], color=ctx.color(key["backend"]),
                alpha=0.15,
            )  # fmt: skip
        _log_x(ax, s["batch_size"])
        _log_y(ax)
        ax.set_title(threads_label(t))
        ax.set_xlabel("batch size (samples)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("steady-state time per epoch (s)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Time per epoch vs batch size (lower is faster)")
    return ctx.save(fig, "epoch_time")


def plot_gpu_speedup(ctx: Context) -> Path | None:
    """CPU against GPU: each series' CPU time over its GPU time against batch size (above 1
    the GPU is faster), and beside it the per-step cost model's two terms."""
    table = ctx.a.gpu_speedups
    if table.empty:
        return None
    axes_ = ctx.a.axes
    fig, (ax, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    skip = ("batch_size", "device", "variant")
    for key, g in axes_.groups(table, by=("backend", "options", "env"), skip=skip):
        g = g.sort_values("batch_size")
        color = ctx.color(series_name(key["backend"], key["options"], key["env"]))
        label = axes_.label(key, skip=skip)
        ax.plot(g["batch_size"], g["speedup"], color=color, marker="o", label=label)
        ax.fill_between(g["batch_size"], g["low"], g["high"], color=color, alpha=0.12)
    ax.axhline(1.0, color="black", lw=1.2)
    _log_x(ax, table["batch_size"])
    _log_y(ax)
    ax.set_xlabel("batch size (samples)")
    ax.set_ylabel("CPU time / GPU time (x)")
    ax.set_title("What the GPU buys: above 1, the GPU is faster")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, fontsize=7)
    c = ctx.a.costs.dropna(subset=["fixed_s"])
    for key, g in axes_.groups(c, by=("backend", "options", "env"), skip=("batch_size",)):
        r = g.iloc[0]
        right.scatter(
            1e3 * r["fixed_s"], max(1e6 * r["per_sample_s"], 1e-3),
            color=ctx.color(series_name(key["backend"], key["options"], key["env"])),
            marker="^" if key.get("device") == "gpu" else "o", s=40,
            label=axes_.label(key, skip=("batch_size",)),
        )  # fmt: skip
    _log(right, "x")
    _log(right, "y")
    right.set_xlabel("fixed cost per step (ms): launches, dispatch, syncs")
    right.set_ylabel("cost per sample (us): compute, copies")
    right.set_title("Per-step cost model (triangles: GPU)")
    right.grid(True, which="both", alpha=0.3)
    _legend(right, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ctx.save(fig, "gpu_speedup")


def plot_speedup(ctx: Context) -> Path | None:
    """(b) How many times faster the reference backend is than each other, against batch."""
    s = ctx.default_variant(ctx.summary)
    ratios = ctx.default_variant(ctx.a.ratios)
    if ratios.empty:
        return None
    ref = ctx.reference
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    top = ctx.max_threads()
    axes_ = ctx.a.axes
    for key, g in axes_.groups(ratios, by=("backend",), skip=("batch_size", "variant")):
        other = key["backend"]
        g = g.sort_values("batch_size")
        ax.plot(
            g["batch_size"],
            g["ratio"],
            alpha=1.0 if key.get("threads", top) == top else 0.55,
            color=ctx.color(other),
            label="vs " + axes_.label(key, skip=("batch_size", "variant")),
            **look(key),
        )
        ax.fill_between(
            g["batch_size"], g["ratio_low"], g["ratio_high"], color=ctx.color(other), alpha=0.12
        )
    ax.axhline(1.0, color="black", lw=1.2)
    _log_x(ax, s["batch_size"])
    _log_y(ax)
    ax.annotate(
        "equal speed",
        xy=(1.0, 1.0),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 3),
        textcoords="offset points",
        ha="right",
        fontsize=8,
    )
    ax.set_xlabel("batch size (samples)")
    ax.set_ylabel(f"speed-up of {ref} (other's time / {ref}'s time, x)")
    ax.set_title(f"{ref} vs the others: above 1, {ref} is faster")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, fontsize=7)
    return ctx.save(fig, "speedup")


def plot_thread_scaling(ctx: Context) -> Path | None:
    """(c) Speed-up over one thread against thread count, with the ideal line."""
    s = ctx.default_variant(ctx.summary)
    if s["threads"].nunique() < 2:
        return None
    batches = sorted(s["batch_size"].unique())
    fig, axes = plt.subplots(
        1, len(batches), figsize=(3.6 * len(batches), 4.0), squeeze=False, sharey=True
    )
    top = int(s["threads"].max())
    flagged = False
    axes_ = ctx.a.axes
    skip = ("batch_size", "threads", "variant")
    for ax, b in zip(axes[0], batches):
        for key, g in axes_.groups(s[s["batch_size"] == b], by=("backend",), skip=skip):
            backend, dtype = key["backend"], g["dtype"].iloc[0]
            g = g.sort_values("threads")
            base = g[g["threads"] == g["threads"].min()]["median_s"]
            if base.empty:
                continue
            speedup = base.iloc[0] / g["median_s"]
            ax.plot(
                g["threads"],
                speedup,
                STYLES.get(dtype, "-"),
                marker="o",
                color=ctx.color(backend),
                label=axes_.label(key, skip=skip),
            )
            # Beyond the ideal line is not a result: noise (or a slow 1-thread run). Ring it.
            beyond = speedup > g["threads"] * 1.05
            if beyond.any():
                ax.scatter(
                    g["threads"][beyond], speedup[beyond], s=160, facecolors="none",
                    edgecolors="black", linewidths=1.2, zorder=5,
                )  # fmt: skip
                flagged = True
        ax.plot([1, top], [1, top], color="gray", lw=1, ls=":", label="ideal")
        ax.set_xticks(sorted(int(t) for t in s["threads"].unique()))
        ax.set_title(f"batch {b}")
        ax.set_xlabel("threads")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("speed-up over 1 thread (x)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        "Thread scaling (ideal: dotted)"
        + ("; ringed: beyond the ideal, i.e. noise, not a result" if flagged else "")
    )
    return ctx.save(fig, "thread_scaling")


def plot_dtype(ctx: Context) -> Path | None:
    """(d) float32 over float64 speed-up per backend, against batch size."""
    s = ctx.default_variant(ctx.summary)
    gain = ctx.a.dtype_gain
    if gain.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.4))
    axes_ = ctx.a.axes
    skip = ("batch_size", "dtype", "variant")
    for key, g in axes_.groups(gain, by=("backend",), skip=skip):
        g = g.sort_values("batch_size")
        threads = key.get("threads", ctx.max_threads())
        ax.plot(
            g["batch_size"],
            g["gain"],
            marker="o" if threads == ctx.max_threads() else "s",  # the legend tells them apart
            ls=DEVICE_LINES.get(str(key.get("device", "cpu")), ":"),
            alpha=1.0 if threads == ctx.max_threads() else 0.6,
            color=ctx.color(key["backend"]),
            label=axes_.label(key, skip=skip),
        )
    ax.axhline(1.0, color="black", lw=1)
    ax.axhline(2.0, color="gray", lw=1, ls=":")
    ax.annotate(
        "2x: half the bytes per number",
        xy=(1.0, 2.0),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 3),
        textcoords="offset points",
        ha="right",
        fontsize=8,
    )
    _log_x(ax, s["batch_size"])
    ax.set_xlabel("batch size (samples)")
    ax.set_ylabel("float64 time / float32 time (x)")
    ax.set_title("What float32 buys (the article's first lesson)")
    ax.grid(True, alpha=0.3)
    _legend(ax, fontsize=8)
    return ctx.save(fig, "dtype_speedup")


def plot_phases(ctx: Context) -> Path | None:
    """(e) Where the reference backend's epoch goes: stacked phases per batch size, a panel
    per device (a CPU and a GPU epoch are never stacked into one bar)."""
    tables = ctx.a.phases_by_device
    if not tables:
        return None
    fig, axes = plt.subplots(1, len(tables), figsize=(7 * len(tables), 4.4), squeeze=False)
    for ax, (device, table) in zip(axes[0], tables.items()):
        bottom = np.zeros(len(table))
        labels = [str(b) for b in table.index]
        for phase in table.columns:
            ax.bar(labels, table[phase], bottom=bottom, label=phase)
            bottom += table[phase].to_numpy()
        ax.set_xlabel("batch size (samples)")
        ax.set_ylabel("seconds per epoch")
        ax.set_title(f"{ctx.reference} on the {device.upper()}: time per phase (steady epochs)")
        _legend(ax, fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    return ctx.save(fig, "phases")


def plot_efficiency(ctx: Context) -> Path | None:
    """(f) Achieved GFLOP/s as a share of the calibrated GEMM peak."""
    s = ctx.a.efficiency
    if s.empty:
        return None
    fig, ax = plt.subplots(figsize=(9.5, 4.4))
    axes_ = ctx.a.axes
    skip = ("batch_size", "variant")
    for key, g in axes_.groups(s, by=("backend",), skip=skip):
        g = g.sort_values("batch_size")
        ax.plot(
            g["batch_size"],
            100 * g["efficiency"],
            color=ctx.color(key["backend"]),
            alpha=1.0 if key.get("threads", ctx.max_threads()) == ctx.max_threads() else 0.5,
            label=axes_.label(key, skip=skip, always=("dtype", "threads")),
            **look(key),
        )
    ax.axhline(100, color="black", lw=1)
    _log_x(ax, s["batch_size"])
    ax.set_ylim(0, max(105, float(100 * s["efficiency"].max()) + 5))
    ax.set_xlabel("batch size (samples)")
    ax.set_ylabel("efficiency (% of GEMM peak)")
    ax.set_title("How close to the hardware: training GFLOP/s / calibrated matmul peak")
    ax.grid(True, alpha=0.3)
    _legend(ax, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # off the 100% line
    return ctx.save(fig, "efficiency")


def plot_accuracy_time(ctx: Context) -> Path | None:
    """(g) Training loss against wall time, and test accuracy against total training time."""
    ok = ctx.default_variant(ctx.runs[ctx.runs["status"] == "ok"])
    e = ctx.epochs
    if ok.empty or e.empty:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    pick = ok[(ok["dtype"] == ok["dtype"].iloc[0]) & (ok["threads"] == ok["threads"].max())]
    batch = 500 if (pick["batch_size"] == 500).any() else int(pick["batch_size"].iloc[0])
    axes_ = ctx.a.axes
    skip = ("batch_size", "dtype", "threads", "variant")
    for key, g in axes_.groups(pick[pick["batch_size"] == batch], skip=skip):
        run = g.iloc[0]["run_id"]
        curve = e[e["run_id"] == run].sort_values("epoch")
        left.plot(
            curve["wall_s"].cumsum(),
            curve["loss"],
            color=ctx.color(key["backend"]),
            label=axes_.label(key, skip=skip),
            **{**look(key), "marker": "."},
        )
    left.set_xlabel("cumulative training wall time (s)")
    left.set_ylabel("training loss (incl. penalty)")
    left.set_title(f"Loss vs time, batch {batch}, {pick['dtype'].iloc[0]}")
    left.grid(True, alpha=0.3)
    _legend(left, fontsize=8)
    apart = tuple(a for a in axes_.context() if a not in ("device", "dtype"))
    for key, g in axes_.groups(ok, skip=apart):  # a marker per device and dtype
        right.scatter(
            g["train_s"],
            g["test_accuracy"],
            color=ctx.color(key["backend"]),
            label=axes_.label(key, skip=apart),
            marker="^" if key.get("device") == "gpu" else MARKERS.get(str(key.get("dtype")), "o"),
            s=18,
            alpha=0.7,
        )
    _log(right, "x")
    right.set_xlabel("total training wall time (s)")
    right.set_ylabel("test accuracy")
    right.set_title("Accuracy reached vs time spent (every run)")
    right.grid(True, alpha=0.3)
    _legend(right, fontsize=8)
    note = slow_on_purpose(ctx)
    if note:  # below the panel, outside its axes: a note never covers a point
        right.annotate(
            note, xy=(0.0, -0.2), xycoords="axes fraction", va="top", fontsize=7,
            bbox={"facecolor": "#fff8e0", "edgecolor": "#d9b100", "boxstyle": "round"},
            annotation_clip=False,
        )  # fmt: skip
    return ctx.save(fig, "accuracy_time")


def slow_on_purpose(ctx: Context) -> str:
    """A word for accuracy that looks broken but is the workload: the article's sigmoid
    network with RMSprop at 0.001 learns slowly on purpose, and a speed sweep trains it for a
    few epochs only."""
    cfg = ctx.a.results.config
    ok = ctx.runs[ctx.runs["status"] == "ok"]
    if cfg is None or ok.empty or float(ok["test_accuracy"].max()) >= 0.9:
        return ""
    m, t = cfg.model, cfg.train
    if m.activation != "sigmoid" or t.optimizer != "rmsprop" or t.learning_rate > 0.001:
        return ""
    return (
        f"Low accuracy is the workload, not a fault: the article's sigmoid\n"
        f"network, RMSprop at {t.learning_rate:g}, {t.epochs} epoch(s) here; it learns\n"
        "slowly on purpose (`mlpbench sweep seed2020` trains its 35 epochs)."
    )


def plot_startup(ctx: Context) -> Path | None:
    """(h) Start-up costs per backend: import, model build, and the first epoch's extra time."""
    table = ctx.a.startup[["import_s", "setup_s", "first_extra_s"]]
    if table.empty:
        return None
    # a row per series, its name on the left: any number of series stays legible
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.55 * len(table) + 1.5)))
    y = np.arange(len(table))
    height = 0.27
    names = {
        "import_s": "import",
        "setup_s": "model build",
        "first_extra_s": "first epoch minus steady epoch (tracing)",
    }
    for i, col in enumerate(table.columns):
        ax.barh(y + (i - 1) * height, table[col], height, label=names[col])
    ax.set_yticks(y, table.index)
    ax.invert_yaxis()  # the first series on top
    ax.set_xlabel("seconds (median over runs)")
    ax.set_title("Start-up costs, paid once per process")
    _legend(ax, fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    return ctx.save(fig, "startup")


def plot_ablation(ctx: Context) -> Path | None:
    """Each variant's time as a multiple of the baseline variant's (float32)."""
    table = ctx.a.ablation
    if table.empty:
        return None
    if table["backend"].nunique() > 1:  # one bar group per (backend, switch)
        table = table.assign(switch=table["backend"] + ": " + table["switch"])
    batches = sorted(table["batch_size"].unique())
    switches = list(dict.fromkeys(table["switch"]))
    fig, ax = plt.subplots(figsize=(8, 4.6))
    width = 0.8 / len(batches)
    x = np.arange(len(switches))
    for i, b in enumerate(batches):
        g = table[table["batch_size"] == b].set_index("switch").reindex(switches)
        err = [g["cost"] - g["cost_low"], g["cost_high"] - g["cost"]]
        ax.bar(
            x + i * width - 0.4 + width / 2,
            g["cost"],
            width,
            yerr=err,
            capsize=3,
            label=f"batch {b}",
        )
    ax.axhline(1.0, color="black", lw=1)
    ax.set_xticks(x, switches, rotation=15)
    ax.set_ylabel(f"time per epoch / {ctx.a.baseline}'s (x)")
    ax.set_title(f"Each variant against {ctx.a.baseline} (above 1: slower)")
    _legend(ax, fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return ctx.save(fig, "ablation")


def plot_crossover(ctx: Context) -> Path | None:
    """Where another backend wins: the reference's time over the other's as a map over (hidden
    width, batch), one panel per (dtype, series, depth); red where the other is faster, the
    ratio = 1 contour drawn."""
    table = ctx.a.crossover
    if table.empty or table["width"].nunique() < 2:
        return None
    from matplotlib.colors import TwoSlopeNorm

    table = table[table.groupby(["dtype", "series", "depth"])["width"].transform("nunique") > 1]
    panels = list(table.groupby(["dtype", "series", "depth"], sort=True))
    if not panels:  # every (dtype, series, depth) has one width: no map to draw
        return None
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    spread = float(np.abs(np.log2(table["ratio"])).max()) or 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-spread, vmax=spread)
    image = None
    for ax, ((dtype, series, depth), g) in zip(axes.flat, panels):
        grid = g.pivot_table(index="batch_size", columns="width", values="ratio")
        z = np.log2(grid.to_numpy(dtype=float))
        image = ax.imshow(z, origin="lower", aspect="auto", cmap="RdBu_r", norm=norm)
        ax.set_xticks(range(grid.shape[1]), [str(w) for w in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [str(b) for b in grid.index])
        for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
        if np.nanmin(z) < 0 < np.nanmax(z) and min(z.shape) > 1:
            ax.contour(z, levels=[0.0], colors="black", linewidths=1.5)
        ref_dtype = g["reference_dtype"].iloc[0]
        ax.set_title(f"{series} {dtype} vs {ctx.reference} {ref_dtype}, {depth} hidden", fontsize=9)
        ax.set_xlabel("hidden width")
        ax.set_ylabel("batch size")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.8)
        bar.set_label(f"log2({ctx.reference} time / its time): > 0 the other is faster")
    fig.suptitle(
        f"Crossover map: where each backend beats {ctx.reference} (numbers: time ratio; "
        "line: ratio 1)"
    )
    fig.text(0.01, 0.005, ctx.caption, fontsize=7, color="#555555", va="bottom")
    png = ctx.out / "crossover.png"
    fig.savefig(png, dpi=110, bbox_inches="tight")
    fig.savefig(ctx.out / "crossover.svg", bbox_inches="tight")
    plt.close(fig)
    return png


def plot_cost_per_sample(ctx: Context) -> Path | None:
    """Time per sample against FLOPs per sample: flat where per-step overhead rules (small
    networks), rising with the FLOPs where GEMMs rule (large ones)."""
    table = ctx.a.cost_per_sample
    if table.empty or table["flops"].nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    for (series, dtype, device), g in table.groupby(["series", "dtype", "device"]):
        g = g.groupby("flops")["seconds"].min().sort_index()  # the best batch size
        key = {"dtype": dtype, "device": device}
        ax.plot(
            g.index,
            g.to_numpy(),
            color=ctx.color(series),
            label=f"{series} ({device}, {dtype})",
            **look(key),
        )
    _log(ax, "x")
    _log(ax, "y")
    ax.set_xlabel("training FLOPs per sample (GEMMs)")
    ax.set_ylabel("seconds per training sample (best batch size)")
    ax.set_title("Overhead-bound (flat) vs GEMM-bound (rising): cost per sample")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax, fontsize=7, ncol=2)
    return ctx.save(fig, "cost_per_sample")


def plot_versions(ctx: Context) -> Path | None:
    """The version axis: time per epoch in each version stack, one panel per backend, a line
    per (batch size, threads); the stacks in the grid's order, named with their versions."""
    table = ctx.a.versions
    if table.empty:
        return None
    panels = list(table.groupby(["backend", "options"], sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.8), squeeze=False)
    for ax, ((backend, options), g) in zip(axes.flat, panels):
        envs = list(dict.fromkeys(g["env"]))
        labels = [ctx.a.stack_label(e).replace(" (", "\n(") for e in envs]
        skip = ("env", "backend", "options")
        for key, h in ctx.a.axes.groups(g, by=("batch_size", "threads"), skip=skip):
            # one line per point less its stack: every other varying axis keeps lines apart
            h = h.set_index("env").reindex(envs)
            x = np.arange(len(envs))
            threads = key["threads"]
            style = "-" if threads == ctx.max_threads() else "--"
            more = ctx.a.axes.words(key, skip=(*skip, "batch_size", "threads"))
            ax.plot(
                x,
                h["median_s"],
                style,
                marker="o",
                label=", ".join([f"batch {key['batch_size']}", threads_label(threads), *more]),
            )
            ax.fill_between(x, h["min_s"], h["max_s"], alpha=0.15)
        ax.set_xticks(np.arange(len(envs)), labels, fontsize=7)
        _log_y(ax)
        ax.set_ylabel("seconds per epoch (steady state)")
        ax.set_title(f"{series_name(backend, options)} across version stacks")
        ax.grid(True, which="both", alpha=0.3)
        _legend(ax, fontsize=7)
    return ctx.save(fig, "versions")


def plot_profile(ctx: Context) -> Path | None:
    """Where a step's CPU time goes: per profiled run, CPU ms per step stacked by category
    (every thread together), a bar per series and batch size; the step's wall time marked."""
    from mlpbench.analysis.profiles import wide
    from mlpbench.results.profile import CATEGORIES

    w = wide(ctx.a)
    w = w[w["skipped"] == ""] if not w.empty else w
    if w.empty:
        return None
    cats = [c for c in CATEGORIES if c in w and (w[c].fillna(0) > 0).any()]
    w = w.sort_values(["batch_size", "series"])
    labels = [f"{r['series']}\nbatch {int(r['batch_size'])}" for r in w.to_dict("records")]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(w) + 3), 4.8))
    bottom = np.zeros(len(w))
    colors = plt.get_cmap("tab10")
    for i, c in enumerate(cats):
        values = w[c].fillna(0).to_numpy(dtype=float)
        ax.bar(range(len(w)), values, bottom=bottom, label=c, color=colors(i % 10), width=0.7)
        bottom += values
    ax.scatter(range(len(w)), w["step_ms"], marker="_", s=400, color="black", zorder=3,
               label="wall time of a step")  # fmt: skip
    ax.set_xticks(range(len(w)), labels, fontsize=8)
    ax.set_ylabel("CPU ms per training step (all threads)")
    ax.set_title("Where a step's CPU time goes (samples of the steady epochs)")
    ax.grid(True, axis="y", alpha=0.3)
    _legend(ax, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ctx.save(fig, "profile")


PLOTS: list[Callable[[Context], Path | None]] = [
    plot_versions,
    plot_epoch_time,
    plot_gpu_speedup,
    plot_speedup,
    plot_thread_scaling,
    plot_dtype,
    plot_phases,
    plot_efficiency,
    plot_accuracy_time,
    plot_startup,
    plot_ablation,
    plot_crossover,
    plot_cost_per_sample,
    plot_profile,
]


def _legend(ax: Any, *args: Any, **kwargs: Any) -> None:
    """A legend where the axes hold labelled artists (matplotlib warns on an empty one)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(*args, **kwargs)


def plot_all(analysis: Analysis) -> list[Path]:
    """Every plot the data supports, under ``DIR/plots/``; a plot without data for it is left
    out, not faked."""
    ctx = Context(analysis, analysis.results.directory / "plots")
    made = []
    for fn in PLOTS:
        path = fn(ctx)
        if path is not None:
            made.append(path)
    return made
