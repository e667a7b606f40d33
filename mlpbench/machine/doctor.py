"""Can this machine give stable numbers? ``mlpbench doctor``'s checks, and the probes each run
records (steal, other processes' load, involuntary context switches, frequency).

pyperf's ``system show`` is the model: each check is one line, OK or WARN, with the reason and
the fix. The sweep runs the same checks at its start and keeps them in environment.json; the
summary and the report repeat every WARN at the top. Linux files are read where they exist; a
check that cannot read anything says so and is OK.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from mlpbench.machine.probe import _read, cpu_times

SAMPLE_ENV = "MLPBENCH_DOCTOR_SAMPLE_S"  # seconds of the steal/load sample (default 2)
SYS_CPU = Path("/sys/devices/system/cpu")
THREAD_VAR_PATTERN = re.compile(r"OPENBLAS_\w+|OMP_\w+|MKL_\w+|BLIS_NUM_THREADS|GOTO_NUM_THREADS")
STEAL_WARN = 0.01  # share of CPU time stolen by the hypervisor
BUSY_WARN = 10.0  # % of one core used by another process during the sample
MEMORY_WARN_GIB = 2.0

if TYPE_CHECKING:
    from mlpbench.results.environment import Environment


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" -> {self.fix}" if self.fix and not self.ok else ""
        return f"{'OK  ' if self.ok else 'WARN'} {self.name}: {self.detail}{fix}"


def governor() -> Check:
    found = {_read(p) for p in SYS_CPU.glob("cpu[0-9]*/cpufreq/scaling_governor")} - {None}
    if not found:
        return Check("CPU governor", True, "not exposed here (a VM: the host decides)")
    ok = found == {"performance"}
    return Check(
        "CPU governor",
        ok,
        ", ".join(sorted(str(g) for g in found)),
        "sudo cpupower frequency-set -g performance",
    )


def boost() -> Check:
    no_turbo = _read(SYS_CPU / "intel_pstate" / "no_turbo")
    boost = _read(SYS_CPU / "cpufreq" / "boost")
    if no_turbo is None and boost is None:
        return Check("turbo/boost", True, "not exposed here")
    on = no_turbo == "0" or boost == "1"
    return Check(
        "turbo/boost",
        not on,
        "on: the clock follows temperature and load" if on else "off",
        "echo 1 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo "
        "(or 0 > .../cpufreq/boost)",
    )


def smt() -> Check:
    siblings = _read(SYS_CPU / "cpu0" / "topology" / "thread_siblings_list") or "0"
    shared = bool(re.search(r"[,-]", siblings))
    return Check(
        "SMT",
        not shared,
        "cpu0 shares its core with " + siblings if shared else "each CPU is a core of its own",
        "pin points to one thread per core, or turn SMT off (echo off > "
        "/sys/devices/system/cpu/smt/control)",
    )


def isolated() -> Check:
    cpus = _read(SYS_CPU / "isolated")
    return Check(
        "isolated CPUs",
        True,
        f"{cpus} (the sweep pins points; see --no-pin)" if cpus else "none (not required)",
    )


def environment_variables() -> Check:
    from mlpbench.machine.threads import BLAS_IDLE_ENV

    ours = {k for k, v in BLAS_IDLE_ENV.items() if os.environ.get(k) == v}  # mlpbench's own
    found = sorted(k for k in os.environ if THREAD_VAR_PATTERN.fullmatch(k) and k not in ours)
    return Check(
        "BLAS/OpenMP variables",
        not found,
        ", ".join(f"{k}={os.environ[k]}" for k in found) if found else "none set",
        "unset them: they change kernels or thread counts (the sweep sets threads per point)",
    )


KERNEL_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # override OpenBLAS's own CPU choice
_KERNEL_PROBE = (
    "import numpy, threadpoolctl; "
    "print(next((i.get('architecture') or '?' for i in threadpoolctl.threadpool_info() "
    "if i.get('internal_api') == 'openblas'), ''))"
)


def blas_architecture(env: dict[str, str]) -> str:
    """The kernels OpenBLAS (as loaded by NumPy) picks under ``env``, from a fresh process:
    '' where NumPy's BLAS is not OpenBLAS or the probe fails."""
    import subprocess
    import sys

    try:
        out = subprocess.run(
            [sys.executable, "-c", _KERNEL_PROBE],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def blas_kernels(probe: Any = blas_architecture) -> Check:
    """Whether a variable overrides the kernels OpenBLAS would pick for this CPU. Seen on an
    AMD EPYC (Zen 5) VM: OPENBLAS_CORETYPE=Haswell set by the image halved the float32 GEMM
    peak against the SkylakeX kernels OpenBLAS picks there by itself."""
    forced = {k: os.environ[k] for k in KERNEL_VARS if k in os.environ}
    if not forced:
        return Check("BLAS kernels", True, "OpenBLAS's own choice for this CPU (no override)")
    now = probe(dict(os.environ))
    own = probe({k: v for k, v in os.environ.items() if k not in KERNEL_VARS})
    what = ", ".join(f"{k}={v}" for k, v in forced.items())
    if not now or not own:
        return Check(
            "BLAS kernels", True, f"{what} set; OpenBLAS could not be asked (NumPy uses another "
            "BLAS, or the probe failed)",
        )  # fmt: skip
    return Check(
        "BLAS kernels",
        now == own,
        f"{what}: kernels {now}"
        + (
            f", where OpenBLAS picks {own} for this CPU by itself"
            if now != own
            else " (its own choice too)"
        ),
        f"unset {', '.join(forced)} to measure the CPU as it is, or compare only with results "
        f"taken with the same setting (environment.json: blas_architecture)",
    )


def memory() -> Check:
    gib = psutil.virtual_memory().available / 2**30
    return Check(
        "free memory",
        gib >= MEMORY_WARN_GIB,
        f"{gib:.1f} GiB available",
        "close memory-hungry programs (swapping ruins timings)",
    )


def _mlpbench_processes() -> list[psutil.Process]:
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    mine |= {c.pid for c in psutil.Process().children(recursive=True)}
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if p.info["pid"] not in mine and ("mlpbench sweep" in cmd):
            found.append(p)
    return found


def other_sweeps() -> Check:
    found = _mlpbench_processes()
    return Check(
        "other sweeps",
        not found,
        ", ".join(f"PID {p.pid}" for p in found) if found else "none running",
        "wait for them: two sweeps share the cores and slow each other",
    )


def sampled(seconds: float) -> list[Check]:
    """Steal time, load and the busiest other processes over one sample of ``seconds``."""
    me = {os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))}
    procs = {}
    for p in psutil.process_iter(["pid", "name"]):
        if p.info["pid"] not in me:
            try:
                p.cpu_percent(None)
                procs[p.info["pid"]] = p
            except psutil.Error:
                pass
    busy0, steal0 = cpu_times()
    wall0 = time.monotonic()
    time.sleep(seconds)
    busy1, steal1 = cpu_times()
    total = (time.monotonic() - wall0) * (psutil.cpu_count() or 1)
    steal = (steal1 - steal0) / total if total > 0 else 0.0
    busiest = []
    for pid, p in procs.items():
        try:
            busiest.append((p.cpu_percent(None), pid, p.info["name"]))
        except psutil.Error:
            pass
    busiest = sorted(busiest, reverse=True)[:3]
    hot = [b for b in busiest if b[0] >= BUSY_WARN]
    load1 = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return [
        Check(
            "steal time",
            steal < STEAL_WARN,
            f"{100 * steal:.1f}% of CPU time over {seconds:g} s",
            "a shared VM: the hypervisor gives your cores to others; use dedicated hosts",
        ),
        Check(
            "other processes",
            not hot,
            ", ".join(f"{name} (PID {pid}) {pct:.0f}% of a core" for pct, pid, name in hot)
            if hot
            else f"none above {BUSY_WARN:.0f}% of a core",
            "stop them, or expect slower and noisier points",
        ),
        Check(
            "load average",
            load1 < 0.5 * cores,
            f"{load1:.2f} over 1 minute on {cores} usable cores",
            "wait for the machine to be idle",
        ),
    ]


SMALL_GEMM = (500, 784, 70)  # the reference workload's first product at batch 500
CONTENTION = 1.5  # every core this much slower than one on it: the threads contend


def small_gemm_seconds(threads: int, repeats: int = 15) -> float:
    """The best time of the reference workload's first product (500x784 by 784x70, float32)
    with the BLAS at ``threads``."""
    import time

    import numpy as np
    from threadpoolctl import threadpool_limits

    m, k, n = SMALL_GEMM
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    best = float("inf")
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b  # warm: the threads started
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return best


def blas_contention(measure: Any = small_gemm_seconds, cores: int | None = None) -> Check:
    """Whether the BLAS on every core is slower than on one for a product as small as one
    training step's: a backend that leaves its BLAS at every core pays that each step (a
    plugin ran 8.98x slower than numpy for it). Measured, interleaved: 1, all, 1, all."""
    from mlpbench.machine.threads import cpu_count

    cores = cores or cpu_count()
    name = "BLAS threads on a small product"
    if cores < 2:
        return Check(name, True, "one usable core: nothing to contend")
    one, many = measure(1), measure(cores)
    one, many = min(one, measure(1)), min(many, measure(cores))
    m, k, n = SMALL_GEMM
    detail = (
        f"a {m}x{k} by {k}x{n} float32 product takes {1e3 * many:.2f} ms with {cores} BLAS "
        f"threads, {1e3 * one:.2f} ms with 1"
    )
    return Check(
        name,
        many <= CONTENTION * one,
        detail,
        "a backend that leaves its BLAS at every core pays this on each step of a small "
        "network: cap it around the step (threadpoolctl.threadpool_limits(1)) or measure "
        "with the numpy backend's thread plans (mlpbench tune)",
    )


def doctor(sample_s: float | None = None, gemm: bool = False) -> list[Check]:
    """Every check; ``sample_s`` (default: $MLPBENCH_DOCTOR_SAMPLE_S or 2) for steal and load;
    ``gemm``: also time a small product on one core and on all (``mlpbench doctor``)."""
    if sample_s is None:
        sample_s = float(os.environ.get(SAMPLE_ENV, "2"))
    return [
        governor(),
        boost(),
        smt(),
        isolated(),
        environment_variables(),
        blas_kernels(),
        *([blas_contention()] if gemm else []),
        memory(),
        other_sweeps(),
        *sampled(sample_s),
    ]


def as_json(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]


def warnings_of(env: Environment) -> list[str]:
    """The WARN lines a sweep recorded at its start (environment.json)."""
    checks = [Check(**c) for c in env.doctor]
    return [c.line() for c in checks if not c.ok]
