"""Fixtures for the evaluation tests: small constructed datasets (seconds to train on)."""
from __future__ import annotations

import pytest

from evalhelpers import pattern_images
from vlcp.data import TensorDataset


@pytest.fixture(scope="session")
def tiny_train() -> TensorDataset:
    return pattern_images(30, seed=1)


@pytest.fixture(scope="session")
def tiny_test() -> TensorDataset:
    ds = pattern_images(20, seed=2)
    ds.split = "test"
    return ds
