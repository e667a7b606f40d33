"""How a number reads in words, the same in a finding, the terminal, a figure, report.html
and a results page (analysis composes the findings' sentences with these; render/ lays them
out)."""

from __future__ import annotations

import math
from typing import Any


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def threads_label(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def times(v: float) -> str:
    """A ratio: ``1.23x`` (``1.2e+300x`` past 10,000, never hundreds of digits)."""
    if _missing(v):
        return "-"
    return f"{v:.2f}x" if abs(v) < 1e4 else f"{v:.2g}x"


def seconds(v: Any) -> str:
    """3 significant digits, no exponent for ordinary times."""
    if _missing(v):
        return "-"
    return f"{float(v):#.3g}".rstrip(".") if abs(float(v)) >= 1e-3 else f"{float(v):.2e}"


def count(v: Any) -> str:
    return "-" if _missing(v) else f"{float(v):,.0f}"


def percent(v: Any) -> str:
    return "-" if _missing(v) else f"{100 * v:.1f}%"


def one_decimal(v: Any) -> str:
    return "-" if _missing(v) else f"{float(v):,.1f}"


def duration(v: float) -> str:
    """A wall time as people say it: ``48 s``, ``4 min 12 s``, ``1 h 3 min``."""
    s = int(round(v))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"
