"""Arguments shared by several subcommands, and CLI flags generated from the spec dataclasses.

A field of ``ModelSpec``, ``TrainSpec`` or ``DataSpec`` reaches ``mlpbench run`` by itself:
its type gives the parser, its metadata the help text, the allowed values and aliases.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import MISSING, fields
from typing import Any, get_type_hints

LAYERS = re.compile(r"\d+(,\d+)+|\d+(-\d+)+")


def layers(text: str) -> tuple[int, ...]:
    """Layer sizes as ``784,70,30,10`` or ``784-70-30-10``; nothing else (a minus sign, an
    empty size or a fraction is an error, never a silently different network)."""
    if not LAYERS.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of layer sizes such as 784,70,30,10 (positive integers)"
        )
    return tuple(int(v) for v in re.split("[,-]", text.strip()))


def option(text: str) -> tuple[str, Any]:
    """A backend option ``KEY=VALUE``: true/false, an int, a float, else the string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: backend options are KEY=VALUE")
    key, value = text.split("=", 1)
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return key.strip(), lowered == "true"
    for conv in (int, float):
        try:
            return key.strip(), conv(value)
        except ValueError:
            pass
    return key.strip(), value


def add_spec_arguments(group: Any, cls: type, prefix: str, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of the spec dataclass ``cls`` (dest ``prefix + name``)."""
    hints = get_type_hints(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        meta = f.metadata
        flag = meta.get("flag", "--" + f.name.replace("_", "-"))
        names = [flag, *meta.get("aliases", ())]
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        kind = hints[f.name]
        kw: dict[str, Any] = {"dest": prefix + f.name, "default": default}
        if kind is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif getattr(kind, "__origin__", None) is tuple:
            kw["type"] = layers
        else:
            kw["type"] = kind
        if "choices" in meta:
            kw["choices"] = meta["choices"]
        help_text = meta.get("help", "")
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else "%(default)s"
        if default == "" and kind is str:
            shown = "none"
        kw["help"] = f"{help_text} (default: {shown})".strip()
        if "choices" not in meta and kind is not bool:
            kw["metavar"] = "N" if kind is int else ("X" if kind is float else f.name.upper())
        group.add_argument(*names, **kw)


def spec_from_args(cls: type, args: argparse.Namespace, prefix: str, **fixed: Any) -> Any:
    values = {f.name: getattr(args, prefix + f.name) for f in fields(cls) if f.name not in fixed}
    return cls(**values, **fixed)


def add_results_dir(parser: argparse.ArgumentParser) -> None:
    """The results folder a reading command works on."""
    parser.add_argument(
        "directory", nargs="?", default="results/latest", help="a results directory"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse a folder with a bad row (default: leave that run out, with a warning)",
    )


def add_results_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results", default="results", help="where result folders go (default: ./results)"
    )
