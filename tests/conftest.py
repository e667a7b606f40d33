"""Shared fixtures: small data, small specs. The full workload belongs to `make bench`."""

from __future__ import annotations

import numpy as np
import pytest

from bench import data as datasets
from bench.protocol import ModelSpec, TrainSpec


@pytest.fixture(scope="session")
def synthetic() -> datasets.DataSpec:
    return datasets.DataSpec(
        dataset="synthetic",
        synthetic_samples=600,
        synthetic_features=20,
        synthetic_classes=4,
        seed=3,
    )


@pytest.fixture(scope="session")
def small_spec() -> ModelSpec:
    return ModelSpec(layers=(20, 12, 8, 4), l2=0.001)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def train_spec(**kw) -> TrainSpec:
    base = dict(epochs=2, batch_size=50, seed=1)
    base.update(kw)
    return TrainSpec(**base)
