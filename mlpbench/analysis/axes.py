"""The key axes that tell two rows apart, in one place: every table, finding, plot and menu
groups and labels its rows through :class:`KeyAxes`, so an axis a sweep varies (device,
dtype, threads, network, variant, batch, backend options, version stack) always reaches the
reader, and an axis it holds fixed is stated once, in a header line.

The series name (``keras/jax@keras2``: backend, grid options, stack) comes from
:func:`mlpbench.config.points.series_name`; the other axes follow it in :data:`CONTEXT`'s
order, device first: CPU against GPU is the first thing a reader must not mix up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlpbench.config.points import AXES, NO_OPTIONS, series_name

SERIES_AXES = ("backend", "options", "env")
"""The axes a series name carries (``keras/jax@keras2``)."""
NAMED_ORDER = ("device", "dtype", "threads", "layers", "variant", "batch_size")
CONTEXT: tuple[str, ...] = NAMED_ORDER + tuple(
    a for a in AXES if a not in SERIES_AXES and a not in NAMED_ORDER
)
"""The other key axes, in the order labels name them (device first; an axis added to
``PointKey`` later comes last, named ``axis value``)."""


def word(axis: str, value: Any) -> str:
    """One axis value as a label says it: ``gpu``, ``float32``, ``16 threads``, ``batch 500``,
    ``net 784-70-30-10``, ``variant article``, ``stack keras2``."""
    if axis == "threads":
        n = int(value)
        return f"{n} thread{'s' if n != 1 else ''}"
    if axis == "batch_size":
        return f"batch {int(value)}"
    if axis == "layers":
        return f"net {value}"
    if axis == "variant":
        return f"variant {value}"
    if axis == "env":
        return f"stack {value}"
    if axis == "options":
        return "no options" if value in (NO_OPTIONS, "", None) else str(value)
    if axis in ("device", "dtype"):
        return str(value)
    return f"{axis} {value}"


def shown(axis: str, row: Mapping[str, Any]) -> bool:
    """Whether a label names ``axis`` for ``row``: a GPU point's thread count is the host's,
    not what ran the step, so a GPU row never says "16 threads"."""
    return not (axis == "threads" and str(row.get("device", "")) == "gpu")


@dataclass(frozen=True)
class KeyAxes:
    """Which key axes vary in a result set (and so must label every row) and which are fixed
    (stated once)."""

    varying: tuple[str, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> KeyAxes:
        """From the rows of a result set (runs or a summary: any frame with the key columns)."""
        varying, fixed = [], {}
        for axis in AXES:
            if axis not in frame:
                continue
            values = list(dict.fromkeys(frame[axis].dropna().astype(str)))
            if len(values) > 1:
                varying.append(axis)
            elif values:
                fixed[axis] = frame[axis].dropna().iloc[0]
        return cls(tuple(varying), fixed)

    def context(self, skip: Iterable[str] = ()) -> list[str]:
        """The varying context axes (not the series' own), device first, less ``skip`` (the
        axes a table or plot shows otherwise: its x axis, its panels)."""
        skip = set(skip)
        return [a for a in CONTEXT if a in self.varying and a not in skip]

    def words(self, row: Mapping[str, Any], skip: Iterable[str] = ()) -> list[str]:
        return [word(a, row[a]) for a in self.context(skip) if a in row and shown(a, row)]

    def label(
        self, row: Mapping[str, Any], skip: Iterable[str] = (), always: Sequence[str] = ()
    ) -> str:
        """``series (gpu, float32, 16 threads)``: the row's series and every varying context
        axis not in ``skip``; ``always``: axes named even where they are fixed (a verdict
        names its dtype and threads)."""
        name = row.get("series") or series_name(
            str(row["backend"]),
            str(row.get("options", NO_OPTIONS)),
            str(row.get("env", "current")),
        )
        axes = [a for a in CONTEXT if a in always or a in self.context(skip)]
        words = [word(a, row[a]) for a in axes if a in row and a not in skip and shown(a, row)]
        return f"{name} ({', '.join(words)})" if words else str(name)

    def where(self, row: Mapping[str, Any], skip: Iterable[str] = ()) -> str:
        """The context alone, for a sentence: ``on gpu, float32`` ("" when nothing varies)."""
        words = self.words(row, skip)
        return f" ({', '.join(words)})" if words else ""

    def groups(
        self, frame: pd.DataFrame, by: Sequence[str] = ("backend",), skip: Iterable[str] = ()
    ) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
        """``frame`` split by ``by`` and every varying context axis not in ``skip``: each
        group's key values and rows. No group mixes two values of a varying axis."""
        keys = [*by, *[a for a in self.context(skip) if a in frame and a not in by]]
        if frame.empty:
            return
        for values, g in frame.groupby(keys, sort=True, dropna=False):
            values = values if isinstance(values, tuple) else (values,)
            yield dict(zip(keys, values)), g

    def header(self, skip: Iterable[str] = ()) -> str:
        """The fixed axes in one line: ``cpu, float32, 2 threads, net 784-70-30-10``."""
        skip = set(skip)
        parts = [word(a, self.fixed[a]) for a in CONTEXT if a in self.fixed and a not in skip]
        return ", ".join(parts)
