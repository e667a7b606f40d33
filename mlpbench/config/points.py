"""A point's identity: the typed key that names one cell of a sweep's grid.

The axes are listed here and nowhere else. Config expansion, the sweep's resume, the CSV
columns, the statistics, compare and the report all take them from :class:`PointKey`, so a new
axis (model shape, engine, host) is one field here plus the check of its values in the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields
from typing import Any, get_type_hints

from mlpbench.errors import ResultsError


@dataclass(frozen=True, order=True)
class PointKey:
    """What a point is, pooled over its repeats."""

    backend: str
    batch_size: int
    dtype: str
    device: str
    threads: int
    variant: str = "default"
    layers: str = "784-70-30-10"  # the network's layer sizes, input to output
    keras_backend: str = "-"  # the engine under Keras; "-" for every other backend

    @property
    def widths(self) -> tuple[int, ...]:
        """The hidden layers' sizes."""
        return tuple(int(v) for v in self.layers.split("-")[1:-1])

    def values(self) -> tuple[Any, ...]:
        return astuple(self)

    def label(self, repeat: int | None = None) -> str:
        engine = "" if self.keras_backend == "-" else f"/{self.keras_backend}"
        v = "" if self.variant == "default" else f" [{self.variant}]"
        r = "" if repeat is None else f" #{repeat}"
        return (
            f"{self.backend}{engine} {self.layers} b={self.batch_size} {self.dtype} "
            f"{self.device} t={self.threads}{v}{r}"
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any], where: str = "") -> PointKey:
        """The key of a CSV row (strings) or a table row (typed values), checked."""
        return cls(
            **{
                name: parse_cell(row.get(name), kind, name, where)
                for name, kind in AXIS_TYPES.items()
            }
        )


AXES: tuple[str, ...] = tuple(f.name for f in fields(PointKey))
"""The columns that name a point (pooled over repeats)."""
AXIS_TYPES: dict[str, type] = {name: get_type_hints(PointKey)[name] for name in AXES}
GRID_AXES: tuple[str, ...] = tuple(a for a in AXES if a != "variant")
"""The axes a sweep file's ``[grid]`` table lists (variants have their own tables)."""
KEY_COLUMNS: tuple[str, ...] = (*AXES, "repeat")
"""The columns that name one run: the point and its repeat."""


def parse_cell(value: Any, kind: Any, column: str, where: str = "") -> Any:
    """One CSV cell as ``kind`` (str, int, float, or ``X | None`` for may-be-empty)."""
    optional = getattr(kind, "__args__", None)
    if optional:  # X | None
        kind = next(k for k in optional if k is not type(None))
        if value is None or value == "":
            return None
    if kind is str:
        return "" if value is None else str(value)
    text = "" if value is None else str(value).strip()
    try:
        if kind is int:
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return int(text)
        if kind is float:
            return float(text) if text != "" else float("nan")
    except ValueError:
        pass
    raise ResultsError(
        f"{where}{': ' if where else ''}column {column!r} = {value!r} is not "
        f"{'an integer' if kind is int else 'a number'}"
    )
