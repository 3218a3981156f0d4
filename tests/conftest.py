"""Shared fixtures: the real Guizhou data, loaded once per session."""

from __future__ import annotations

import pytest

from evsiting.core.settings import shared_dir


@pytest.fixture(scope="session")
def shared():
    """Path of ../shared/data; the tests need it (CI has it beside the clone)."""
    path = shared_dir()
    if not path.exists():
        pytest.fail(f"real data folder not found: {path} (set EVSITING_SHARED_DIR)")
    return path
