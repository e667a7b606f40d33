"""A profiled run's sampler: Linux ``perf`` on every thread of this worker, switched to the
steady epochs by their times; ``py-spy`` where perf cannot run; nothing, with one line that
says why, where neither can.

perf attaches to this process before the backend builds its model (every thread it starts is
followed) with ``-k CLOCK_MONOTONIC``, so its samples' times are ``time.monotonic()``'s and
the window is cut from them afterwards: the steady epochs only (epoch 2 to the last). The
process's own CPU time over the same window (getrusage: every thread) is what the samples
should add up to: the profile's coverage.
"""

from __future__ import annotations

import functools
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from mlpbench.results.profile import Profile
from mlpbench.worker.categories import Categories, folded, parse_folded, parse_perf_script

HZ = 499  # samples a second per thread: prime, so as not to beat with a periodic timer
PARANOID = Path("/proc/sys/kernel/perf_event_paranoid")
PY_SPY_SEES = "py-spy sees only the Python threads (not a BLAS's or a framework's pool)"
GPU_SEES = "the host side only: the device's own kernels need a device profiler (nsys)"


def process_cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return use.ru_utime + use.ru_stime


FRAME_SYMBOL = re.compile(r"^(\s*[0-9a-f]+\s+)(_Z\S*)(\s+\(.*\)\s*)$", re.M)


def perf_script(data: Path) -> tuple[str, str]:
    """(``perf script``'s lines for ``data``, "" or why it failed). Its C++ symbols are
    demangled by one ``c++filt -p`` over the distinct names, not by perf, which demangles every
    symbol of every library a sample touched (TensorFlow's: the larger part of a keras
    profile's post-processing; issue 51, make bench's budget): the same text. Without
    c++filt, or where it fails, perf demangles."""

    def script(*flags: str) -> tuple[str, str]:
        out = subprocess.run(
            ["perf", "script", *flags, "-i", str(data), "-F", "comm,tid,time,ip,sym,dso"],
            capture_output=True, text=True, errors="replace", timeout=600,
        )  # fmt: skip
        if out.returncode != 0:
            return "", out.stderr.strip() or f"exit status {out.returncode}"
        return out.stdout, ""

    filt = shutil.which("c++filt")
    if filt:
        text, failed = script("--no-demangle")
        plain = None if failed else demangled(text, filt)
        if failed or plain is not None:
            return plain or "", failed
    return script()


def demangled(text: str, filt: str) -> str | None:
    """``text`` with its frames' mangled C++ names demangled by ``filt -p`` (the names only,
    as perf writes them), or None where c++filt cannot."""
    names = sorted({m.group(2) for m in FRAME_SYMBOL.finditer(text)})
    if not names:
        return text
    try:
        out = subprocess.run(
            [filt, "-p"], input="\n".join(names) + "\n", capture_output=True, text=True,
            errors="replace", timeout=600,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    plain = out.stdout.splitlines()
    if out.returncode != 0 or len(plain) != len(names):
        return None
    table = dict(zip(names, plain))
    return FRAME_SYMBOL.sub(lambda m: m.group(1) + table[m.group(2)] + m.group(3), text)


def perf_problem() -> str:
    """Why perf cannot sample this process here ("" where it can)."""
    perf = shutil.which("perf")
    if perf is None:
        return "perf is not installed (Debian and Ubuntu: apt install linux-perf)"
    try:
        level = int(PARANOID.read_text().strip())
    except (OSError, ValueError):
        level = 2
    if level > 2:
        return (
            f"perf cannot sample here: kernel.perf_event_paranoid = {level} (as root, "
            "`sysctl -w kernel.perf_event_paranoid=2` lets a user profile their own processes)"
        )
    ran, said = asked_version(perf)  # Debian's wrapper without a perf for this kernel fails
    return "" if ran else f"perf does not run: {said[:200]}"


@functools.cache
def asked_version(path: str) -> tuple[bool, str]:
    """Whether ``path --version`` ran, and what it said (or why not): asked once per tool."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return out.returncode == 0, (out.stdout or out.stderr).strip()


def tool_version(command: str) -> str:
    """``perf version 6.1.187``: the tool's own first line, else its name."""
    path = shutil.which(command)
    ran, said = asked_version(path) if path else (False, "")
    return said.splitlines()[0] if ran and said else command


class Profiler:
    """One profiled run: ``start()`` before the model is built, ``epoch_ended`` from the
    run's epoch callback, ``finish()`` after the fit, which returns the :class:`Profile`."""

    def __init__(self, want: str = "auto", device: str = "cpu", hz: int = HZ) -> None:
        self.want, self.device, self.hz = want, device, hz
        self.folder = Path(tempfile.mkdtemp(prefix="mlpbench-profile-"))
        self.tool, self.skipped = "", ""
        self.proc: subprocess.Popen | None = None
        self.window = [math.nan, math.nan]
        self.cpu = [math.nan, math.nan]
        self.steps_per_epoch, self.epochs = 0, 0
        self.result: Profile | None = None

    def start(self) -> None:
        problem = perf_problem() if self.want in ("auto", "perf") else "perf not wanted"
        if not problem:
            self.tool = "perf"
            with (self.folder / "perf.log").open("w") as log:  # a file: a pipe nobody reads
                self.proc = subprocess.Popen(  # while perf runs could fill and stall it
                    ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(self.hz), "-g",
                     "-k", "CLOCK_MONOTONIC", "-p", str(os.getpid()),
                     "-o", str(self.folder / "perf.data")],
                    stdout=subprocess.DEVNULL, stderr=log,
                )  # fmt: skip
            deadline = time.monotonic() + 10
            data = self.folder / "perf.data"
            while time.monotonic() < deadline and self.proc.poll() is None:
                if data.exists() and data.stat().st_size > 0:
                    break
                time.sleep(0.05)
            time.sleep(0.2)  # attached to every thread before the model starts its own
            if self.proc.poll() is not None:
                why = (self.folder / "perf.log").read_text(errors="replace").strip()
                problem, self.tool, self.proc = f"perf record failed: {why[:200]}", "", None
        if problem and self.want in ("auto", "py-spy") and shutil.which("py-spy"):
            self.tool = "py-spy"
        elif problem:
            spy = "; py-spy is not installed either (pip install py-spy)"
            self.skipped = problem + ("" if self.want == "perf" else spy)

    def fit_started(self) -> None:
        """The window's start where the run has a single epoch (else epoch 1's end moves it)."""
        self._open()

    def epoch_ended(self, epoch: int, of: int) -> None:
        if epoch == 0 and of > 1:
            self._open()  # the steady epochs start (a run timed again starts over)
        if epoch == of - 1:
            self.window[1], self.cpu[1] = time.monotonic(), process_cpu_s()
            self.epochs = of - 1 if of > 1 else 1
            if self.tool == "py-spy" and self.proc is not None:
                self.proc.send_signal(signal.SIGINT)

    def _open(self) -> None:
        self.window[0], self.cpu[0] = time.monotonic(), process_cpu_s()
        if self.tool == "py-spy":
            if self.proc is not None:  # the first window's, a run timed again starts over
                self.proc.kill()
                self.proc.wait()
            self.proc = subprocess.Popen(
                ["py-spy", "record", "--pid", str(os.getpid()), "--native", "--subprocesses",
                 "--nonblocking", "-r", str(self.hz), "-f", "raw",
                 "-o", str(self.folder / "stacks.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip

    def finish(self, own: Mapping[str, str] | None = None) -> Profile:
        """Stop sampling and name each sample's category (``own``: the backend's hook)."""
        try:
            return self._finish(own)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _finish(self, own: Mapping[str, str] | None) -> Profile:
        if self.skipped or not self.tool:
            return Profile(skipped=self.skipped or "no profiler ran")
        proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                return Profile(skipped=f"{self.tool} did not stop within 60 s")
        t0, t1 = self.window
        if not t1 > t0:
            return Profile(skipped="the run ended before its steady epochs were sampled")
        if self.tool == "perf":
            text, failed = perf_script(self.folder / "perf.data")
            if failed:
                return Profile(skipped=f"perf script failed: {failed[:200]}")
            samples = [s for s in parse_perf_script(text) if t0 <= s.time <= t1]
            sees = ""
        else:
            path = self.folder / "stacks.txt"
            samples = list(parse_folded(path.read_text() if path.exists() else ""))
            sees = PY_SPY_SEES
        if self.device == "gpu":
            sees = "; ".join(filter(None, [sees, GPU_SEES]))
        return Profile(
            tool=tool_version(self.tool),
            hz=self.hz,
            window_s=t1 - t0,
            steps=self.steps_per_epoch * self.epochs,
            cpu_s=self.cpu[1] - self.cpu[0],
            samples=Categories(own).count(samples),
            sees=sees,
            folded=folded(samples),
        )
