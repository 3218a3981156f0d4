"""Same config and data -> byte-identical GeoJSON and summary files.

The same small run (Anshun, H3 resolution 6, 5 candidate cells per county, plus a synthetic GCJ-02 candidate
file with one empty row) is run twice, in two separate processes with different hash seeds
(so set/dict ordering that depends on string hashing would show), and every output file but
the manifest and the GeoPackage is compared byte for byte; the manifest may differ only in
its timestamps and timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from evsiting.core.settings import configs_dir

# Synthetic candidate sites (invented ids and GCJ-02 coordinates inside Anshun's counties);
# the third row has no coordinates and is dropped with a warning, the fifth is in Guiyang
# (another prefecture) and is skipped with a warning.
SYNTHETIC_SITES = "site,name,lon,lat\nS1,synthetic lot 1,106.03,26.19\nS2,synthetic lot 2,105.68,26.34\nS3,synthetic lot 3,,\nS4,synthetic lot 4,105.87,25.80\nS5,synthetic lot 5,106.71,26.58\n"

VOLATILE = {"created_utc", "timings_s"}  # allowed to differ between runs


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, shared):
    base = tmp_path_factory.mktemp("det")
    (base / "synthetic_sites.csv").write_text(SYNTHETIC_SITES, encoding="utf-8")
    cfg = {
        "extends": str(configs_dir() / "prefectures" / "anshun.yaml"),
        "name": "det",
        "demand": {"h3_resolution": 6},  # coarse cells: the hash seed is tested, not the size (expressway times kept)
        "candidates": {"per_county": 5, "files": [{"path": "synthetic_sites.csv", "crs": "gcj02", "id_column": "site", "name_column": "name"}]},
        "model": {"nevs_per_station": 2000},
        "output_dir": "out",
    }
    (base / "det.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    procs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        cmd = [sys.executable, "-m", "evsiting.cli", "run", str(base / "det.yaml"), "--out", str(base / f"out{seed}")]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    for out, err, code in results:
        assert code == 0, err
    return base / "out0" / "det", base / "out12345" / "det", results


def test_geojson_and_summary_files_are_byte_identical(two_runs):
    a, b, _ = two_runs
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    compared = [n for n in names if n.endswith((".geojson", ".qml", ".json", ".png", ".html")) and n != "manifest.json"]
    assert {"sites.geojson", "demand.geojson", "summary.json", "map.png", "report.html"} <= set(compared)
    for n in compared:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


def test_manifest_differs_only_in_timestamps(two_runs):
    a, b, _ = two_runs
    ma, mb = (json.loads((d / "manifest.json").read_text(encoding="utf-8")) for d in (a, b))
    for m in (ma, mb):
        m["solver"].pop("runtime_s")
        for k in VOLATILE:
            m.pop(k)
    assert ma == mb


def test_user_file_is_used_converted_and_recorded(two_runs):
    a, _, results = two_runs
    sites = json.loads((a / "sites.geojson").read_text(encoding="utf-8"))
    assert sites["features"]
    manifest = json.loads((a / "manifest.json").read_text(encoding="utf-8"))
    user = [f for f in manifest["data_files"] if f["path"] == "synthetic_sites.csv"]
    assert user and user[0]["declared_crs"] == "gcj02" and user[0]["dropped_empty_rows"] == 1
    assert user[0]["skipped_outside_study_area"] == 1
    seats = [f for f in manifest["data_files"] if "county_seats" in f["path"]]
    assert seats[0]["declared_crs"] == "gcj02"
    # the warning names the file and how many rows were dropped, printed once, on one line (issue 23)
    said = results[0][0] + results[0][1]
    assert said.count("warning: synthetic_sites.csv: 1 row(s) with empty or NaN coordinates dropped, 4 kept\n") == 1
    assert said.count("1 site(s) in other prefectures skipped (synthetic lot 5 (S5)), 3 in the study area") == 1  # named
    # the file's warnings travel into summary.json (as written in the config: the same on every machine)
    warns = json.loads((a / "summary.json").read_text(encoding="utf-8"))["warnings"]
    assert "synthetic_sites.csv: 1 site(s) in other prefectures skipped (synthetic lot 5 (S5)), 3 in the study area" in warns
    assert "synthetic_sites.csv: 1 row(s) with empty or NaN coordinates dropped, 4 kept" in warns
