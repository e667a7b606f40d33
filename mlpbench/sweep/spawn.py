"""Running one thing in a fresh process, as a point runs: a sweep point (``run_worker``) or a
GEMM calibration (``calibrate``), with the point's thread variables, pinned cores and timeout.

Used by the local sweep (``mlpbench.sweep.loop``) and on each host of a cluster
(``mlpbench.sweep.cluster``).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mlpbench.config.expand import Point
from mlpbench.config.points import CURRENT_ENV
from mlpbench.machine.threads import cpu_list, pin_plan, thread_env, usable_cpus
from mlpbench.results.environment import Peak
from mlpbench.results.point import PointResult


@dataclass
class Progress:
    """A bar on a terminal, one plain line per point in a pipe, nothing when quiet."""

    total: int
    done: int = 0
    mode: str = "bar"  # bar | lines | none
    bar: Any = None
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total,
                initial=self.done,
                unit="point",
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def add(self, n: int) -> None:
        """``n`` more points than planned (extra repeats)."""
        self.total += n
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def running(self, point: Point, epoch: str = "") -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{point.label()} {epoch}".strip(), refresh=True)

    def finished(self, point: Point, status: str, detail: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if status != "ok":
                self.bar.write(f"{point.label()}: {status}: {detail}")
        elif self.mode == "lines":
            print(f"[{self.done}/{self.total}] {point.label()}: {status} {detail}", flush=True)

    def say(self, message: str) -> None:
        if self.mode != "none":
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def left(elapsed: float, done: int, planned: int) -> str:
    """About how long the rest of ``planned`` steps takes at the pace of the ``done`` so far
    (calibration's peaks, tuning's trials)."""
    rest = max(planned - done, 0)
    if rest == 0 or done <= 0:
        return f"{elapsed:.0f} s so far"
    return f"{elapsed:.0f} s so far, about {elapsed / done * rest:.0f} s left"


def env_for(threads: int, extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """A worker's environment: this process's, its thread settings, and ``extra`` (a thread
    plan's variables; None removes one)."""
    env = dict(os.environ)
    env.update(thread_env(threads))
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONSAFEPATH"] = "1"  # the working directory never shadows an installed plugin
    env[TREE_ENV] = uuid.uuid4().hex
    return env


TREE_ENV = "MLPBENCH_TREE"
"""Set to a fresh token in each child's environment: every process the child starts inherits
it, even one that leaves the child's process group (a daemon), so :func:`end_tree` finds and
ends them all when the child's point is over."""


def end_tree(proc: subprocess.Popen, token: str | None) -> None:
    """End a child and everything it started: its process group, and any process that carries
    its token (a grandchild that made a session of its own). Waits for the child itself."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if token:
        import psutil

        me = os.getpid()
        for other in psutil.process_iter(["pid"]):
            if other.pid in (me, proc.pid):
                continue
            try:
                if other.environ().get(TREE_ENV) == token:
                    other.kill()
            except (psutil.Error, OSError):
                pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    with _LIVE_LOCK:
        LIVE.discard(proc.pid)


def drain(readers: list[threading.Thread], pipes: list[Any], within: float = 2.0) -> None:
    """Wait up to ``within`` seconds for the reader threads; close only the pipes whose reader
    finished (closing one a blocked reader holds would block too). A reader still blocked
    (a process outside the tree holds the pipe) is a daemon thread: it never delays the sweep."""
    deadline = time.perf_counter() + within
    for r in readers:
        r.join(timeout=max(0.0, deadline - time.perf_counter()))
    if all(not r.is_alive() for r in readers):
        for pipe in pipes:
            if pipe is not None and not pipe.closed:
                try:
                    pipe.close()
                except OSError:
                    pass


def describe_backends(timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every installed backend described in a fresh process of its own, all at once, each
    within ``timeout`` (one that hangs or fails comes back with its ``error``)."""
    from concurrent.futures import ThreadPoolExecutor

    from mlpbench.api import registry

    names = registry.available()
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        asked = [pool.submit(ask, {"describe": name}, timeout) for name in names]
        try:
            answers = [f.result() for f in asked]
        except BaseException:  # Ctrl-C: every check ends now, not at its timeout
            end_all()
            raise
    return [
        answer if answer is not None else {"name": name, "version": "", "error": why}
        for name, (answer, why) in zip(names, answers)
    ]


def unknown_backend(name: str, timeout: float = 30.0) -> str:
    """The line for a backend name that is not installed: a near miss among the usable ones
    (installed, not broken, and able to run on some device here), and those listed."""
    from mlpbench.errors import did_you_mean

    usable = [
        e["name"]
        for e in describe_backends(timeout)
        if not e.get("error") and set(e["devices"]) - set(e.get("unavailable", {}))
    ]
    return (
        f"backend = {name!r} is not installed{did_you_mean(name, usable)}; usable here: "
        f"{', '.join(usable) or 'none'} (mlpbench backends lists every installed one)"
    )


PR_SET_CHILD_SUBREAPER = 36
PARENT_ENV = "MLPBENCH_PARENT"
"""Set by :func:`spawn` to this process's PID: ``python -m mlpbench.worker`` arms its
parent-death signal on it before it imports anything else (a fork-free start: no
``preexec_fn``, which would run every library's at-fork hooks in a threaded parent)."""
_PRCTL: Any = None
if sys.platform.startswith("linux"):
    try:
        import ctypes

        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        _PRCTL = None


def become_subreaper() -> bool:
    """Make this process the one every orphaned descendant is re-parented to (Linux), so a
    daemon a backend starts outside its point's process group and without its token is still
    this process's child, and ended with its point (:func:`end_orphans`)."""
    return _PRCTL is not None and _PRCTL(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


LIVE: set[int] = set()
"""PIDs of the children started by :func:`spawn` and not yet ended: what an interrupt ends,
and what :func:`end_orphans` leaves alone."""
_LIVE_LOCK = threading.Lock()


def spawn(args: list[str], environ: dict[str, str], **popen: Any) -> subprocess.Popen:
    """The one way mlpbench starts a child (a worker, a check, a calibration, a script): a
    session and process group of its own, this process's PID for its parent-death signal
    (:data:`PARENT_ENV`; a standalone script arms it in its prologue), the tree token of
    ``environ`` (:func:`env_for`), and registered in :data:`LIVE` until :func:`end_tree` ends
    it."""
    proc = subprocess.Popen(
        args, env={**environ, PARENT_ENV: str(os.getpid())}, start_new_session=True, **popen
    )
    with _LIVE_LOCK:
        LIVE.add(proc.pid)
    return proc


def end_all() -> None:
    """Kill every child :func:`spawn` started that still runs, and its group (an interrupt
    ends them all at once, rather than waiting for each one's timeout)."""
    with _LIVE_LOCK:
        pids = list(LIVE)
    for pid in pids:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def born(proc: subprocess.Popen) -> float:
    """When a child began, on the clock :func:`end_orphans` compares (psutil's create_time,
    which can sit a second off time.time() on a VM)."""
    import psutil

    try:
        return psutil.Process(proc.pid).create_time()
    except psutil.Error:
        return time.time()


def end_orphans(since: float) -> None:
    """Kill and reap this process's children that no :func:`spawn` started and that began at
    or after ``since`` (:func:`born` of the point's child): the orphans a point's tree left,
    re-parented here by :func:`become_subreaper`."""
    import psutil

    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    with _LIVE_LOCK:
        known = set(LIVE)
    for child in children:
        try:
            if child.pid in known or child.create_time() < since:
                continue
            child.kill()
        except psutil.Error:
            continue
        try:
            os.waitpid(child.pid, 0)
        except ChildProcessError:
            pass


def start_child(
    command: Any, environ: dict[str, str]
) -> tuple[subprocess.Popen, int]:
    """A child of mlpbench's worker (:func:`spawn`), stdin and output piped (any bytes a
    backend prints read as text), and the read end of a pipe of its own for its answer:
    ``command(fd)`` is its argument list given that pipe's write end."""
    read_fd, write_fd = os.pipe()
    try:
        proc = spawn(
            command(write_fd),
            environ,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            pass_fds=(write_fd,),
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return proc, read_fd


LINE_LIMIT = 4096
"""Characters kept of one line of a child's output; the rest of a longer line is dropped."""
MESSAGE_LIMIT = 8 * 2**20
"""Characters of one message on a worker's result pipe (a result with every epoch fits)."""


def bounded_lines(stream: Any, limit: int = LINE_LIMIT) -> Iterator[str]:
    """A child's output line by line, each cut to ``limit`` characters (marked), read in
    pieces of at most ``limit``: a flood without a newline never grows this process."""
    dropping = False
    while True:
        piece = stream.readline(limit)
        if not piece:
            return
        whole = piece.endswith("\n")
        if not dropping:
            yield piece if whole else piece + " ...[line cut]\n"
        dropping = not whole


def ask(
    request: dict[str, Any],
    timeout: float,
    python: str = sys.executable,
    env: dict[str, str | None] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """``python -m mlpbench.worker check FD`` in a fresh process of its own session: the
    request on stdin, the answer on pipe FD (never on stdout, where a plugin may print at
    import or at exit). Returns (answer, "") or (None, why: a timeout, how it died, or an
    answer that did not parse, with its last line of output). Its whole tree ends with it."""
    environ = env_for(1, env)
    proc, read_fd = start_child(lambda fd: [python, "-m", "mlpbench.worker", "check", str(fd)],
                                environ)  # fmt: skip
    answer: list[str] = []
    tail: deque[str] = deque(maxlen=20)

    def read_answer() -> None:
        with os.fdopen(read_fd, encoding="utf-8", errors="replace") as f:
            answer.append(f.read(MESSAGE_LIMIT))
            while f.read(2**16):  # the rest of an answer too long to be one is dropped
                pass

    def read_output() -> None:
        assert proc.stdout is not None
        for line in bounded_lines(proc.stdout):
            if line.strip():
                tail.append(line.rstrip()[-300:])

    readers = [threading.Thread(target=f, daemon=True) for f in (read_answer, read_output)]
    for r in readers:
        r.start()
    try:
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(request))
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            code = proc.wait(timeout=timeout)
            why = ""
        except subprocess.TimeoutExpired:
            code, why = None, f"did not answer within {timeout:g} s"
    finally:
        end_tree(proc, environ[TREE_ENV])
        drain(readers, [proc.stdout])
    if why:
        return None, why
    text = "".join(answer).strip()
    try:
        got = json.loads(text)
        if not isinstance(got, dict):
            raise ValueError("not an object")
        return got, ""
    except ValueError:
        last = tail[-1] if tail else "no output"
        how = ended(code if code is not None else 1, "it").removeprefix("it ")
        return None, f"{how}: {last}"  # the caller says whose: "its check exited with code 3"


def calibration_error(stderr: str) -> str:
    """One line for a GEMM calibration that failed: the package it needs where one is
    missing, else its last line of output."""
    import re

    missing = re.search(r"No module named '([\w.]+)'", stderr)
    if missing:
        name = missing.group(1).split(".")[0]
        return f"not measured: it needs {name}, which is not installed here (pip install {name})"
    return (stderr.strip().splitlines() or ["failed"])[-1][-300:]


def calibrate(
    keys: list[tuple[str, int, str]],
    python: str = sys.executable,
    timeout: float = 300,
    pin: bool = True,
    universe: list[int] | None = None,
    say: Any = None,
) -> list[Peak]:
    """GEMM peak per (dtype, threads, device), each in a fresh process pinned like a point
    (out of ``universe``, the cores usable when the sweep started); ``say(line)`` hears each
    one as it is measured."""
    peaks: list[Peak] = []
    universe = universe or usable_cpus()
    started = time.perf_counter()
    try:
        for n, (dtype, threads, device) in enumerate(keys, start=1):
            cpus, own = pin_plan(threads, universe, pin)
            if pin:
                os.sched_setaffinity(0, own)
            cmd = [
                python,
                "-m",
                "mlpbench.worker",
                "gemm",
                "--dtype",
                dtype,
                "--threads",
                str(threads),
                "--device",
                device,
                "--cpus",
                cpu_list(cpus) if pin else "",
            ]
            entry = {"dtype": dtype, "threads": threads, "device": device, "gflops": math.nan}
            environ = env_for(threads)
            proc = spawn(cmd, environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
                if proc.returncode == 0:
                    entry.update(json.loads(stdout.strip().splitlines()[-1]))
                else:
                    entry["error"] = calibration_error(stderr)
            except subprocess.TimeoutExpired:
                entry["error"] = f"timeout after {timeout} s"
            finally:
                end_tree(proc, environ[TREE_ENV])
            peak = Peak.from_json(entry)
            peaks.append(peak)
            if say:
                got = peak.error or f"{peak.gflops:.1f} GFLOP/s"
                say(
                    f"  GEMM peak {n}/{len(keys)}: {dtype}, {threads} thread(s), {device}: {got}; "
                    + left(time.perf_counter() - started, n, len(keys))
                )
    finally:  # this process back on every core it had
        if pin:
            os.sched_setaffinity(0, universe)
    return peaks


def peak_for(
    peaks: Sequence[Peak], dtype: str, threads: int, device: str, env: str = CURRENT_ENV
) -> float:
    """The calibrated peak of a (dtype, threads, device) in the stack ``env``."""
    for p in peaks:
        if (p.dtype, p.threads, p.device, p.env) == (dtype, threads, device, env):
            return p.gflops
    return math.nan


def run_worker(
    point: Point,
    timeout: float,
    progress: Progress,
    python: str = sys.executable,
    cpus: list[int] | None = None,
    env: dict[str, str | None] | None = None,
) -> PointResult:
    """Run one point in a fresh process; always returns its result (checked on arrival).

    The spec goes in on stdin and the result comes back on a pipe of its own: no temporary
    files. The worker has its own session (a timeout kills its whole group) and dies with
    this process.
    """
    environ = env_for(point.key.threads, env)
    token = environ[TREE_ENV]
    command = [python, "-m", "mlpbench.worker", "train"]
    proc, read_fd = start_child(
        lambda fd: [*command, str(fd), str(os.getpid()), cpu_list(cpus) if cpus else ""], environ
    )
    began = born(proc)
    result: list[PointResult] = []
    tail: deque[str] = deque(maxlen=30)

    bad: list[str] = []
    allowed = point.run.epochs_allowed()

    def read_messages() -> None:
        with os.fdopen(read_fd, encoding="utf-8", errors="replace") as messages:
            for line in bounded_lines(messages, MESSAGE_LIMIT):
                msg, problem = parse_message(line)
                if msg is None:
                    bad.append(problem)
                elif "progress" in msg:
                    p = msg["progress"]
                    progress.running(point, f"epoch {p['epoch']}/{p['of']}")
                else:
                    result.append(PointResult.from_json(msg["result"], allowed))

    def read_output() -> None:
        assert proc.stdout is not None
        for line in bounded_lines(proc.stdout):
            if line.strip():
                tail.append(line.rstrip())

    readers = [threading.Thread(target=f, daemon=True) for f in (read_messages, read_output)]
    for r in readers:
        r.start()
    started, t0 = time.time(), time.perf_counter()
    try:
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(point.run.to_json()))
            proc.stdin.close()
        except BrokenPipeError:  # died at start; its exit code says why
            pass
        limit_mb = point.run.memory_limit_mb or default_memory_limit_mb()
        code, used_mb = wait_within(proc, t0 + timeout, limit_mb)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        # On any exit (an interrupt too): nothing the worker started outlives its point, and
        # no pipe a grandchild holds open keeps the sweep waiting.
        end_tree(proc, token)
        end_orphans(began)
        drain(readers, [proc.stdin, proc.stdout])
    spent = {"started_at": started, "worker_s": time.perf_counter() - t0}
    if bad:
        return PointResult.failed(f"the worker sent a malformed message: {bad[0]}", **spent)
    if code is None:
        if result:  # it had finished and then hung on the way out: the result stands
            return result[-1]
        return PointResult.failed(f"timeout after {timeout:g} s", **spent)
    if used_mb:
        return PointResult.failed(over_memory("the worker", used_mb, limit_mb), **spent)
    if result:
        return result[-1]
    last = next((line for line in reversed(tail) if line.strip()), "")
    return PointResult.failed(f"{ended(code, 'worker')}{': ' + last if last else ''}", **spent)


def parse_message(line: str) -> tuple[dict[str, Any] | None, str]:
    """One line from a worker's result pipe: (the message, "") or (None, what is wrong). A
    message is a JSON object with one ``progress`` (whole ``epoch`` and ``of``) or one
    ``result``; a line cut by :func:`bounded_lines` carries its marker, so it is not JSON."""
    try:
        msg = json.loads(line)
    except ValueError:
        return None, f"not JSON (or longer than {MESSAGE_LIMIT} characters): {line[:80]!r}"
    if not isinstance(msg, dict) or len(msg) != 1 or not {"progress", "result"} & set(msg):
        return None, f"not a progress or result message: {line.strip()[:80]!r}"
    p = msg.get("progress")
    whole = isinstance(p, dict) and all(
        isinstance(p.get(k), int) and not isinstance(p.get(k), bool) for k in ("epoch", "of")
    )
    if "progress" in msg and not whole:
        return None, f"a progress message without whole epoch and of: {line.strip()[:80]!r}"
    return msg, ""


def over_memory(who: str, used_mb: float, limit_mb: float) -> str:
    return (
        f"out of memory: {who} used {used_mb:.0f} MiB, over the limit of {limit_mb:.0f} MiB "
        "(memory_limit_mb)"
    )


def ended(code: int, who: str) -> str:
    """How a child process without a result ended: the signal that killed it, or its code."""
    if code < 0 and -code == signal.SIGKILL:
        return "killed by SIGKILL (out of memory?)"
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"{who} exited with code {code}"


def run_script(
    point: Point,
    timeout: float,
    progress: Progress,
    python: str,
    cpus: list[int] | None = None,
    env: dict[str, str | None] | None = None,
) -> PointResult:
    """Run one point as a standalone script (``mlpbench.worker.standalone``) in a Python
    mlpbench cannot run in: pinned, threaded, timed out and memory-watched like a worker,
    and dying with the sweep; the script's RESULT line becomes the worker's result."""
    from mlpbench.worker.standalone import result_of, script_for

    # First in the child: die with this process (PR_SET_PDEATHSIG), then pin, before NumPy or
    # a framework starts its threads (plain code: the stack's Python may be 3.8).
    prologue = (
        "import ctypes as _c, os as _o\n"
        "try:\n    _c.CDLL(None).prctl(1, 9, 0, 0, 0)\nexcept Exception:\n    pass\n"
        + (f"_o.sched_setaffinity(0, {sorted(cpus)!r})\n" if cpus else "")
    )
    script = prologue + script_for(point.run, f"mlpbench point {point.label()}")
    from mlpbench.machine.probe import RunProbe

    probe = RunProbe()  # a script cannot probe itself: this process does, around it (its
    # children's CPU time is its own once reaped), so a script's run carries its conditions
    started, t0 = time.time(), time.perf_counter()
    proc = spawn(
        [python, "-c", script],
        (environ := env_for(point.key.threads, env)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    began = born(proc)
    lines: deque[str] = deque(maxlen=200)
    results: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in bounded_lines(proc.stdout, MESSAGE_LIMIT):
            if line.startswith("RESULT"):
                results[:] = [line.rstrip("\n")]
                continue
            lines.append(line.rstrip("\n")[:LINE_LIMIT])
            if line.startswith("epoch "):
                progress.running(point, line.split("  ")[0].strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    limit_mb = point.run.memory_limit_mb or default_memory_limit_mb()
    try:
        code, used_mb = wait_within(proc, t0 + timeout, limit_mb)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        end_tree(proc, environ[TREE_ENV])
        end_orphans(began)
        drain([reader], [proc.stdout])
    spent = {"started_at": started, "worker_s": time.perf_counter() - t0}
    if code is None:
        return PointResult.failed(f"timeout after {timeout:g} s", **spent)
    if used_mb:
        return PointResult.failed(over_memory("the script", used_mb, limit_mb), **spent)
    if code != 0:  # a crash after its RESULT line, or without one: how it ended, and its last line
        last = next((x for x in reversed(lines) if x.strip()), "")
        reason = f"{ended(code, 'the standalone script')}{': ' + last[-300:] if last else ''}"
        return PointResult.failed(reason, **spent)
    result = result_of("\n".join([*lines, *results]), point.run)
    if result.summary is not None:
        machine = probe.finish()
        machine.pop("involuntary_switches", None)  # this process's, not the script's
        result.summary = replace(result.summary, **machine)
    result.started_at, result.worker_s = spent["started_at"], spent["worker_s"]
    return result


MEMORY_POLL_S = 0.25


def default_memory_limit_mb() -> float:
    """80% of this host's memory: a worker past it is stopped before it swaps the machine."""
    import psutil

    return 0.8 * psutil.virtual_memory().total / 2**20


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children, MiB (0 once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def wait_within(proc: subprocess.Popen, deadline: float, limit_mb: float) -> tuple[int, float]:
    """Wait for the worker until ``deadline`` (perf_counter; TimeoutExpired after it), killing
    it when its process tree's resident memory passes ``limit_mb``: (exit code, MiB used when
    killed, else 0)."""
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise subprocess.TimeoutExpired(proc.args, 0)
        try:
            return proc.wait(timeout=min(MEMORY_POLL_S, left)), 0.0
        except subprocess.TimeoutExpired:
            used = tree_rss_mb(proc.pid)
            if used > limit_mb:
                _kill(proc)
                return proc.wait(), used


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
