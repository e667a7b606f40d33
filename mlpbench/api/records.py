"""What a backend hands back, checked before it reaches a file: one rule set for the worker
(a violation makes that run ``failed``) and the conformance kit (a violation is a KitFailure),
with the same one sentence naming the field and the value.

Why here: the readers of a results folder are strict, so one bad value written by one plugin
would make the whole folder unreadable. Nothing a backend returns is written unchecked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from numbers import Integral
from typing import Any

from mlpbench.api.protocol import PHASES, EpochRecord

MAX_INFO_CHARS = 4096
"""``info()`` as stored (runs.csv's backend_info) is cut past this many characters, with the
marker below; framework_threads and plan past ``MAX_LABEL_CHARS``."""
MAX_LABEL_CHARS = 256
TRUNCATED = " ...[truncated {n} characters]"


class RecordError(ValueError):
    """A backend returned a value the results schema cannot hold; the message is one sentence."""


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def number(value: Any, what: str, *, nan_ok: bool = False, minimum: float | None = None) -> float:
    """``value`` as a float, or a RecordError naming ``what``: a real number (not a bool or a
    string), finite unless ``nan_ok`` (NaN only, never infinity), and >= ``minimum``."""
    if isinstance(value, (str, bytes, bool)):
        raise RecordError(f"{what} = {shown(value)} is not a number")
    try:  # Python and NumPy numbers, and a framework's 0-d arrays
        x = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{what} = {shown(value)} is not a number") from None
    if math.isnan(x) and nan_ok:
        return x
    if not math.isfinite(x):
        raise RecordError(f"{what} = {x} is not finite")
    if minimum is not None and x < minimum:
        raise RecordError(f"{what} = {x:g} is below {minimum:g}")
    return x


def check_epoch(record: Any, index: int, of: int | None = None) -> EpochRecord:
    """The ``index``-th (0-based) record of a run of ``of`` epochs, checked field by field."""
    if not isinstance(record, EpochRecord):
        raise RecordError(
            f"on_epoch_end got a {type(record).__name__}, not a mlpbench.api.protocol.EpochRecord"
        )
    n = record.epoch
    if isinstance(n, bool) or not isinstance(n, Integral) or n != index:
        raise RecordError(
            f"epoch record {index + 1} has epoch = {shown(n)}; epochs are numbered 0, 1, 2, ... "
            "in order"
        )
    if of is not None and index >= of:
        raise RecordError(f"the backend reported more than the {of} epochs it was asked for")
    where = f"epoch {index + 1}:"
    number(record.wall_s, f"{where} wall_s", minimum=0.0)
    number(record.cpu_s, f"{where} cpu_s", nan_ok=True, minimum=0.0)
    loss = number(record.loss, f"{where} loss", nan_ok=True)
    if math.isnan(loss):
        raise RecordError(f"the training loss is nan at epoch {index + 1} (diverged?)")
    accuracy = number(record.accuracy, f"{where} accuracy", nan_ok=True)
    if not (math.isnan(accuracy) or 0.0 <= accuracy <= 1.0):
        raise RecordError(f"{where} accuracy = {accuracy:g} is not between 0 and 1")
    if not isinstance(record.phases, Mapping):
        raise RecordError(f"{where} phases = {shown(record.phases)} is not a dict")
    for name, seconds in record.phases.items():
        if name not in PHASES:
            raise RecordError(
                f"{where} unknown phase {shown(name)}; known phases: {', '.join(PHASES)}"
            )
        number(seconds, f"{where} phase {name}", minimum=0.0)
    return record


def check_epochs(records: Iterable[Any], of: int) -> list[EpochRecord]:
    """A whole run's records: each one checked, and exactly ``of`` of them."""
    checked = [check_epoch(r, i, of) for i, r in enumerate(records)]
    check_count(len(checked), of)
    return checked


def check_count(reported: int, of: int) -> None:
    """One record per epoch asked for (each record already checked as it came)."""
    if reported != of:
        raise RecordError(f"the backend reported {reported} epochs for a run of {of}")


def valid_text(text: Any) -> str:
    """``text`` as valid UTF-8: a lone surrogate (a plugin's bytes decoded with
    surrogateescape, or a bad escape) becomes "?" so that no write can fail on it."""
    text = str(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


MAX_REASON_CHARS = 1000


def bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a marker saying how much was cut (and made
    valid UTF-8: backend-controlled text passes here on its way in)."""
    text = valid_text(text)
    if len(text) <= limit:
        return text
    marker = TRUNCATED.format(n=len(text) - limit)
    return text[: max(limit - len(marker), 0)] + marker


def check_info(info: Any) -> dict[str, Any]:
    """``info()`` checked to be a dict of JSON-serializable values under string keys."""
    if not isinstance(info, Mapping):
        raise RecordError(f"info() returned a {type(info).__name__}, not a dict")
    for key, value in info.items():
        if not isinstance(key, str):
            raise RecordError(f"info() has the key {shown(key)}; keys must be strings")
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError):
            raise RecordError(
                f"info()[{key!r}] = {shown(value)} is not JSON-serializable"
            ) from None
    return dict(info)


def info_text(info: Mapping[str, Any]) -> str:
    """info() as runs.csv's backend_info: ``key=value`` pairs joined by ``;``, bounded."""
    return bounded(";".join(f"{k}={v}" for k, v in sorted(info.items())), MAX_INFO_CHARS)
