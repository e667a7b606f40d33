"""What the machine is and did: a stable host id, and the probe each run records (steal, other
processes' load, this process's involuntary context switches, load average, clock). The worker
imports this module (psutil and the standard library only); ``doctor`` uses it too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psutil

HOST_ENV = "MLPBENCH_HOST_ID"  # overrides the machine id (containers sharing one, tests)


def host_id() -> str:
    """A stable id of this machine: /etc/machine-id (or the MAC address) hashed, 12 hex."""
    import hashlib
    import uuid

    if os.environ.get(HOST_ENV):
        return os.environ[HOST_ENV]
    seed = _read(Path("/etc/machine-id")) or f"{uuid.getnode():x}"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def hostname() -> str:
    import platform

    return platform.node()


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_times() -> tuple[float, float]:
    """(busy, steal) seconds summed over all CPUs since boot, from /proc/stat."""
    t = psutil.cpu_times()
    steal = getattr(t, "steal", 0.0)
    busy = sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))
    return busy + steal, steal


class RunProbe:
    """What the machine did during one run: steal, other processes' load, involuntary context
    switches of this process, load average and clock at the end."""

    def __init__(self) -> None:
        self.busy, self.steal = cpu_times()
        self.own = self._own()
        self.wall = time.monotonic()
        self.nivcsw = self._nivcsw()

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    @staticmethod
    def _nivcsw() -> int:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw

    def finish(self) -> dict[str, Any]:
        busy, steal = cpu_times()
        wall = time.monotonic() - self.wall
        total = wall * (psutil.cpu_count() or 1)
        others = (busy - self.busy) - (self._own() - self.own) - (steal - self.steal)
        freq = psutil.cpu_freq()
        return {
            "steal_pct": 100 * (steal - self.steal) / total if total > 0 else 0.0,
            "other_load_pct": max(0.0, 100 * others / total) if total > 0 else 0.0,
            "involuntary_switches": self._nivcsw() - self.nivcsw,
            "load_avg": os.getloadavg()[0],
            "cpu_mhz": float(freq.current) if freq and freq.current else float("nan"),
        }
