"""What every renderer shares beyond the words for a number (those are
``mlpbench.analysis.wording``'s, re-exported here): the plots that open a page, a sweep's wall
time, and the pointers a command's output gives to the docs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlpbench.analysis.wording import (
    count,
    duration,
    one_decimal,
    percent,
    seconds,
    threads_label,
    times,
)

if TYPE_CHECKING:
    from mlpbench.results.environment import Environment

PICTURES = ("gpu_speedup", "speedup")
"""The plots that answer at a glance, the first one drawn opening a page and the report: the
time ratio against batch size per series with its range (CPU over GPU on a sweep over
devices)."""

__all__ = ["count", "duration", "one_decimal", "percent", "seconds", "threads_label", "times"]


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
