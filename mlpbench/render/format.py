"""The formatters every renderer shares, so a number reads the same in the terminal, the
figures, the report and a results page."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlpbench.results.environment import Environment


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


def sweep_time(env: Environment) -> str:
    """How long a sweep took, from environment.json's ``sessions`` (each run, resume or
    interruption of it): ``4 min 12 s (1 min 40 s of it calibrating and tuning)``, with the
    number of sessions when it took more than one; "" when no session finished."""
    sessions = env.sessions
    if not any(s.finished for s in sessions):
        return ""
    wall = sum(s.wall_s for s in sessions)
    prepare = sum(s.prepare_s for s in sessions)
    parts = [f"{duration(prepare)} of it calibrating and tuning"] if prepare >= 1 else []
    if len(sessions) > 1:
        parts.append(f"over {len(sessions)} sessions")
    return duration(wall) + (f" ({'; '.join(parts)})" if parts else "")


POINTERS: list[tuple[str, str]] = []
"""Every (file, heading) a command's output points a reader to: a test checks each one is a
real heading of a real file of the project (a pointer to a section that moved is a defect)."""


def pointer(doc: str, heading: str) -> str:
    """``docs/trust.md, 'When a number cannot be trusted'``, recorded in :data:`POINTERS`."""
    POINTERS.append((doc, heading))
    return f"{doc}, '{heading}'"


TRUST = pointer("docs/trust.md", "When a number cannot be trusted")
