"""The formatters every renderer shares, so a number reads the same in the terminal, the
figures, the report and a results page."""

from __future__ import annotations

import math
from typing import Any


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def threads_label(n: int) -> str:
    return f"{n} thread{'s' if n != 1 else ''}"


def times(v: float) -> str:
    """A ratio: ``1.23x``."""
    return f"{v:.2f}x"


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
