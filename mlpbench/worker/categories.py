"""What a CPU sample was doing: its leaf frame (symbol and shared object) named by one category
of :data:`mlpbench.results.profile.CATEGORIES`, the same for every framework.

The table is ordered rules; the first that matches names the sample. The OS kernel, the
interpreter and a GPU's driver are named by their library; otherwise a symbol says more than
its library (a framework's GEMM is Eigen code inside the framework's own library), so the
symbol rules come next; then the backend's own shared objects (its ``profile_categories`` hook:
``{regex on the shared object's path: category}``, e.g. its framework's runtime), then the
libraries every Python process has. ``parse_perf_script`` reads ``perf script`` output;
``folded`` writes the stacks in the format flame-graph tools read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from mlpbench.results.profile import CATEGORIES, FOLDED_LIMIT

BLAS_LIBRARY = r"openblas|libblas|libmkl|mkl_|libblis|accelerate|libflexiblas"
DEVICE_LIBRARY = r"libcuda|libcudart|libnvidia|libcupti|libamdhip|libhip|libze_"
DEVICE = re.compile(DEVICE_LIBRARY)
SYMBOL_RULES: tuple[tuple[str, str], ...] = (
    # A thread of a pool with nothing to do: OpenBLAS's servers, OpenMP barriers, Eigen's and
    # other pools' waits, and the spinning that precedes a sleep.
    ("threads waiting or spinning",
     r"blas_thread_server|exec_blas|inner_thread|gomp_\w*(barrier|wait|spin)|"
     r"WaitForWork|Spin\w*Wait|spin_wait|futex|sched_yield|nsync_|__lll_lock|pthread_cond|"
     r"Steal|GetTask|RunQueue|EventCount"),
    ("GEMM kernels",
     r"gemm|gebp|gemv|_dot_|::dot_|ddot|sdot|matmul|MatMul|Gemm|Contract|brgemm|"
     r"jit_avx\w*_conv|"
     r"xnn_\w*(gemm|igemm)|mkldnn|dnnl"),
    ("data movement",
     r"memcpy|memmove|memset|__memcpy|copy|Copy|Copies|take|Take|gather|Gather|transpose|"
     r"Transpose|"
     r"strided_to|_cast|Cast|concat|Concat|scatter|Scatter|Slice"),
    ("element-wise math",
     r"ufunc|_loops|npy_|_aligned_|_contig|sleef|exp|log|tanh|sigmoid|logistic|Sigmoid|"
     r"Eigen::internal::p|scalar_\w*_op|TensorExecutor|EigenMetaKernel|Reduce|reduce|"
     r"_add_|_multiply|_subtract|_divide|_sqrt|_square|fusion"),
)  # fmt: skip
FIRST_RULES: tuple[tuple[str, str], ...] = (  # whatever the symbol says
    ("OS kernel", r"\[kernel\.kallsyms\]|\[vdso\]|\[kernel\]"),
    ("Python interpreter", r"libpython|/python[0-9.]*$|/bin/python"),
    ("waiting for a device", DEVICE_LIBRARY),
)
LIBRARY_RULES: tuple[tuple[str, str], ...] = (
    ("GEMM kernels", BLAS_LIBRARY),
    ("element-wise math", r"_multiarray_umath|_umath|libm\.so|libmvec|libsleef"),
    ("compiled code without symbols", r"^\[unknown\]$|^\[JIT\]|perf-\d+\.map|//anon|memfd:"),
)
FIRST = [(c, re.compile(p)) for c, p in FIRST_RULES]
COMPILED = [(c, re.compile(p)) for c, p in SYMBOL_RULES]


@dataclass(frozen=True)
class Frame:
    symbol: str
    library: str  # the shared object's path as perf names it ("[kernel.kallsyms]")


@dataclass(frozen=True)
class Sample:
    """One CPU sample: thread, time (seconds on perf's clock) and stack, leaf first."""

    comm: str
    tid: int
    time: float
    frames: tuple[Frame, ...]


class Categories:
    """The rules, with a backend's own libraries (``{regex on the path: category}``) between
    the symbol rules and the common libraries'."""

    def __init__(self, own: Mapping[str, str] | None = None) -> None:
        extra = []
        for pattern, category in (own or {}).items():
            if category not in CATEGORIES:
                raise ValueError(f"profile_categories(): {category!r} is not one of {CATEGORIES}")
            extra.append((category, re.compile(str(pattern))))
        self.libraries = extra + [(c, re.compile(p)) for c, p in LIBRARY_RULES]

    def of(self, frame: Frame | None) -> str:
        if frame is None:
            return "other"
        for category, pattern in FIRST:
            if pattern.search(frame.library):
                return category
        for category, pattern in COMPILED:
            if pattern.search(frame.symbol):
                return category
        for category, pattern in self.libraries:
            if pattern.search(frame.library):
                return category
        return "other"

    def of_sample(self, sample: Sample) -> str:
        """The leaf frame's category; a sample anywhere inside a GPU driver's call (its
        ioctl, its spin on a fence) is the host waiting for the device."""
        if any(DEVICE.search(f.library) for f in sample.frames):
            return "waiting for a device"
        return self.of(sample.frames[0] if sample.frames else None)

    def count(self, samples: Iterable[Sample]) -> dict[str, int]:
        """Samples per category, in :data:`CATEGORIES` order, those with none left out."""
        got = Counter(self.of_sample(s) for s in samples)
        return {c: got[c] for c in CATEGORIES if got[c]}


HEADER = re.compile(r"^(?P<comm>.+?)\s+(?:\d+/)?(?P<tid>\d+)\s+(?:\[\d+\]\s+)?(?P<time>\d+\.\d+):")
FRAME = re.compile(r"^\s*(?P<ip>[0-9a-f]+)\s+(?P<symbol>.*?)\s+\((?P<library>[^()]*)\)\s*$")


def parse_perf_script(text: str | Iterable[str]) -> Iterator[Sample]:
    """The samples of ``perf script -F comm,tid,time,ip,sym,dso`` output (``-g``: a stack per
    sample, leaf first; a sample without one is its header's line alone). A symbol's
    ``+0x1f`` offset is dropped."""
    lines = text.splitlines() if isinstance(text, str) else text
    head, frames = None, []

    def sample() -> Sample | None:
        if head is None:
            return None
        return Sample(head["comm"].strip(), int(head["tid"]), float(head["time"]), tuple(frames))

    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        match = FRAME.match(line) if line[:1].isspace() else None
        if match:
            symbol = re.sub(r"\+0x[0-9a-f]+$", "", match["symbol"])
            frames.append(Frame(symbol or "[unknown]", match["library"]))
            continue
        header = HEADER.match(line)
        if header:
            done = sample()
            if done is not None:
                yield done
            head, frames = header, []
    done = sample()
    if done is not None:
        yield done


def folded(samples: Iterable[Sample], limit: int = FOLDED_LIMIT) -> str:
    """``root;...;leaf count`` per distinct stack (the format flame-graph tools read),
    heaviest first, cut at ``limit`` characters."""
    stacks = Counter(
        ";".join(f"{f.symbol} ({f.library.rsplit('/', 1)[-1]})" for f in reversed(s.frames))
        or "[no stack]"
        for s in samples
    )
    out, size = [], 0
    for stack, n in stacks.most_common():
        line = f"{stack.replace(chr(10), ' ')} {n}\n"
        if size + len(line) > limit:
            break
        out.append(line)
        size += len(line)
    return "".join(out)


def parse_folded(text: str) -> Iterator[Sample]:
    """Samples from folded stacks (py-spy's ``raw`` output: ``root;...;leaf count``), each
    stack as many samples as its count, at time 0 (py-spy runs only over the window)."""
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = []
        for part in reversed(stack.split(";")):
            m = re.match(r"^(?P<symbol>.*?)\s*\((?P<library>[^()]*)\)$", part)
            frames.append(Frame(m["symbol"], m["library"]) if m else Frame(part, ""))
        s = Sample("", 0, 0.0, tuple(frames))
        for _ in range(int(n)):
            yield s
