"""Fixtures shared by the run tests: runs that several test modules read, made once per session."""

from __future__ import annotations

import pytest

from evsiting.config.schema import load_config
from evsiting.runs.batch import run_batch

from small_configs import small_province_config


@pytest.fixture(scope="session")
def province_batch(tmp_path_factory, shared):
    """``run --prefecture all`` of the small config (2 worker processes): the 9 prefecture
    folders and the roll-up in ``<folder>/out``. Returns ``(folder, BatchResult)``; read it, do
    not write into it (copy it first: tests/runs/test_batch_interrupt.py)."""
    folder = tmp_path_factory.mktemp("province-batch")
    res = run_batch([load_config(small_province_config(folder))], per_prefecture=True, executor="local", workers=2)
    return folder, res
