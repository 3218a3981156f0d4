"""Small configs for run tests (written to a temporary folder), shared by several test modules."""

from __future__ import annotations

from pathlib import Path

from evsiting.core.settings import configs_dir


def small_province_config(folder: Path, name: str = "small", *, nevs_per_station: int = 20000, extra: str = "") -> Path:
    """A small config over all 9 prefectures (extends configs/guizhou.yaml): coarse H3 cells
    (resolution 6), 5 candidate cells per county, great-circle travel times, one station per
    ``nevs_per_station`` NEVs, output to ``<folder>/out``; each prefecture runs in seconds."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"extends: {configs_dir() / 'guizhou.yaml'}\n"
        f"name: {name}\n"
        "demand:\n  h3_resolution: 6\n"
        "candidates:\n  per_county: 5\n"
        "impedance:\n  method: great_circle\n"
        f"model:\n  nevs_per_station: {nevs_per_station}\n"
        f"output_dir: {folder / 'out'}\n" + extra,
        encoding="utf-8",
    )
    return path
