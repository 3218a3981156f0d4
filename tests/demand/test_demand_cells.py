"""Demand stage: census weights, apportionment and H3 cells on the real Guizhou data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from examples import examples

from evsiting.study.areas import read_polygons, study_counties
from evsiting.config.schema import RunConfig
from evsiting.demand import cells as dc
from evsiting.io.points import read_points
from evsiting.config.params import load_parameters
from evsiting.core.settings import resolve_path


@given(
    total=st.integers(0, 10_000_000),
    weights=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50).filter(lambda w: sum(w) > 0),
)
@settings(max_examples=examples(200), deadline=None)
def test_largest_remainder_conserves_and_is_fair(total, weights):
    out = dc.largest_remainder(total, weights)
    assert out.sum() == total
    quota = np.asarray(weights) / sum(weights) * total
    # Hamilton's method: every share is its quota rounded down or up.
    assert np.all(out >= np.floor(quota) - 1e-9) and np.all(out <= np.ceil(quota) + 1e-9)


def test_largest_remainder_rejects_bad_input():
    with pytest.raises(ValueError):
        dc.largest_remainder(5, [0, 0])
    with pytest.raises(ValueError):
        dc.largest_remainder(5, [1, -1])


@pytest.fixture(scope="module")
def guizhou(shared):
    cfg = RunConfig(name="t", model={"p": 1})
    p = lambda s: resolve_path(s)  # noqa: E731
    counties = study_counties(read_polygons(p(cfg.data.counties), ("district_adcode", "city_adcode")), None)
    census = dc.read_census(p(cfg.data.county_population), p(cfg.data.urbanisation), p(cfg.data.household_cars))
    seats = read_points(p(cfg.data.county_seats.path), crs="gcj02", id_column="adcode")
    return counties, census, seats


def test_census_tables_join_all_88_counties(guizhou):
    counties, census, _ = guizhou
    c = census.counties
    assert len(c) == 88 and set(c["adcode"]) == set(counties["adcode"])
    assert c["population"].sum() == 38_562_148  # 7th census province total
    assert c["car_share"].between(0, 1).all()


def test_county_weights_default_is_population_times_car_share(guizhou):
    _, census, _ = guizhou
    w = dc.county_weights(census, "population_x_car_share")
    row = census.counties.set_index("adcode").loc[520102]
    assert w.loc[520102] == pytest.approx(row["population"] * row["car_share"])


def test_cells_conserve_vehicles_per_county_and_tile_the_area(guizhou):
    counties, census, seats = guizhou
    sub = counties[counties["prefecture_adcode"] == 520400]  # Anshun, 6 counties
    w = dc.county_weights(census, "population_x_car_share")
    cn = dc.allocate_to_counties(700_000, w)
    rates = {"public_kwh_per_vehicle": 6.5, "dc_kwh_per_vehicle": 4.0}
    cells = dc.build_demand_cells(sub, cn, census, seats, load_parameters(), resolution=7, rates=rates)
    per_county = cells.groupby("county_adcode")["nev_count"].sum()
    pd.testing.assert_series_equal(per_county, cn.loc[sub["adcode"]].rename_axis("county_adcode"), check_names=False)
    # The pieces tile each county: areas add up to the county area (UTM 48N).
    area = sub.to_crs("EPSG:32648").set_index("adcode").area / 1e6
    got = cells.groupby("county_adcode")["area_km2"].sum()
    np.testing.assert_allclose(got.loc[area.index], area, rtol=1e-4)  # slivers < 1 m² dropped
    assert cells["demand_id"].is_unique
    # the id holds the H3 cell and the county; a cell cut by a county border repeats its h3 (issue 16)
    assert (cells["demand_id"] == cells["h3"] + "-" + cells["county_adcode"].astype(str)).all()
    assert cells["h3"].duplicated().any()
    # Energy = vehicles x the fleet's kWh/day per vehicle.
    np.testing.assert_allclose(cells["energy_kwh_day"], cells["nev_count"] * 6.5)
    np.testing.assert_allclose(cells["energy_dc_kwh_day"], cells["nev_count"] * 4.0)


def test_urban_vehicles_concentrate_around_the_county_seat(guizhou):
    counties, census, seats = guizhou
    sub = counties[counties["adcode"] == 522601]  # Kaili
    cn = pd.Series({522601: 100_000})
    cells = dc.build_demand_cells(sub, cn, census, seats, load_parameters(), resolution=7, rates={"public_kwh_per_vehicle": 1, "dc_kwh_per_vehicle": 0})
    seat = seats[seats["adcode"] == 522601].to_crs("EPSG:32648").geometry.iloc[0]
    pts = dc.demand_points(cells).to_crs("EPSG:32648")
    d_km = pts.distance(seat) / 1000
    density = cells["nev_count"] / cells["area_km2"]
    assert density[d_km < 3].mean() > 5 * density[d_km > 15].mean()


def test_county_seats_are_converted_from_gcj02(guizhou):
    _, _, seats = guizhou
    raw = pd.read_csv(resolve_path("shared:guizhou_county_seats.csv")).set_index("adcode")
    s = seats.set_index("adcode")
    dlon = s.geometry.x - raw["lon"]
    dlat = s.geometry.y - raw["lat"]
    # In Guizhou, WGS84 = GCJ-02 minus about 0.002-0.005 deg lon, plus 0.002-0.004 deg lat.
    assert dlon.between(-0.006, -0.001).all() and dlat.between(0.001, 0.005).all()
