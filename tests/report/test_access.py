"""Access outputs of a run: the assigned and the nearest open station of each demand cell
(``demand.geojson``), on small synthetic cells and sites (named as such, not real data)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import Point

from evsiting.config.params import load_parameters
from evsiting.stages.s5_model import Solution
from evsiting.stages.s6_sizing import size_solution
from evsiting.stages.s7_outputs import DEMAND_COLUMNS


def _synthetic_cells_and_sites():
    """Three synthetic cells along a line near Guiyang and three candidate sites; site 0 is
    next to cell 0, site 1 next to cells 1-2 (synthetic, for tests only)."""
    lon = np.array([106.60, 106.70, 106.71])
    lat = np.full(3, 26.60)
    cells = gpd.GeoDataFrame({
        "demand_id": ["a", "b", "c"], "county_adcode": 520102, "prefecture_adcode": 520100, "county_name": "x",
        "nev_count": [100, 200, 300], "energy_kwh_day": [600.0, 1200.0, 1800.0], "energy_dc_kwh_day": [500.0, 1000.0, 1500.0],
        "lon": lon, "lat": lat}, geometry=[Point(x, y) for x, y in zip(lon, lat)], crs="EPSG:4326")
    cand = gpd.GeoDataFrame({
        "site_id": ["s0", "s1", "s2"], "required": [False, False, False], "county_adcode": 520102,
        "prefecture_adcode": 520100}, geometry=[Point(106.60, 26.60), Point(106.705, 26.60), Point(106.80, 26.60)], crs="EPSG:4326")
    # minutes: cell a -> s0 2, s1 12; cell b -> s0 12, s1 2; cell c -> s0 13, s1 2, s2 9
    m = sp.csr_matrix(np.array([[2.0, 12.0, 0.0], [12.0, 2.0, 0.0], [13.0, 2.0, 9.0]]))
    m.eliminate_zeros()
    return cells, cand, m


def test_demand_carries_assigned_and_nearest_open_station_where_they_differ():
    cells, cand, m = _synthetic_cells_and_sites()
    # the model sends cell b to s0 (as a capacitated model may, past a full s1) and c to s2
    sol = Solution(result=None, selected=np.array([0, 1, 2]), assignment=np.array([0, 0, 2]))
    out = size_solution(sol, cells, cand, m, load_parameters(), standard_min=15.0, county_names={520102: "x"},
                        prefecture_names={520100: "Guiyang"}).cells
    assert list(out["assigned_station_id"]) == ["s0", "s0", "s2"]
    assert list(out["assigned_min"]) == [2.0, 12.0, 9.0]
    # s1 serves nobody under this assignment, so it is not built: nearest open among s0, s2
    assert list(out["nearest_open_station_id"]) == ["s0", "s0", "s2"]
    sol = Solution(result=None, selected=np.array([0, 1, 2]), assignment=np.array([0, 0, 1]))
    out = size_solution(sol, cells, cand, m, load_parameters(), standard_min=15.0, county_names={520102: "x"},
                        prefecture_names={520100: "Guiyang"}).cells
    assert list(out["assigned_station_id"]) == ["s0", "s0", "s1"]
    assert list(out["nearest_open_station_id"]) == ["s0", "s1", "s1"]  # cell b: assigned s0, nearest s1
    assert out.loc[1, "assigned_min"] == 12.0 and out.loc[1, "nearest_open_min"] == 2.0
    # straight line from cell b (106.70) to s1 (106.705) at 26.6 N: 0.005 deg x 99.6 km/deg
    assert out.loc[1, "nearest_open_crow_km"] == pytest.approx(0.498, abs=0.002)
    assert {"assigned_station_id", "assigned_min", "nearest_open_station_id", "nearest_open_min",
            "nearest_open_crow_km"} <= set(DEMAND_COLUMNS)


def test_nearest_open_is_empty_beyond_the_matrix():
    cells, cand, m = _synthetic_cells_and_sites()
    sol = Solution(result=None, selected=np.array([2]), assignment=np.array([-1, -1, 2]))
    out = size_solution(sol, cells, cand, m, load_parameters(), standard_min=15.0, county_names={520102: "x"},
                        prefecture_names={520100: "Guiyang"}).cells
    assert out["nearest_open_station_id"].isna().tolist() == [True, True, False] and out.loc[2, "nearest_open_station_id"] == "s2"
    assert np.isnan(out["nearest_open_min"].to_numpy()[:2]).all() and np.isnan(out["nearest_open_crow_km"].to_numpy()[:2]).all()


def _zone_fixture(with_zone: bool):
    """Synthetic demand cells (4 squares) and a stations layer of 3 stations, for the per-zone
    figures; the zones and standards are made up for the test."""
    from shapely.geometry import box

    cells = gpd.GeoDataFrame({
        "demand_id": list("abcd"), "county_adcode": [520102, 520102, 520103, 520103], "county_name": ["x", "x", "y", "y"],
        "prefecture_adcode": 520100, "nev_count": [100, 300, 500, 100], "energy_kwh_day": [1.0, 1.0, 1.0, 1.0],
        "covered": [False, False, False, False], "nearest_open_min": [1.0, 3.0, 8.0, np.nan],
        "nearest_open_crow_km": [0.5, 1.5, 4.0, np.nan]},
        geometry=[box(106.60 + 0.02 * k, 26.60, 106.61 + 0.02 * k, 26.61) for k in range(4)], crs="EPSG:4326")
    if with_zone:
        cells["zone"] = ["core", "core", "rural", "rural"]
        cells["standard_min"] = [2.0, 2.0, 15.0, 15.0]
    stations = gpd.GeoDataFrame({
        "station_id": ["s1", "s2", "s3"], "prefecture_adcode": 520100, "adcode": [520102, 520102, 520103],
        "ports_dc": [4, 10, 6], "ports_ac": [0, 2, 0], "status": "new"},
        geometry=[Point(106.605, 26.605), Point(106.625, 26.605), Point(106.645, 26.605)], crs="EPSG:4326")
    return cells, stations


def test_access_by_zone_with_a_zone_column():
    from evsiting.report.tables import access_by_zone

    cells, stations = _zone_fixture(True)
    rows = {r["zone"]: r for r in access_by_zone(cells, stations, {520100: "Guiyang"}, 15.0)}
    assert list(rows) == ["core", "rural"]
    core, rural = rows["core"], rows["rural"]
    assert core["stations"] == 2 and rural["stations"] == 1
    assert (core["ports_per_station_median"], core["ports_per_station_min"], core["ports_per_station_max"]) == (8.0, 4, 12)
    assert core["access_min_mean"] == pytest.approx((100 * 1 + 300 * 3) / 400)
    assert core["access_min_p95"] == 3.0 and core["access_crow_km_p95"] == 1.5
    # core standard 2 min: only cell a (100 of 400 NEVs) is within
    assert core["nev_within_standard_share"] == pytest.approx(0.25)
    # rural: cell c within 15 min, cell d has no station in reach
    assert rural["nev_within_standard_share"] == pytest.approx(500 / 600)
    assert rural["nev_without_station_in_reach"] == 100 and rural["access_min_mean"] == 8.0


def test_access_by_zone_without_a_zone_column_is_one_zone_all():
    from evsiting.report.tables import access_by_zone

    cells, stations = _zone_fixture(False)
    rows = access_by_zone(cells, stations, {520100: "Guiyang"}, 15.0)
    assert [r["zone"] for r in rows] == ["all"]
    r = rows[0]
    assert r["stations"] == 3 and r["nev_count"] == 1000
    assert r["nev_within_standard_share"] == pytest.approx(0.9)
    assert r["access_min_p95"] == 8.0  # 95 % of the 900 NEVs in reach: cell c


def test_stations_of_a_site_get_their_own_positions_inside_the_cell():
    import h3

    from evsiting.report.tables import spread_points, split_ports

    cell = h3.latlng_to_cell(26.58, 106.71, 7)
    lat, lon = h3.cell_to_latlng(cell)
    pts, rule = spread_points(lon, lat, 11, 7)
    assert len(set(pts)) == 11 and "res-9" in rule
    assert all(h3.cell_to_parent(h3.latlng_to_cell(y, x, 9), 7) == cell for x, y in pts)
    assert spread_points(lon, lat, 1, 7)[0] == [(lon, lat)]
    assert spread_points(lon, lat, 60, 7)[1].startswith("H3 res-10") and len(set(spread_points(lon, lat, 60, 7)[0])) == 60
    assert split_ports(672, 11).sum() == 672 and split_ports(672, 11).max() - split_ports(672, 11).min() <= 1


def test_cross_border_service_is_counted_both_ways():
    """Synthetic: cells of two prefectures, a station in each; flows send part of a cell of
    prefecture A to the station in B."""
    from evsiting.stages.s6_sizing import cross_border

    cells = gpd.GeoDataFrame({"prefecture_adcode": [520100, 520100, 520400], "energy_kwh_day": [100.0, 50.0, 80.0]},
                             geometry=[Point(0, 0)] * 3, crs="EPSG:4326")
    cand = gpd.GeoDataFrame({"prefecture_adcode": [520100, 520400]}, geometry=[Point(0, 0)] * 2, crs="EPSG:4326")
    flows = sp.csr_matrix(np.array([[70.0, 30.0], [50.0, 0.0], [0.0, 80.0]]))
    per_cell, per_site = cross_border(cells, cand, np.array([0, 0, 1]), flows, np.array([0, 1]))
    assert per_cell.tolist() == [30.0, 0.0, 0.0] and per_site.tolist() == [0.0, 30.0]
    # without flows: the assignment, whole cells
    per_cell, per_site = cross_border(cells, cand, np.array([1, 0, -1]), None, np.array([0, 1]))
    assert per_cell.tolist() == [100.0, 0.0, 0.0] and per_site.tolist() == [0.0, 100.0]


def _fake_run(folder, summary, sites):
    """A synthetic run folder: summary.json, manifest.json and sites.geojson (not a real run)."""
    import json

    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "manifest.json").write_text("{}")
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.0, 26.0]},
              "properties": {"prefecture_adcode": a, "facility_type": "chosen", "ports_dc": 1, "ports_ac": 1}} for a in sites]
    (folder / "sites.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return folder


def _block(adcode, name, stations, dc, **more):
    return {"adcode": adcode, "name_en": name, "nev_count": 1000, "stations": stations, "ports_dc": dc, "ports_ac": 10,
            "power_kw": 1.0, "coverage_share": 1.0, "cost_cny": 1.0, "nev_per_public_charger": 9.0,
            "unserved_energy_kwh_day": -0.0, "energy_kwh_day": 500.0, **more}


def test_compare_gives_the_prefecture_part_of_a_province_run_and_why_it_differs(tmp_path):
    from evsiting.runs.compare import compare_runs, format_table

    head = {"year": 2026, "scenario": "base", "service_standard_min": 15}
    own = _fake_run(tmp_path / "anshun", {**head, "run": "anshun", "total": _block(520400, "Anshun", 130, 2278),
                                          "prefectures": [_block(520400, "Anshun", 130, 2278)]}, [520400] * 5)
    a = _block(520400, "Anshun", 108, 2185, energy_served_in_other_prefectures_kwh_day=40.0,
               energy_served_for_other_prefectures_kwh_day=12.0)
    g = _block(520100, "Guiyang", 262, 5000, energy_served_in_other_prefectures_kwh_day=12.0,
               energy_served_for_other_prefectures_kwh_day=40.0)
    prov = _fake_run(tmp_path / "guizhou", {**head, "run": "guizhou", "total": _block(520000, "Total", 370, 7185),
                                            "prefectures": [g, a]}, [520400] * 3 + [520100] * 4)
    plan = tmp_path / "anshun-plan"
    plan.mkdir()
    import json

    plan_rows = [{"year": y, "nev_study_area": 1000, "demand_kwh_day": 500.0, "served_kwh_day": 500.0, "served_share": 1.0,
                  "stations": s, "stations_new": 1, "ports_dc": dc, "ports_ac": 10, "spend_cny": 1e6, "budget_cny": None}
                 for y, s, dc in ((2025, 104, 1635), (2026, 118, 2279), (2030, 224, 6319))]
    (plan / "summary.json").write_text(json.dumps({"run": "anshun-plan", "scenario": "base", "service_standard_min": 15,
                                                   "study_prefectures": ["Anshun"], "h3_resolution": 6, "by_year": plan_rows}))
    (plan / "manifest.json").write_text("{}")
    df = compare_runs([own, prov, plan])
    labels = df["scenario_label"].tolist()
    assert labels == ["anshun", "guizhou", "anshun-plan", "guizhou [Anshun]", "anshun-plan [2026]"]
    part = df.set_index("scenario_label").loc["guizhou [Anshun]"]
    assert part["stations"] == 108 and part["ports_dc"] == 2185
    year = df.set_index("scenario_label").loc["anshun-plan [2026]"]
    assert year["stations"] == 118 and year["cost_cny"] == 2e6  # spend 2025 + 2026
    notes = df.attrs["notes"]
    assert len(notes) == 2
    assert "108 / 2,185 (-17 %, -4.1 %)" in notes[0] and "40 kWh/day of Anshun's 500" in notes[0] and "serve 12 kWh/day" in notes[0]
    assert "candidate sites in Anshun: 5 in anshun, 3 in guizhou" in notes[0]
    assert "H3 resolution 6" in notes[1] and "118 / 2,279" in notes[1]
    text = format_table(df)
    assert "why they differ: Anshun 2026" in text and ",-0.0" not in df.to_csv(index=False)


def test_stations_by_urban_population_on_a_hand_made_table():
    """Synthetic: three prefectures whose stations are exactly proportional to their urban
    residents (r = 1, no share gap) while NEVs are not; then one prefecture short of stations."""
    from evsiting.report.tables import stations_by_urban_population

    counties = pd.DataFrame({"prefecture_adcode": [1, 1, 2, 3], "urban_population": [300_000, 100_000, 200_000, 100_000]})
    rows = [{"adcode": 1, "name_en": "A", "stations": 40, "nev_count": 1_000},
            {"adcode": 2, "name_en": "B", "stations": 20, "nev_count": 5_000},
            {"adcode": 3, "name_en": "C", "stations": 10, "nev_count": 3_000}]
    rec = stations_by_urban_population(rows, counties)
    assert [r["urban_population"] for r in rows] == [400_000, 200_000, 100_000]
    assert rec["r_urban_population"] == pytest.approx(1.0)
    assert rec["r_nev"] < 0.5
    assert abs(rec["max_share_gap"]) < 1e-9
    assert rec["stations_per_10k_urban"] == pytest.approx(70 / 70)
    rows[0]["stations"] = 10  # A: 4/7 of the urban residents, 1/4 of the stations
    rec = stations_by_urban_population(rows, counties)
    assert rec["max_share_gap_prefecture"] == "A"
    assert rec["max_share_gap"] == pytest.approx(10 / 40 - 4 / 7, abs=1e-4)
    assert rows[0]["station_share"] == pytest.approx(0.25)
    assert stations_by_urban_population(rows[:2], counties) is None  # too few prefectures for an r
