"""The bad-input corpus (tests/bad_inputs/, one folder per failure): each case ends with exit
code 2 and one ``error:`` line naming the file/field and what was expected, no traceback, and
leaves the output folder exactly as it was (a previous run's folder stays, nothing appears).

Also: rows with empty coordinates are dropped with a warning; the reader's checks one by one;
solver failures (missing solver, crash, time limit without incumbent) end the same way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pulp
import pytest
import yaml
from typer.testing import CliRunner

from evsiting.cli import app
from evsiting.core.errors import InputError
from evsiting.io.points import dropped_warning, read_points

from locations import BAD_INPUTS

CORPUS = BAD_INPUTS
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expect.yaml").exists())


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file and folder under ``folder`` (folders: 'dir')."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(folder))] = f"link -> {p.readlink()}"
        else:
            out[str(p.relative_to(folder))] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def previous_outputs(base: Path) -> dict[str, str]:
    """A previous run's folder of the corpus's run name (``bad``) with known content."""
    prev = base / "bad"
    prev.mkdir(parents=True)
    (prev / "summary.json").write_text('{"previous": true}\n')
    (prev / "sites.geojson").write_text('{"type":"FeatureCollection","features":[]}\n')
    return snapshot(base)


def invoke(*args) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception  # a traceback would reach the user: fail loudly
    return r.exit_code, r.stdout, r.stderr


def test_the_corpus_has_one_case_per_listed_failure():
    listed = {
        "malformed_yaml", "malformed_json_config", "malformed_geojson", "malformed_csv", "unknown_key",
        "unknown_prefecture", "negative_p", "zero_p", "zero_per_county", "negative_nev_total",
        "p_exceeds_candidates", "service_standard_zero", "outside_study_area", "swapped_lonlat",
        "projected_coordinates", "all_rows_empty", "all_geometries_empty", "duplicate_ids",
        "no_drivable_roads", "demand_total_zero",
        # issue 23 item 8
        "unknown_nested_key", "unknown_key_in_list", "unreachable_download_source", "run_name_climbs_out",
        "run_name_dotdot", "cache_dir_is_a_file", "tab_separated_csv", "network_without_nodes",
    }
    assert listed <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_clear_line_and_writes_nothing(case, tmp_path):
    folder = CORPUS / case
    expect = yaml.safe_load((folder / "expect.yaml").read_text(encoding="utf-8"))
    out = tmp_path / "out"
    before = previous_outputs(out)
    case_before = snapshot(folder)  # nothing appears beside the config either (a cache folder)
    args = [str(a).replace("{case}", str(folder)).replace("{tmp}", str(tmp_path)) for a in expect.get("args", [])]
    code, stdout, stderr = invoke("run", folder / expect.get("config", "config.yaml"), "--out", out, *args)
    assert code == 2, (stdout, stderr)
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr + stdout
    for word in expect["words"]:
        assert str(word) in lines[0], (word, lines[0])
    assert snapshot(out) == before  # the previous run is intact and no (partial) folder appeared
    assert not (folder / "out").exists()
    assert snapshot(folder) == case_before
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()


# --- the reader, piece by piece ---------------------------------------------------------


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_empty_rows_are_dropped_with_a_count_and_the_rows_are_remembered(tmp_path):
    p = write(tmp_path, "synthetic.csv", "id,lon,lat\na,106.03,26.19\nb,,\nc,NaN,26.3\nd,105.68,26.34\n")
    pts = read_points(p, crs="EPSG:4326", id_column="id")
    assert pts["id"].tolist() == ["a", "d"]
    assert pts.attrs["dropped_empty"] == 2 and pts.attrs["source_rows"] == [1, 4]  # data rows, the header not counted
    msg = dropped_warning(pts, p)
    assert "2 row(s)" in msg and "2 kept" in msg and "synthetic.csv" in msg
    assert dropped_warning(read_points(p, id_column=None), p) is not None


def test_gbk_csv_from_chinese_excel_is_read(tmp_path):
    p = write(tmp_path, "synthetic_gbk.csv", "编号,名称,lon,lat\n1,安顺停车场,105.93,26.25\n", encoding="gbk")
    pts = read_points(p, crs="gcj02", id_column="编号")
    assert pts["名称"].tolist() == ["安顺停车场"]


def test_declared_gcj02_and_bd09_are_converted(tmp_path):
    from evsiting.core.coords import bd09_to_wgs84, gcj02_to_wgs84

    p = write(tmp_path, "synthetic.csv", "id,lon,lat\na,106.03,26.19\n")
    g = read_points(p, crs="gcj02").geometry.iloc[0]
    b = read_points(p, crs="bd09").geometry.iloc[0]
    w = read_points(p, crs="EPSG:4326").geometry.iloc[0]
    assert (w.x, w.y) == (106.03, 26.19)
    assert np.allclose((g.x, g.y), gcj02_to_wgs84(106.03, 26.19), atol=1e-12)
    assert np.allclose((b.x, b.y), bd09_to_wgs84(106.03, 26.19), atol=1e-12)
    # the shift is the GCJ-02 offset in Guizhou: 300-600 m
    assert 0.002 < abs(g.x - w.x) + abs(g.y - w.y) < 0.01


def test_projected_file_with_its_epsg_code_is_accepted(tmp_path):
    import pyproj

    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True).transform(106.03, 26.19)
    p = write(tmp_path, "synthetic_utm.csv", f"id,x,y\na,{x:.3f},{y:.3f}\n")
    pt = read_points(p, crs="EPSG:32648", lon_column="x", lat_column="y").geometry.iloc[0]
    assert abs(pt.x - 106.03) < 1e-6 and abs(pt.y - 26.19) < 1e-6


@pytest.mark.parametrize(
    "text, crs, words",
    [
        ("id,lon,lat\na,inf,26.1\n", "EPSG:4326", ["row 1", "finite"]),
        ("id,lon,lat\n", "EPSG:4326", ["no points", "no rows"]),
        ("", "EPSG:4326", ["malformed CSV", "empty"]),
        ("id,lon,lat\na,106.0,26.1\n", "EPSG:3857", ["projected", "EPSG:3857"]),
    ],
)
def test_reader_errors(tmp_path, text, crs, words):
    p = write(tmp_path, "synthetic.csv", text)
    with pytest.raises(InputError) as exc:
        read_points(p, crs=crs, id_column="id")
    for w in words:
        assert w in str(exc.value)


def test_line_geometries_are_refused_naming_the_feature(tmp_path):
    p = write(tmp_path, "synthetic.geojson", '{"type":"FeatureCollection","features":['
              '{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[106.0,26.1]}},'
              '{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[106.0,26.1],[106.1,26.2]]}}]}')
    with pytest.raises(InputError, match="feature 2: expected Point geometries, got LineString"):
        read_points(p, crs="EPSG:4326")


def test_outside_hint_when_swapping_would_fit(tmp_path):
    """Both orders fit in degree ranges: the study-area check gives the swap hint."""
    import geopandas as gpd
    from shapely.geometry import box

    from evsiting.candidates.generate import from_points

    counties = gpd.GeoDataFrame({"adcode": [1], "prefecture_adcode": [1]}, geometry=[box(20, 40, 30, 50)], crs="EPSG:4326")
    p = write(tmp_path, "synthetic.csv", "id,lon,lat\na,25,45\nb,45,25\n")
    pts = read_points(p, crs="EPSG:4326", id_column="id")
    with pytest.raises(InputError) as exc:
        from_points(pts, counties, str(p), "id", None)
    msg = str(exc.value)
    assert "1 point(s) outside the study area" in msg and "row 2" in msg and "swapped" in msg
    far = read_points(write(tmp_path, "synthetic2.csv", "id,lon,lat\na,25,45\nb,-60,-10\n"), id_column="id")
    with pytest.raises(InputError) as exc:
        from_points(far, counties, "f", "id", None)
    assert "swapped" not in str(exc.value)


def test_points_in_other_prefectures_are_skipped_points_outside_the_region_refused(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    from evsiting.candidates.generate import from_points

    region = gpd.GeoDataFrame({"adcode": [1, 2], "prefecture_adcode": [10, 20]},
                              geometry=[box(100, 20, 101, 21), box(101, 20, 102, 21)], crs="EPSG:4326")
    study = region[region["prefecture_adcode"] == 10]
    p = write(tmp_path, "synthetic.csv", "lon,lat\n100.5,20.5\n101.5,20.5\n100.2,20.2\n")
    sites = from_points(read_points(p), study, str(p), None, None, region=region)
    assert sites["site_id"].tolist() == ["u-synthetic-1", "u-synthetic-3"]  # file stem and data row
    assert sites.attrs["skipped_outside"] == 1 and set(sites["county_adcode"]) == {1}
    p2 = write(tmp_path, "synthetic2.csv", "lon,lat\n100.5,20.5\n101.5,20.5\n105,20.5\n")
    with pytest.raises(InputError, match="1 point\\(s\\) outside the study area.*row 3"):
        from_points(read_points(p2), study, str(p2), None, None, region=region)


def test_semicolon_csv_gets_a_separator_hint(tmp_path):
    p = write(tmp_path, "synthetic.csv", "id;lon;lat\na;106,03;26,19\n")
    with pytest.raises(InputError, match="separator"):
        read_points(p)


# --- solver failures: status and the solver's message, never a traceback -----------------


BASE = CORPUS / "base.yaml"


def assert_one_error_line(code, stderr, *words):
    assert code == 2, stderr
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_missing_solver_is_reported_with_the_available_ones(tmp_path, monkeypatch):
    import evsiting.models._core as core

    monkeypatch.setattr(core, "available_solvers", lambda: ["cbc"])
    before = previous_outputs(tmp_path / "out")
    code, _, err = invoke("run", BASE, "--out", tmp_path / "out", "--solver", "highs")
    assert_one_error_line(code, err, "highs", "not available", "cbc")
    assert snapshot(tmp_path / "out") == before


def scarce(tmp_path: Path) -> Path:
    """The base run with one station per 20,000 NEVs (p = 3): too few to cover all coverable
    demand, so MCLP cannot prove optimality without the MIP solver."""
    cfg = tmp_path / "scarce.yaml"
    cfg.write_text(f"extends: {BASE}\nmodel:\n  nevs_per_station: 20000\n", encoding="utf-8")
    return cfg


def test_solver_crash_is_reported_with_its_message(tmp_path, monkeypatch):
    def crash(self, lp, *a, **k):
        raise pulp.PulpSolverError("Pulp: Error while executing cbc (synthetic crash for a test)")

    monkeypatch.setattr(pulp.PULP_CBC_CMD, "actualSolve", crash)
    before = previous_outputs(tmp_path / "out")
    code, _, err = invoke("run", scarce(tmp_path), "--out", tmp_path / "out")
    assert_one_error_line(code, err, "CBC failed", "synthetic crash")
    assert snapshot(tmp_path / "out") == before


def test_time_limit_without_solver_incumbent_keeps_the_greedy_start_reported_as_feasible(tmp_path, monkeypatch):
    """MCLP hands the solver a greedy start and keeps it when the solver stops on its time
    limit with nothing better: the run succeeds, reported as ``feasible`` with its gap, never
    as ``optimal``."""
    import json

    import evsiting.models.coverage as cov
    from evsiting.models._core import SolveOutcome

    def no_solution(prob, solver, time_limit, mip_gap, *a, **k):
        return SolveOutcome(proven=False, bound=float("nan"), seconds=float(time_limit), has_solution=False, timed_out=True)

    monkeypatch.setattr(cov, "run_solver", no_solution)
    code, stdout, err = invoke("run", scarce(tmp_path), "--out", tmp_path / "out", "--time-limit", "1")
    assert code == 0, err
    assert "solver cbc: feasible" in stdout
    m = json.loads((tmp_path / "out" / "bad" / "manifest.json").read_text())["solver"]
    assert m["status"] == "feasible" and m["gap"] > 0 and m["time_limit_s"] == 1.0


@pytest.mark.parametrize(
    "over, ok",
    [
        ({"public_charging_share": 0}, True),   # a share may be zero
        ({"site_cost": 0}, True),               # so may a cost
        ({"fleet_new_vehicle_sales_growth": -0.05}, True),  # growth may be negative
        ({"public_charging_share": -0.1}, False),
        ({"dc_charger_power_kw": 0}, False),    # the model divides by it
        ({"circuity_factor": float("nan")}, False),
    ],
)
def test_parameter_override_signs(over, ok):
    from evsiting.config.checks import check_parameter_overrides
    from evsiting.config.params import load_parameters

    params = load_parameters()
    if ok:
        check_parameter_overrides(params, over)
    else:
        with pytest.raises(InputError, match=f"parameters.{next(iter(over))}"):
            check_parameter_overrides(params, over)


def test_output_path_that_is_a_file_fails_before_the_run(tmp_path, monkeypatch):
    import evsiting.stages.s2_demand as s2_demand

    def never(*a, **k):  # the check comes before any stage
        raise AssertionError("the run started")

    monkeypatch.setattr(s2_demand, "province_demand", never)
    target = tmp_path / "out"
    target.write_text("not a folder\n")
    for out in (target, target / "sub"):
        code, _, err = invoke("run", BASE, "--out", out)
        assert_one_error_line(code, err, "--out", "is a file, not a folder")
    assert target.read_text() == "not a folder\n"


def test_skipped_sites_are_named_in_the_warning(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    from evsiting.candidates.generate import from_points, skipped_warning

    region = gpd.GeoDataFrame({"adcode": [1, 2], "prefecture_adcode": [10, 20]},
                              geometry=[box(100, 20, 101, 21), box(101, 20, 102, 21)], crs="EPSG:4326")
    study = region[region["prefecture_adcode"] == 10]
    rows = "".join(f"s{i},Site {i},101.{i + 1},20.5\n" for i in range(7))
    p = write(tmp_path, "synthetic.csv", "id,name,lon,lat\nkeep,Kept,100.5,20.5\n" + rows)
    sites = from_points(read_points(p), study, str(p), "id", "name", region=region)
    msg = skipped_warning(sites, p)
    assert "7 site(s) in other prefectures skipped (Site 0 (s0), Site 1 (s1)" in msg and "and 2 more" in msg, msg
    assert "1 in the study area" in msg
    anon = from_points(read_points(write(tmp_path, "anon.csv", "lon,lat\n101.5,20.5\n100.5,20.5\n")), study, "anon.csv", None, None, region=region)
    assert "(row 1)" in skipped_warning(anon, "anon.csv") and anon["name"].tolist() == ["anon-2"]


def test_conventional_id_and_name_columns_need_no_settings(tmp_path):
    from evsiting.candidates.generate import from_points
    from evsiting.io.points import conventional_columns
    import geopandas as gpd
    from shapely.geometry import box

    counties = gpd.GeoDataFrame({"adcode": [1], "prefecture_adcode": [10]}, geometry=[box(100, 20, 101, 21)], crs="EPSG:4326")
    p = write(tmp_path, "existing_stations.geojson", '{"type":"FeatureCollection","features":['
              '{"type":"Feature","properties":{"id":"A7","name":"Huangguoshu services"},"geometry":{"type":"Point","coordinates":[100.5,20.5]}},'
              '{"type":"Feature","properties":{"id":"B2","name":null},"geometry":{"type":"Point","coordinates":[100.6,20.5]}}]}')
    pts = read_points(p)
    id_col, name_col, warn = conventional_columns(pts, None, None, p)
    assert (id_col, name_col, warn) == ("id", "name", [])
    sites = from_points(pts, counties, str(p), id_col, name_col)
    assert sites["site_id"].tolist() == ["u-A7", "u-B2"] and sites["name"].tolist() == ["Huangguoshu services", "B2"]
    assert conventional_columns(pts, "other", "label", p)[:2] == ("other", "label")  # configured columns win
    dup = read_points(write(tmp_path, "dup.csv", "id,lon,lat\na,100.5,20.5\na,100.6,20.5\n"))
    id_col, _, warn = conventional_columns(dup, None, None, "dup.csv")
    assert id_col is None and "column 'id' is not used as site ids" in warn[0]
