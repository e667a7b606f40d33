"""Sweep files: TOML -> validated, frozen specs -> the list of points to run.

Every error names the file, the table and key, and the allowed values. Points are ordered so
that each repeat runs the whole grid with the backends interleaved: drift in the machine's
speed then hits every backend alike.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bench.data import DataSpec
from bench.protocol import DEVICES, DTYPES, ModelSpec, SpecError, TrainSpec
from bench.runner import RunSpec
from bench.threads import cpu_count

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOP_KEYS = (
    "name",
    "description",
    "repeats",
    "timeout_s",
    "data",
    "model",
    "train",
    "grid",
    "options",
    "variant",
    "exclude",
    "extra",
)
GRID_KEYS = ("backend", "batch_size", "dtype", "device", "threads")
VARIANT_KEYS = ("name", "model", "train", "options")


class ConfigError(SpecError):
    """A bad sweep file."""


@dataclass(frozen=True)
class Variant:
    """A named change to model, training or backend options, crossed with the grid."""

    name: str = "default"
    model: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # backend -> options


@dataclass(frozen=True)
class Point:
    backend: str
    batch_size: int
    dtype: str
    device: str
    threads: int
    variant: str
    repeat: int
    run: RunSpec

    def key(self) -> tuple[Any, ...]:
        """Identifies a run in runs.csv (used by --resume)."""
        return (
            self.backend,
            self.batch_size,
            self.dtype,
            self.device,
            self.threads,
            self.variant,
            self.repeat,
        )

    def label(self) -> str:
        v = "" if self.variant == "default" else f" [{self.variant}]"
        return (
            f"{self.backend} b={self.batch_size} {self.dtype} {self.device} "
            f"t={self.threads}{v} #{self.repeat}"
        )


@dataclass(frozen=True)
class SweepConfig:
    name: str
    path: str
    text: str
    repeats: int
    timeout_s: float
    data: DataSpec
    model: ModelSpec
    train: TrainSpec
    grid: Mapping[str, tuple[Any, ...]]
    options: Mapping[str, Mapping[str, Any]]
    variants: tuple[Variant, ...]
    exclude: tuple[Mapping[str, Any], ...]
    extra: tuple[Mapping[str, Any], ...]
    description: str = ""

    def points(self) -> list[Point]:
        combos = [
            dict(zip(GRID_KEYS, values))
            for values in itertools.product(*(self.grid[k] for k in GRID_KEYS))
        ]
        base = [dict(c, variant=v.name) for c in combos for v in self.variants]
        base = [c for c in base if not any(_matches(rule, c) for rule in self.exclude)]
        base += [dict(e) for e in self.extra if dict(e) not in base]
        # Interleave backends: the outer loops are repeat and the non-backend keys.
        backends = list(dict.fromkeys(c["backend"] for c in base))
        base.sort(key=lambda c: backends.index(c["backend"]))
        variants = [v.name for v in self.variants]  # declared order: the first is the baseline
        base.sort(
            key=lambda c: (
                c["batch_size"],
                c["dtype"],
                c["device"],
                c["threads"],
                variants.index(c["variant"]),
            )
        )
        return [self._point(c, r) for r in range(self.repeats) for c in base]

    def _point(self, c: Mapping[str, Any], repeat: int) -> Point:
        variant = next(v for v in self.variants if v.name == c["variant"])
        model = replace(self.model, **variant.model) if variant.model else self.model
        train = replace(self.train, batch_size=c["batch_size"], **variant.train)
        options = {**self.options.get(c["backend"], {}), **variant.options.get(c["backend"], {})}
        run = RunSpec(
            backend=c["backend"],
            device=c["device"],
            dtype=c["dtype"],
            threads=c["threads"],
            model=model,
            train=train,
            data=self.data,
            options=options,
        )
        return Point(
            c["backend"],
            c["batch_size"],
            c["dtype"],
            c["device"],
            c["threads"],
            c["variant"],
            repeat,
            run,
        )

    def fingerprint(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]


def _matches(rule: Mapping[str, Any], combo: Mapping[str, Any]) -> bool:
    return all(combo.get(k) == v for k, v in rule.items())


class _Reader:
    """Validation helpers that know which file they read."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}{': ' if where else ''}{message}")

    def table(self, doc: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = doc.get(key, {})
        if not isinstance(value, dict):
            raise self.error(f"[{key}]", "must be a table")
        return dict(value)

    def keys(
        self, where: str, got: Mapping[str, Any], allowed: tuple[str, ...] | list[str]
    ) -> None:
        unknown = sorted(set(got) - set(allowed))
        if unknown:
            raise self.error(
                where,
                f"unknown key {', '.join(map(repr, unknown))}; allowed keys: {', '.join(allowed)}",
            )

    def spec(self, cls: type, where: str, values: Mapping[str, Any], **fixed: Any) -> Any:
        self.keys(where, values, [f.name for f in fields(cls) if f.name not in fixed])
        try:
            return cls(**{**values, **fixed})
        except (SpecError, TypeError) as e:
            raise self.error(where, str(e)) from None


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> SweepConfig:
    """Read and validate a sweep file; ``overrides`` replaces top-level values (tests, CLI)."""
    path = str(path)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
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
    name = str(doc.get("name", Path(path).stem))
    repeats = doc.get("repeats", 1)
    if not isinstance(repeats, int) or repeats < 1:
        raise r.error("repeats", f"{repeats!r}: must be an integer >= 1")
    timeout = doc.get("timeout_s", 600)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise r.error("timeout_s", f"{timeout!r}: must be a number of seconds > 0")
    data = r.spec(DataSpec, "[data]", r.table(doc, "data"))
    model_values = r.table(doc, "model")
    if "layers" in model_values:
        model_values["layers"] = tuple(model_values["layers"])
    model = r.spec(ModelSpec, "[model]", model_values)
    train = r.spec(TrainSpec, "[train]", r.table(doc, "train"), batch_size=1)
    grid = _grid(r, r.table(doc, "grid"))
    options = r.table(doc, "options")
    for backend, opts in options.items():
        if not isinstance(opts, dict):
            raise r.error(f"[options.{backend}]", "must be a table of backend options")
    variants = _variants(r, doc.get("variant", []), model, train)
    names = [v.name for v in variants]
    exclude = tuple(_rule(r, "[[exclude]]", e, names) for e in doc.get("exclude", []))
    extra = tuple(_extra(r, e, names) for e in doc.get("extra", []))
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
        description=str(doc.get("description", "")),
    )
    if not cfg.points():
        raise r.error("[grid]", "the grid is empty after [[exclude]] rules")
    return cfg


def _threads(r: _Reader, value: Any) -> int:
    if value == "all":
        return cpu_count()
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise r.error("[grid] threads", f'{value!r}: must be an integer >= 1 or "all"')
    return value


def _grid(r: _Reader, grid: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    r.keys("[grid]", grid, GRID_KEYS)
    out: dict[str, tuple[Any, ...]] = {}
    defaults = {
        "backend": ["numpy", "keras"],
        "batch_size": [500],
        "dtype": ["float32"],
        "device": ["cpu"],
        "threads": ["all"],
    }
    for key in GRID_KEYS:
        values = grid.get(key, defaults[key])
        values = values if isinstance(values, list) else [values]
        if not values:
            raise r.error(f"[grid] {key}", "must list at least one value")
        out[key] = tuple(dict.fromkeys(_grid_value(r, key, v) for v in values))
    return out


def _grid_value(r: _Reader, key: str, v: Any) -> Any:
    where = f"[grid] {key}"
    if key == "batch_size":
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise r.error(where, f"{v!r}: must be an integer > 0")
        return v
    if key == "threads":
        return _threads(r, v)
    if key == "dtype" and v not in DTYPES:
        raise r.error(where, f"{v!r} is not allowed; choose from: {', '.join(DTYPES)}")
    if key == "device" and v not in DEVICES:
        raise r.error(where, f"{v!r} is not allowed; choose from: {', '.join(DEVICES)}")
    if key == "backend" and not isinstance(v, str):
        raise r.error(where, f"{v!r}: must be a backend name (mlpbench backends)")
    return v


def _variants(r: _Reader, raw: Any, model: ModelSpec, train: TrainSpec) -> tuple[Variant, ...]:
    if not raw:
        return (Variant(),)
    out = []
    for i, v in enumerate(raw):
        where = f"[[variant]] #{i + 1}"
        if not isinstance(v, dict) or "name" not in v:
            raise r.error(where, "needs a name")
        r.keys(where, v, VARIANT_KEYS)
        variant = Variant(
            name=str(v["name"]),
            model=dict(v.get("model", {})),
            train=dict(v.get("train", {})),
            options=dict(v.get("options", {})),
        )
        if "layers" in variant.model:
            variant = replace(
                variant, model={**variant.model, "layers": tuple(variant.model["layers"])}
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


def _rule(r: _Reader, where: str, rule: Any, variants: list[str]) -> dict[str, Any]:
    if not isinstance(rule, dict) or not rule:
        raise r.error(where, "must be a table of point keys")
    r.keys(where, rule, (*GRID_KEYS, "variant"))
    out = {}
    for k, v in rule.items():
        if k == "variant":
            if v not in variants:
                raise r.error(where, f"variant {v!r} is not defined; variants: {variants}")
            out[k] = v
        else:
            out[k] = _grid_value(r, k, v)
    return out


def _extra(r: _Reader, e: Any, variants: list[str]) -> dict[str, Any]:
    rule = _rule(r, "[[extra]]", e, variants)
    missing = [k for k in GRID_KEYS if k not in rule]
    if missing:
        raise r.error("[[extra]]", f"an explicit point needs every key; missing {missing}")
    rule.setdefault("variant", variants[0])
    return rule
