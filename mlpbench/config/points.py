"""A point's identity: the typed key that names one cell of a sweep's grid.

The axes are listed here and nowhere else. Config expansion, the sweep's resume, the CSV
columns, the statistics, compare and the report all take them from :class:`PointKey`, so a new
axis (model shape, engine, host) is one field here plus the check of its values in the config.
A backend's own knobs need no axis: ``[grid.options.BACKEND]`` lists values of any of its
options, and the point's ``options`` label names the combination.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, astuple, dataclass, field, fields
from typing import Any, get_type_hints

from mlpbench.errors import ResultsError


def axis(doc: str, default: Any = MISSING, reaches: str = "") -> Any:
    """A point axis; ``doc`` is its line in docs/columns.md; ``reaches``: the field of the
    worker's ``RunSpec`` it sets (``threads``, ``train.batch_size``, ``model.layers``), ""
    for an axis the expansion applies otherwise (a variant, the grid's options, a stack)."""
    return field(default=default, metadata={"doc": doc, "reaches": reaches})


NO_OPTIONS = "-"
CURRENT_ENV = "current"


def options_label(options: Mapping[str, Any]) -> str:
    """The ``options`` axis value of a point: the grid's backend options as ``k=v,k2=v2``
    (sorted; booleans as true/false), ``-`` when the grid varies none."""
    if not options:
        return NO_OPTIONS

    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    return ",".join(f"{k}={text(options[k])}" for k in sorted(options))


def series_name(backend: str, options: str, env: str = CURRENT_ENV) -> str:
    """How tables and plots name a backend run with grid options: ``keras/jax`` for
    ``keras_backend=jax`` (the values, joined by /); the backend alone without; ``@keras2``
    after it for a point of a version stack ([environments])."""
    name = backend
    if options not in (NO_OPTIONS, "", None):
        name += "/" + "/".join(part.partition("=")[2] for part in options.split(","))
    if env not in (CURRENT_ENV, "", None):
        name += f"@{env}"
    return name


@dataclass(frozen=True, order=True)
class PointKey:
    """What a point is, pooled over its repeats."""

    backend: str = axis("the backend's registered name (mlpbench backends)", reaches="backend")
    batch_size: int = axis("samples per training step", reaches="train.batch_size")
    dtype: str = axis("float32 | float64 | bfloat16", reaches="dtype")
    device: str = axis("cpu | gpu", reaches="device")
    threads: int = axis("threads the run may use (BLAS, the framework's pools)", reaches="threads")
    variant: str = axis("the [[variant]] the point runs ('default' without variants)", "default")
    layers: str = axis(
        "the network's layer sizes, input to output", "784-70-30-10", reaches="model.layers"
    )
    options: str = axis(
        "the backend options the grid varies ([grid.options.BACKEND]), k=v,...; - for none",
        NO_OPTIONS,
    )
    env: str = axis(
        "the software stack the point ran in ([environments.NAME]); current = the sweep's own",
        CURRENT_ENV,
    )

    @property
    def series(self) -> str:
        """The backend as tables name it: ``keras/jax`` where the grid varies its options."""
        return series_name(self.backend, self.options, self.env)

    @property
    def widths(self) -> tuple[int, ...]:
        """The hidden layers' sizes."""
        return tuple(int(v) for v in self.layers.split("-")[1:-1])

    def values(self) -> tuple[Any, ...]:
        return astuple(self)

    def label(self, repeat: int | None = None) -> str:
        v = "" if self.variant == "default" else f" [{self.variant}]"
        r = "" if repeat is None else f" #{repeat}"
        return (
            f"{self.series} {self.layers} b={self.batch_size} {self.dtype} "
            f"{self.device} t={self.threads}{v}{r}"
        )

    @classmethod
    def of_run(cls, run: Any) -> PointKey:
        """The key of one run (``mlpbench run``): each axis read back from the ``RunSpec``
        field it ``reaches`` (the inverse of :func:`reaching`), the others at their default."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            part, _, name = str(f.metadata.get("reaches", "")).rpartition(".")
            if name:
                value = getattr(getattr(run, part) if part else run, name)
                values[f.name] = "-".join(map(str, value)) if f.name == "layers" else value
        return cls(**values)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], where: str = "") -> PointKey:
        """The key of a CSV row (strings) or a table row (typed values), checked."""
        return cls(
            **{
                name: parse_cell(row.get(name), kind, name, where)
                for name, kind in AXIS_TYPES.items()
            }
        )


def reaching(key: PointKey) -> dict[str, dict[str, Any]]:
    """Where each axis of ``key`` goes in the worker's ``RunSpec``: ``{"": {"threads": 2},
    "train": {"batch_size": 500}, "model": {"layers": (784, 70, 30, 10)}}`` (a layers text
    as its tuple of sizes)."""
    out: dict[str, dict[str, Any]] = {"": {}}
    for f in fields(PointKey):
        part, _, name = str(f.metadata.get("reaches", "")).rpartition(".")
        if name:
            value = getattr(key, f.name)
            if f.name == "layers":
                value = tuple(int(n) for n in value.split("-"))
            out.setdefault(part, {})[name] = value
    return out


AXES: tuple[str, ...] = tuple(f.name for f in fields(PointKey))
"""The columns that name a point (pooled over repeats)."""
AXIS_TYPES: dict[str, type] = {name: get_type_hints(PointKey)[name] for name in AXES}
GRID_AXES: tuple[str, ...] = tuple(a for a in AXES if a not in ("variant", "options"))
"""The axes a sweep file's ``[grid]`` table lists (variants have their own tables; the backend
options the grid varies are ``[grid.options.BACKEND]`` tables)."""
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


def match_key(keys: list[PointKey], selector: str, where: str = "--point") -> PointKey:
    """The one key of ``keys`` that ``axis=value,...`` names (the axes left out may take any
    value, as long as one key remains); a ResultsError listing the matches otherwise."""
    wanted: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in selector.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name not in AXES:
            raise ResultsError(
                f"{where} {selector!r}: give axis=value pairs; axes: {', '.join(AXES)}"
            )
        wanted[name] = parse_cell(value, AXIS_TYPES[name], name, where)
    found = sorted({k for k in keys if all(getattr(k, n) == v for n, v in wanted.items())})
    if len(found) != 1:
        listed = "; ".join(k.label() for k in found[:8]) or "none"
        raise ResultsError(
            f"{where} {selector!r} matches {len(found)} points ({listed}): name more axes"
        )
    return found[0]
