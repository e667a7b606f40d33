"""Sweep files: TOML -> a checked, frozen :class:`SweepConfig` (``mlpbench.config.expand`` turns it
into points).

Every error is a :class:`ConfigError` that names the file, the table and key, and what is
allowed; nothing else escapes the reader (a property test feeds it random tables).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from mlpbench.api.protocol import DEVICES, DTYPES, ModelSpec, SpecError, TrainSpec
from mlpbench.config import expand
from mlpbench.config.points import (
    AXIS_TYPES,
    CURRENT_ENV,
    GRID_AXES,
    PointKey,
    options_label,
    parse_cell,
)
from mlpbench.config.settings import SweepConfig, Variant
from mlpbench.data import DataSpec
from mlpbench.errors import ResultsError, did_you_mean
from mlpbench.machine.threads import cpu_count
from mlpbench.stacks.build import StackSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_KEYS = (
    "name",
    "description",
    "repeats",
    "timeout_s",
    "oversubscribe",
    "recalibrate_every",
    "min_measured_s",
    "max_repeats",
    "target_interval",
    "memory_limit_mb",
    "profile",
    "data",
    "model",
    "train",
    "grid",
    "options",
    "variant",
    "exclude",
    "extra",
    "report",
    "cluster",
    "environments",
)
ENVIRONMENT_KEYS = ("requirements", "python")
REPORT_KEYS = ("reference", "colors")
VARIANT_KEYS = ("name", "model", "train", "options")
# Sweep files before results schema v4 named one backend option as a [grid] axis of its own;
# it now stands in [grid.options.BACKEND] like any other ("backend.option").
LEGACY_GRID_OPTIONS = {"keras_backend": "keras.keras_backend"}
SCALARS = (str, int, float, bool)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = "1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
MAX_POINTS = 100_000


class ConfigError(SpecError):
    """A bad sweep file."""


class _Reader:
    """Validation helpers that know which file they read."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}{': ' if where else ''}{message}")

    def table(self, doc: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
        value = doc.get(key, {})
        if not isinstance(value, dict):
            raise self.error(where or f"[{key}]", f"{value!r}: must be a table")
        return dict(value)

    def tables(self, doc: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        value = doc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(f"[[{key}]]", f"{value!r}: must be an array of tables")
        return value

    def keys(
        self, where: str, got: Mapping[str, Any], allowed: tuple[str, ...] | list[str]
    ) -> None:
        unknown = sorted(set(got) - set(allowed))
        if unknown:
            hint = did_you_mean(unknown[0], allowed)
            raise self.error(
                where,
                f"unknown key {', '.join(map(repr, unknown))}{hint}; allowed keys: "
                + ", ".join(allowed),
            )

    def number(
        self,
        doc: Mapping[str, Any],
        key: str,
        default: Any,
        ok: Any,
        rule: str,
        integer: bool = False,
    ) -> Any:
        """``doc[key]`` (``default`` when absent): a number (an int where ``integer``; never a
        bool; finite) for which ``ok`` holds, else one error naming the key and ``rule``."""
        value = doc.get(key, default)
        kinds = (int,) if integer else (int, float)
        if (
            not isinstance(value, kinds)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or not ok(value)
        ):
            raise self.error(key, f"{value!r}: must be {rule}")
        return value

    def spec(self, cls: type, where: str, values: Mapping[str, Any], **fixed: Any) -> Any:
        self.keys(where, values, [f.name for f in fields(cls) if f.name not in fixed])
        try:
            return cls(**{**values, **fixed})
        except (SpecError, TypeError, ValueError) as e:
            raise self.error(where, str(e)) from None


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> SweepConfig:
    """Read and validate a sweep file; ``overrides`` replaces top-level values (tests, CLI)."""
    path = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a TOML file (not UTF-8 text)") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return parse_config(doc, path, text, overrides)


def parse_config(
    doc: Mapping[str, Any],
    path: str = "<config>",
    text: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> SweepConfig:
    r = _Reader(path)
    doc = {**doc, **(overrides or {})}
    r.keys("", doc, TOP_KEYS)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).stem).strip("-._")[:64] or "sweep"
    name = doc.get("name", stem)  # a file name made safe; a given name must be safe already
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise r.error("name", f"{name!r}: must be {NAME_RULE}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise r.error("description", f"{description!r}: must be a string")
    repeats = r.number(doc, "repeats", 1, lambda v: v >= 1, "an integer >= 1", integer=True)
    timeout = r.number(doc, "timeout_s", 600, lambda v: v > 0, "a finite number of seconds > 0")
    oversubscribe = doc.get("oversubscribe", False)
    if not isinstance(oversubscribe, bool):
        raise r.error("oversubscribe", f"{oversubscribe!r}: must be true or false")
    every = r.number(
        doc,
        "recalibrate_every",
        0,
        lambda v: v >= 0,
        "an integer >= 0 (0: at the end)",
        integer=True,
    )
    min_measured = r.number(
        doc, "min_measured_s", 0.0, lambda v: 0 <= v <= 60, "seconds from 0 to 60"
    )
    max_repeats = r.number(
        doc,
        "max_repeats",
        0,
        lambda v: not v or repeats <= v <= 100,
        "0 (off) or an integer from repeats to 100",
        integer=True,
    )
    target = r.number(
        doc, "target_interval", 0.10, lambda v: 0 < v < 1, "a fraction between 0 and 1"
    )
    memory = r.number(
        doc,
        "memory_limit_mb",
        0,
        lambda v: v == 0 or v >= 64,
        "0 (80% of the machine's memory) or >= 64",
    )
    profile = _profile(r, doc.get("profile", False))
    data = r.spec(DataSpec, "[data]", r.table(doc, "data"))
    model = r.spec(ModelSpec, "[model]", r.table(doc, "model"))
    train = r.spec(TrainSpec, "[train]", r.table(doc, "train"), batch_size=1)
    options = _options(r, r.table(doc, "options"), "[options]")
    grid_table = r.table(doc, "grid")
    grid_options = _grid_options(r, grid_table)
    grid = _grid(r, grid_table, oversubscribe, model)
    environments = _environments(r, r.table(doc, "environments"))
    allowed_envs = [CURRENT_ENV, *environments]
    for env in grid["env"]:
        if env not in allowed_envs:
            raise r.error(
                "[grid] env", f"{env!r} is not allowed; choose from: {', '.join(allowed_envs)}"
            )
    variants = _variants(r, r.tables(doc, "variant"), model, train)
    names = [v.name for v in variants]
    exclude = tuple(
        _rule(r, "[[exclude]]", e, names, oversubscribe) for e in r.tables(doc, "exclude")
    )
    extra = tuple(_extra(r, e, names, oversubscribe) for e in r.tables(doc, "extra"))
    report = _report(r, r.table(doc, "report"), grid["backend"])
    cluster = r.table(doc, "cluster")
    r.keys("[cluster]", cluster, ("address",))
    address = cluster.get("address", "")
    if not isinstance(address, str):
        raise r.error("[cluster] address", f"{address!r}: tcp://HOST:PORT or local:N")
    extra = tuple(
        {
            "layers": grid["layers"][0],
            "options": _first_label(grid_options, e["backend"]),
            "env": grid["env"][0],
            **e,
        }
        for e in extra
    )
    for e in extra:
        if e["env"] not in allowed_envs:
            allowed = ", ".join(allowed_envs)
            raise r.error("[[extra]] env", f"{e['env']!r} is not allowed; choose from: {allowed}")
    combos = max([1, *(math.prod(map(len, o.values())) for o in grid_options.values())])
    size = math.prod(len(v) for v in grid.values()) * combos * len(variants) + len(extra)
    size *= repeats
    if size > MAX_POINTS:
        raise r.error("[grid]", f"expands to {size} runs; at most {MAX_POINTS} in one sweep")
    cfg = SweepConfig(
        name=name,
        path=path,
        text=text,
        repeats=repeats,
        timeout_s=float(timeout),
        data=data,
        model=model,
        train=train,
        grid=grid,
        options=options,
        variants=variants,
        exclude=exclude,
        extra=extra,
        description=description,
        oversubscribe=oversubscribe,
        recalibrate_every=every,
        min_measured_s=float(min_measured),
        max_repeats=max_repeats,
        target_interval=float(target),
        memory_limit_mb=float(memory),
        report=report,
        cluster=address,
        grid_options=grid_options,
        environments=environments,
        profile=profile,
    )
    if not expand.keys(cfg):
        raise r.error("[grid]", "the grid is empty after [[exclude]] rules")
    return cfg


def _report(r: _Reader, table: dict[str, Any], backends: tuple[str, ...]) -> dict[str, Any]:
    """[report]: ``reference`` (the backend others are compared with; default: the grid's
    first) and ``colors`` (backend -> a matplotlib color, e.g. "#1f77b4")."""
    r.keys("[report]", table, REPORT_KEYS)
    reference = table.get("reference", backends[0])
    if reference not in backends:
        raise r.error("[report] reference", f"{reference!r}: choose from {', '.join(backends)}")
    colors = table.get("colors", {})
    color = re.compile(r"#[0-9a-fA-F]{6}|[a-z]+")
    if not isinstance(colors, dict) or not all(
        isinstance(v, str) and color.fullmatch(v) for v in colors.values()
    ):
        raise r.error("[report] colors", f'{colors!r}: must be a table of backend = "#rrggbb"')
    return {"reference": reference, "colors": dict(colors)}


def _options(r: _Reader, options: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    for backend, opts in options.items():
        if not isinstance(opts, dict):
            raise r.error(f"{where}.{backend}", f"{opts!r}: must be a table of backend options")
    return {backend: dict(opts) for backend, opts in options.items()}


def _threads(r: _Reader, value: Any, oversubscribe: bool) -> int:
    if value == "all":
        return cpu_count()
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise r.error("[grid] threads", f'{value!r}: must be an integer >= 1 or "all"')
    if value > cpu_count() and not oversubscribe:
        raise r.error(
            "[grid] threads",
            f"{value} is more than the {cpu_count()} usable cores; allowed: 1-{cpu_count()} "
            'or "all" (set oversubscribe = true to measure oversubscription on purpose)',
        )
    return value


def _environments(r: _Reader, table: dict[str, Any]) -> dict[str, StackSpec]:
    """[environments.NAME]: requirements = ["pkg==1.2", ...] and an optional python (a version
    such as "3.11" or an interpreter's path)."""
    out = {}
    for name, spec in table.items():
        where = f"[environments.{name}]"
        if name == CURRENT_ENV or not NAME_PATTERN.fullmatch(name):
            raise r.error(
                where, f"a stack's name is {NAME_RULE}, and not {CURRENT_ENV!r} (the running one)"
            )
        if not isinstance(spec, dict):
            raise r.error(where, f"{spec!r}: must be a table with requirements = [...]")
        r.keys(where, spec, ENVIRONMENT_KEYS)
        requirements = spec.get("requirements", [])
        if not isinstance(requirements, list) or not all(
            isinstance(q, str) and q.strip() for q in requirements
        ):
            raise r.error(
                f"{where} requirements", f"{requirements!r}: a list of strings like 'numpy==1.26.*'"
            )
        python = spec.get("python", "")
        if not isinstance(python, str):
            raise r.error(f"{where} python", f"{python!r}: a version such as '3.11', or a path")
        out[name] = StackSpec(name, tuple(q.strip() for q in requirements), python)
    return out


def _grid_options(r: _Reader, grid: dict[str, Any]) -> dict[str, dict[str, tuple[Any, ...]]]:
    """[grid.options.BACKEND]: option = [values] the grid crosses for that backend's points
    (checked by the backend itself before the sweep starts, as [options.BACKEND] is)."""
    out: dict[str, dict[str, tuple[Any, ...]]] = {}
    for old, new in LEGACY_GRID_OPTIONS.items():
        if old in grid:
            backend, option = new.split(".")
            values = grid[old] if isinstance(grid[old], list) else [grid[old]]
            out.setdefault(backend, {})[option] = tuple(values)
    table = grid.get("options", {})
    if not isinstance(table, dict):
        raise r.error("[grid.options]", f"{table!r}: must be tables [grid.options.BACKEND]")
    for backend, opts in table.items():
        where = f"[grid.options.{backend}]"
        if not isinstance(opts, dict):
            raise r.error(where, f"{opts!r}: must be a table of option = [values]")
        for name, values in opts.items():
            values = values if isinstance(values, list) else [values]
            if not values or not all(isinstance(v, SCALARS) for v in values):
                raise r.error(
                    f"{where} {name}", f"{values!r}: must list one or more strings or numbers"
                )
            out.setdefault(backend, {})[name] = tuple(dict.fromkeys(values))
    return out


def _first_label(grid_options: Mapping[str, Mapping[str, tuple[Any, ...]]], backend: str) -> str:
    table = grid_options.get(backend, {})
    return options_label({k: v[0] for k, v in table.items()})


def _grid(
    r: _Reader,
    grid: dict[str, Any],
    oversubscribe: bool,
    model: ModelSpec,
) -> dict[str, tuple[Any, ...]]:
    r.keys("[grid]", grid, (*GRID_AXES, "options", *LEGACY_GRID_OPTIONS))
    grid = {k: v for k, v in grid.items() if k != "options" and k not in LEGACY_GRID_OPTIONS}
    out: dict[str, tuple[Any, ...]] = {}
    defaults = {
        "batch_size": [500],
        "dtype": ["float32"],
        "device": ["cpu"],
        "threads": ["all"],
        "layers": [list(model.layers)],  # [model] layers, as one value of the axis
        "env": [CURRENT_ENV],
    }
    for f in fields(PointKey):  # any other axis: its default, where it has one
        if f.default is not MISSING:
            defaults.setdefault(f.name, [f.default])
    for key in sorted(GRID_AXES, key=lambda k: k == "backend"):  # backend, the required, last
        if key not in grid and key not in defaults:
            raise r.error(
                "[grid]",
                f"a sweep needs {key} = [...] in its [grid] table (mlpbench backends lists them)",
            )
        values = grid.get(key, defaults.get(key))
        values = values if isinstance(values, list) else [values]
        if key == "layers" and values and not isinstance(values[0], list):
            values = [values]  # one network written as a plain list
        if not values:
            raise r.error(f"[grid] {key}", "must list at least one value")
        out[key] = tuple(dict.fromkeys(_grid_value(r, key, v, oversubscribe) for v in values))
    return {key: out[key] for key in GRID_AXES}


def _grid_value(r: _Reader, key: str, v: Any, oversubscribe: bool) -> Any:
    where = f"[grid] {key}"
    if key == "batch_size":
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise r.error(where, f"{v!r}: must be an integer > 0")
        return v
    if key == "threads":
        return _threads(r, v, oversubscribe)
    if key == "dtype" and v not in DTYPES:
        raise r.error(where, f"{v!r} is not allowed; choose from: {', '.join(DTYPES)}")
    if key == "device" and v not in DEVICES:
        raise r.error(where, f"{v!r} is not allowed; choose from: {', '.join(DEVICES)}")
    if key == "env" and (not isinstance(v, str) or not v):
        raise r.error(where, f"{v!r}: must name a stack of [environments] or {CURRENT_ENV!r}")
    if key == "backend" and (not isinstance(v, str) or not v):
        raise r.error(where, f"{v!r}: must be a backend name (mlpbench backends)")
    if key == "layers":
        if isinstance(v, str):  # "784-70-30-10", as it stands in the CSVs
            v = v.split("-")
            v = [int(x) if x.isdigit() else x for x in v]
        if (
            not isinstance(v, list)
            or len(v) < 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)
        ):
            raise r.error(
                where, f"{v!r}: each network is a list of layer sizes > 0, e.g. [784, 70, 10]"
            )
        return "-".join(map(str, v))
    if key == "options":  # a rule's options: a table {k = v} or its label "k=v,..."
        if isinstance(v, dict) and all(isinstance(x, SCALARS) for x in v.values()):
            return options_label(v)
        if isinstance(v, str) and v:
            return v
        raise r.error(where, f"{v!r}: a table of option = value, e.g. {{keras_backend = 'jax'}}")
    kind = AXIS_TYPES[key]  # any other axis: a value of its type
    if kind is int and (not isinstance(v, int) or isinstance(v, bool)):
        raise r.error(where, f"{v!r}: must be an integer")
    if kind is str and (not isinstance(v, str) or not v):
        raise r.error(where, f"{v!r}: must be a non-empty string")
    return v


def _variants(
    r: _Reader, raw: list[dict[str, Any]], model: ModelSpec, train: TrainSpec
) -> tuple[Variant, ...]:
    if not raw:
        return (Variant(),)
    out = []
    for i, v in enumerate(raw):
        where = f"[[variant]] #{i + 1}"
        if "name" not in v:
            raise r.error(where, "needs a name")
        r.keys(where, v, VARIANT_KEYS)
        if not isinstance(v["name"], str) or not NAME_PATTERN.fullmatch(v["name"]):
            raise r.error(f"{where} name", f"{v['name']!r}: must be {NAME_RULE}")
        variant = Variant(
            name=v["name"],
            model=r.table(v, "model", f"{where} model"),
            train=r.table(v, "train", f"{where} train"),
            options=_options(r, r.table(v, "options", f"{where} options"), f"{where} options"),
        )
        r.spec(ModelSpec, f"{where} model", {**_asdict(model), **variant.model})
        r.spec(TrainSpec, f"{where} train", {**_asdict(train), **variant.train})
        out.append(variant)
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        raise r.error("[[variant]]", f"names must be unique, got {names}")
    return tuple(out)


def _asdict(spec: Any) -> dict[str, Any]:
    return {f.name: getattr(spec, f.name) for f in fields(spec)}


def _rule(
    r: _Reader, where: str, rule: dict[str, Any], variants: list[str], oversubscribe: bool
) -> dict[str, Any]:
    if not rule:
        raise r.error(where, "must be a table of point keys")
    r.keys(where, rule, (*GRID_AXES, "variant", "options"))
    out = {}
    for k, v in rule.items():
        if k == "variant":
            if v not in variants:
                raise r.error(where, f"variant {v!r} is not defined; variants: {variants}")
            out[k] = v
        else:
            out[k] = _grid_value(r, k, v, oversubscribe)
    return out


def _extra(
    r: _Reader, e: dict[str, Any], variants: list[str], oversubscribe: bool
) -> dict[str, Any]:
    rule = _rule(r, "[[extra]]", e, variants, oversubscribe)
    optional = ("layers", "options", "env")  # default: the grid's first network, options, stack
    missing = [k for k in GRID_AXES if k not in rule and k not in optional]
    if missing:
        raise r.error("[[extra]]", f"an explicit point needs every key; missing {missing}")
    rule.setdefault("variant", variants[0])
    return rule


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two parsed TOML documents."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def parse_toml(text: str) -> dict[str, Any]:
    """A TOML text as a dict ({} when it does not parse)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def _profile(r: _Reader, value: Any) -> tuple[dict[str, Any], ...]:
    """``profile``: true (every point), false, or selectors ``"axis=value,..."`` (a point
    matches one where it has each named value): the points that get a profiled run."""
    if isinstance(value, bool):
        return ({},) if value else ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise r.error("profile", f"{value!r}: true, false or a list of \"axis=value,...\"")
    out = []
    for selector in value:
        wanted: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in selector.split(","))):
            name, sep, text = part.partition("=")
            if not sep or name.strip() not in AXIS_TYPES:
                raise r.error(
                    "profile", f"{selector!r}: give axis=value pairs; axes: {', '.join(AXIS_TYPES)}"
                )
            try:
                wanted[name.strip()] = parse_cell(text.strip(), AXIS_TYPES[name.strip()], name)
            except ResultsError as e:
                raise r.error("profile", f"{selector!r}: {e}") from None
        out.append(wanted)
    return tuple(out)
