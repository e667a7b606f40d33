"""``FrameworkBackend``: what backends share, as class attributes instead of copied methods.

A backend on an ML framework says which module it needs, how to install it, its devices,
dtypes and options; this base class turns that into ``capabilities()`` and
``check_options()``, and its constructor keeps the run's settings, checks the options once and
calls the backend's ``setup(options)``; and it answers the hooks the harness asks
every backend instead of keeping lists of frameworks itself (``docs/plugins.md``, "Hooks"):

- ``packages()``: distribution -> import name of what the backend runs on; environment.json
  records their versions, a version stack verifies it can import them, a reproducer pins them.
- ``standalone_template()``: the template of the standalone script of the backend's point
  (a path, "" for none): ``mlpbench repro``, and the worker of a stack whose Python mlpbench
  cannot run in where ``script_in_old_stacks()`` says so.
- ``always_script()``: a sweep runs the backend's points as its standalone script in every
  stack, the current one too (``numpy-script``: what a user gets by writing the script).
- ``thread_env(threads)``: the framework's own thread-pool variables, set in its worker
  before the framework loads (the BLAS's are the harness's: every backend has NumPy).
- ``quiet_env()``: variables that quiet the framework's start-up logs (the user's own
  setting wins).
- ``profile_categories()``: ``{regex on a shared object's path: category}`` for the
  framework's own libraries in a profile (``mlpbench.worker.categories``), e.g. its runtime.
- ``engines()``: the engines it can run on here (a ``keras_backend`` axis), name -> "ok" or
  why not; ``{}`` for none.
- ``gemm_peak(dtype, device, n, repeats)``: the GFLOP/s of the device's GEMM in ``dtype``
  where NumPy on the CPU cannot say (the GPU, bfloat16); ``None``: not this backend's.
- ``thread_plans()``, ``plans_that_differ(...)``, ``default_plan(...)``: the thread plans
  ``mlpbench tune`` measures (``{}``: none, so nothing is tuned).
A plugin may subclass it or define the same classmethods itself; each hook is optional.
"""

from __future__ import annotations

import functools
import importlib.util
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mlpbench.api.protocol import (
    Capabilities,
    ModelSpec,
    TrainSpec,
    backend_options,
    nvidia_gpu_present,
)


class FrameworkBackend:
    """Shared classmethods of a backend; subclasses set the attributes."""

    NAME: ClassVar[str] = ""  # the registered name, for option errors
    MODULE: ClassVar[str] = ""  # the framework's import name ("": nothing beyond NumPy)
    INSTALL: ClassVar[str] = ""  # how a user installs it, said when it is missing
    INSTALL_GPU: ClassVar[str] = ""  # how for the GPU, where that differs ("" : INSTALL)
    DEVICES: ClassVar[tuple[str, ...]] = ("cpu", "gpu")
    DTYPES: ClassVar[tuple[str, ...]] = ("float32", "float64", "bfloat16")
    PHASES: ClassVar[bool] = False
    OPTIONS: ClassVar[dict[str, Any]] = {}
    PACKAGES: ClassVar[dict[str, str]] = {}  # distribution -> import name
    TEMPLATE: ClassVar[str] = ""  # the standalone script's template, a path
    SCRIPT_IN_OLD_STACKS: ClassVar[bool] = False
    ALWAYS_SCRIPT: ClassVar[bool] = False  # a sweep runs its points as its standalone script
    QUIET_ENV: ClassVar[dict[str, str]] = {}  # variables that quiet its start-up logs
    PROFILE_CATEGORIES: ClassVar[dict[str, str]] = {}  # its libraries' category in a profile

    def __init__(
        self,
        spec: ModelSpec,
        train: TrainSpec,
        device: str = "cpu",
        dtype: str = "float32",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """The Trainer's constructor: the run's settings kept, the options checked once, then
        the backend's ``setup``."""
        self.spec, self.train, self.device, self.dtype = spec, train, device, dtype
        self.setup(self.check_options(options))

    def setup(self, options: dict[str, Any]) -> None:
        """Build the model (``self.spec``, ``self.train``, ``self.device``, ``self.dtype`` are
        set; ``options`` are checked)."""
        raise NotImplementedError

    @classmethod
    def capabilities(cls) -> Capabilities:
        """Devices and dtypes; a device is unavailable when the framework is not installed,
        or, for the GPU, when there is no NVIDIA GPU. Imports no framework."""
        unavailable: dict[str, str] = {}
        if cls.MODULE and importlib.util.find_spec(cls.MODULE) is None:
            unavailable = {
                device: f"{cls.MODULE} is not installed "
                f"({cls.INSTALL_GPU if device == 'gpu' and cls.INSTALL_GPU else cls.INSTALL})"
                for device in cls.DEVICES
            }
        elif "gpu" in cls.DEVICES and not nvidia_gpu_present():
            unavailable["gpu"] = "no NVIDIA GPU found on this machine"
        return Capabilities(
            devices=cls.DEVICES, dtypes=cls.DTYPES, phases=cls.PHASES, unavailable=unavailable
        )

    @classmethod
    def check_options(cls, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The options, checked by name and kind (the sweep calls this before it starts)."""
        return backend_options(cls.NAME, options, cls.OPTIONS)

    @classmethod
    def packages(cls) -> dict[str, str]:
        return dict(cls.PACKAGES)

    @classmethod
    def standalone_template(cls) -> str:
        return cls.TEMPLATE

    @classmethod
    def script_in_old_stacks(cls) -> bool:
        return cls.SCRIPT_IN_OLD_STACKS

    @classmethod
    def always_script(cls) -> bool:
        return cls.ALWAYS_SCRIPT

    @classmethod
    def thread_env(cls, threads: int) -> dict[str, str]:
        return {}

    @classmethod
    def quiet_env(cls) -> dict[str, str]:
        return dict(cls.QUIET_ENV)

    @classmethod
    def profile_categories(cls) -> dict[str, str]:
        return dict(cls.PROFILE_CATEGORIES)

    @classmethod
    def engines(cls) -> dict[str, str]:
        return {}

    @classmethod
    def gemm_peak(cls, dtype: str, device: str, n: int, repeats: int) -> float | None:
        return None

    @classmethod
    def thread_plans(cls) -> dict[str, dict[str, Any]]:
        return {}

    @classmethod
    def plans_that_differ(
        cls, threads: int, batch_size: int, widths: Sequence[int]
    ) -> list[str]:
        """Every plan, unless the backend knows which ones run a point of this shape alike."""
        return list(cls.thread_plans())

    @classmethod
    def default_plan(cls, threads: int, batch_size: int) -> str:
        """The plan ``auto`` runs where the machine has no tuned table ("" : the first)."""
        return next(iter(cls.thread_plans()), "")


def hook(cls: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """What a backend class's hook ``name`` answers (the one place a hook is looked up by
    name): its own method, else ``FrameworkBackend``'s default, read against the class with
    ``FrameworkBackend`` behind it, so a default that asks another hook (the plan defaults ask
    ``thread_plans``) gets the plugin's own."""
    return getattr(with_defaults(cls), name)(*args, **kwargs)


@functools.cache
def with_defaults(cls: type) -> type:
    """``cls``, or for a plugin that does not subclass ``FrameworkBackend``, a class with its
    attributes first and ``FrameworkBackend``'s defaults behind them (never instantiated)."""
    if isinstance(cls, type) and issubclass(cls, FrameworkBackend):
        return cls
    try:
        return type(getattr(cls, "__name__", "Plugin"), (cls, FrameworkBackend), {})
    except TypeError:  # a base that cannot be mixed in: the defaults alone
        return FrameworkBackend


def best_matmul_s(xp: Any, dtype: str, n: int, repeats: int, sync: Any = None) -> float:
    """The best of ``repeats`` ``n`` x ``n`` matmuls in ``xp`` (NumPy, or CuPy with its
    ``sync``), after one warm-up (threads spun up, pages touched): noise only ever slows one."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((n, n)), dtype=dtype)
    b = xp.asarray(rng.standard_normal((n, n)), dtype=dtype)
    c = xp.empty((n, n), dtype=dtype)
    xp.matmul(a, b, out=c)
    times = []
    for _ in range(repeats):
        if sync:
            sync()
        t0 = time.perf_counter()
        xp.matmul(a, b, out=c)
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return min(times)
