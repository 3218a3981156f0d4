"""Access outputs of a run: the assigned and the nearest open station of each demand cell
(``demand.geojson``), on small synthetic cells and sites (named as such, not real data)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from shapely.geometry import Point

from evsiting.params import load_parameters
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
