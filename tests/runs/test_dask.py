"""The dask executor (a LocalCluster with 2 workers) writes byte-identical files to the local
executor on the same scenarios (2 scenarios x 1 prefecture, small runs)."""

from __future__ import annotations

import pytest

pytest.importorskip("dask.distributed")

from evsiting.runs.batch import run_batch  # noqa: E402
from evsiting.config.schema import load_config  # noqa: E402
from evsiting.core.settings import configs_dir  # noqa: E402


def scenario(tmp_path, name, level):
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"extends: {configs_dir() / 'guizhou.yaml'}\n"
        f"name: {name}\n"
        "prefectures: [Anshun]\n"
        f"demand:\n  h3_resolution: 6\n  scenario: {level}\n"
        "candidates:\n  per_county: 5\n"
        "impedance:\n  method: great_circle\n"
        "model:\n  nevs_per_station: 20000\n",
        encoding="utf-8",
    )
    return load_config(path)


def test_dask_and_local_executors_write_identical_summaries(tmp_path, shared):
    cfgs = [scenario(tmp_path, "base", "base"), scenario(tmp_path, "high", "high")]
    local = run_batch(cfgs, out_base=tmp_path / "local", executor="local", workers=1)  # in this process
    dask = run_batch(cfgs, out_base=tmp_path / "dask", executor="dask", workers=2)
    assert not local.failed and not dask.failed
    compared = 0
    for folder in sorted((tmp_path / "local").iterdir()):
        for name in ("summary.json", "province_summary.json", "province_summary.csv", "sites.geojson"):
            a = folder / name
            if a.exists():
                assert a.read_bytes() == (tmp_path / "dask" / folder.name / name).read_bytes(), f"{folder.name}/{name}"
                compared += 1
    # 4 prefecture runs (summary + sites) and 2 roll-ups (json, csv, sites)
    assert compared == 2 * 2 + 2 * 3  # 2 prefecture runs (summary, sites), 2 roll-ups (json, csv, sites)
    a, b = local.scenarios_csv, dask.scenarios_csv
    assert a.read_bytes() == b.read_bytes() and a.read_text().count("\n") == 3
    assert local.rollups["high"][1]["total"]["nev_count"] > local.rollups["base"][1]["total"]["nev_count"]
