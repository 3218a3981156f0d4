"""Fleet projection (issue #4): anchors, conservation, scenario order, bus schedule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examples import examples

from evsiting.config.schema import FleetConfig
from evsiting.demand.apportion import largest_remainder
from evsiting.demand.fleet import (
    SCENARIOS,
    SEGMENTS,
    bus_fleet_by_prefecture,
    bus_nev_stock,
    fit_fleet,
    project_fleet,
    province_nev_total,
    scenario_parameters,
    split_segments,
)
from evsiting.core.errors import InputError
from evsiting.config.params import load_parameters
from evsiting.core.settings import shared_dir

PARAMS = load_parameters()


@pytest.fixture(scope="module")
def tables():
    return {s: project_fleet(s, params=PARAMS) for s in SCENARIOS}


def test_base_meets_anchors_exactly():
    fit = fit_fleet(PARAMS, scenario="base")
    assert fit.stock(2022) == pytest.approx(165_000)
    assert fit.stock(2026) == pytest.approx(700_000, abs=1e-3)
    i = int(np.nonzero(fit.years == 2026)[0][0])
    assert fit.nev_share[i] == pytest.approx(0.40)
    assert province_nev_total(2026, "base", PARAMS) == 700_000
    assert province_nev_total(2022, "high", PARAMS) == 165_000


def test_scenarios_use_low_high_columns():
    low = scenario_parameters(PARAMS, "low")
    assert low.value("fleet_nev_stock_target") == PARAMS["fleet_nev_stock_target"].low
    assert low.value("fleet_nev_stock_base") == 165_000  # a statistic: no scenario range
    assert province_nev_total(2026, "low", PARAMS) == round(PARAMS["fleet_nev_stock_target"].low)
    assert province_nev_total(2026, "high", PARAMS) == round(PARAMS["fleet_nev_stock_target"].high)


def test_table_shape_and_columns(tables):
    df = tables["base"]
    assert list(df.columns) == ["year", "scenario", "segment", "nev_stock", "nev_sales_share", "nev_sales"]
    assert sorted(df["year"].unique()) == list(range(2022, 2031))
    assert set(df["segment"]) == set(SEGMENTS) | {"total"}
    assert (df["nev_stock"] >= 0).all()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_segments_add_up_to_total(tables, scenario):
    df = tables[scenario]
    seg = df[df["segment"] != "total"].groupby("year")["nev_stock"].sum()
    tot = df[df["segment"] == "total"].set_index("year")["nev_stock"]
    pd.testing.assert_series_equal(seg, tot, check_names=False)


def test_stock_grows_and_scenarios_are_ordered(tables):
    tot = {s: tables[s][tables[s]["segment"] == "total"].set_index("year")["nev_stock"] for s in SCENARIOS}
    for s in SCENARIOS:
        assert (np.diff(tot[s].to_numpy()) > 0).all()
    assert (tot["low"] <= tot["base"]).all() and (tot["base"] <= tot["high"]).all()
    assert (tot["low"].loc[2023:] < tot["high"].loc[2023:]).all()


def test_nev_share_rises_and_stays_below_ceiling():
    fit = fit_fleet(PARAMS, scenario="base")
    assert (np.diff(fit.nev_share) > 0).all()
    assert fit.nev_share.max() < PARAMS.value("fleet_nev_sales_share_max")


def test_unreachable_target_is_an_input_error():
    bad = PARAMS.with_overrides({"fleet_new_vehicle_sales": 100_000})
    with pytest.raises(InputError, match="cannot be reached"):
        fit_fleet(bad)


def test_bad_scenario_and_year():
    with pytest.raises(InputError):
        project_fleet("medium", params=PARAMS)
    with pytest.raises(InputError):
        project_fleet("base", years=[2019], params=PARAMS)


def test_years_beyond_default_range():
    df = project_fleet("base", years=[2035], params=PARAMS)
    assert df["year"].unique().tolist() == [2035]
    assert df.loc[df.segment == "total", "nev_stock"].iloc[0] > 1_900_000


def test_bus_replacement_schedule():
    fleet = FleetConfig()
    years = list(range(2022, 2071))
    b = bus_nev_stock(years, PARAMS, fleet, bus_fleet=1000)
    g = bus_nev_stock(years, PARAMS, fleet, bus_fleet=1000, guiyang=True)
    assert b[0] == pytest.approx(1000 * PARAMS.value("bus_nev_share_base"))
    assert (np.diff(b) >= -1e-9).all() and (g >= b - 1e-9).all()
    # the share tends to the policy share of new buses
    assert b[-1] / 1000 == pytest.approx(PARAMS.value("bus_nev_share_new"), abs=0.02)
    assert g[-1] / 1000 == pytest.approx(1.0, abs=0.02)
    # one year of replacement by hand: 1/8 replaced, 80 % NEV before the 2024 policy
    life, s0 = PARAMS.value("bus_replacement_years"), PARAMS.value("bus_nev_share_base")
    s_new = PARAMS.value("bus_nev_share_new_before_policy")
    assert b[1] == pytest.approx(1000 * (s0 * (1 - 1 / life) + s_new / life))


def test_bus_fleet_by_prefecture_conserves():
    urb = pd.read_csv(shared_dir() / "guizhou_urbanisation_census2020.csv")
    df = bus_fleet_by_prefecture(urb, PARAMS, 2026)
    assert len(df) == 9
    assert df["bus_fleet"].sum() == round(PARAMS.value("bus_fleet_province"))
    gy = df.set_index("adcode").loc[520100]
    assert gy["nev_buses"] / gy["bus_fleet"] > df["nev_buses"].sum() / df["bus_fleet"].sum()


@settings(max_examples=examples(200), deadline=None)
@given(st.integers(0, 10**7), st.lists(st.floats(0, 1e6), min_size=1, max_size=12))
def test_apportion_conserves(total, weights):
    if sum(weights) == 0:
        weights[0] = 1.0
    out = largest_remainder(total, weights)
    assert out.sum() == total and (out >= 0).all()
    quota = np.asarray(weights) / sum(weights) * total
    assert np.all(np.abs(out - quota) < 1 + 1e-9)


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(0, 5_000_000), st.floats(0, 50_000))
def test_split_segments_conserves(total, buses):
    seg = split_segments(total, buses, PARAMS)
    assert sum(seg.values()) == total and min(seg.values()) >= 0


@settings(max_examples=examples(25), deadline=None)
@given(st.floats(600_000, 900_000), st.floats(600_000, 900_000))
def test_higher_target_never_lowers_stock(a, b):
    lo, hi = sorted((a, b))
    f_lo = fit_fleet(PARAMS.with_overrides({"fleet_nev_stock_target": lo}), last_year=2026)
    f_hi = fit_fleet(PARAMS.with_overrides({"fleet_nev_stock_target": hi}), last_year=2026)
    assert f_hi.stock(2026) >= f_lo.stock(2026) - 1e-6


# --- segment energy and the CLI ---------------------------------------------------------

from typer.testing import CliRunner  # noqa: E402

from evsiting.cli import app  # noqa: E402
from evsiting.demand.segments import (  # noqa: E402
    ENERGY_COLUMNS,
    blended_rates,
    energy_of_counts,
    fleet_energy,
    segment_energy,
)


def test_segment_energy_by_hand():
    e = segment_energy([100.0], "private", PARAMS)
    per_vehicle = PARAMS.value("nev_daily_km") * PARAMS.value("nev_kwh_per_km") * PARAMS.value("terrain_factor")
    assert e["energy_kwh_day"][0] == pytest.approx(100 * per_vehicle)
    assert e["public_kwh_day"][0] == pytest.approx(100 * per_vehicle * PARAMS.value("public_charging_share"))
    assert e["dc_kwh_day"][0] + e["ac_kwh_day"][0] == pytest.approx(e["public_kwh_day"][0])
    bus = segment_energy([10.0], "bus", PARAMS)
    assert bus["public_kwh_day"][0] == 0 and bus["depot_kwh_day"][0] == pytest.approx(bus["energy_kwh_day"][0])
    with pytest.raises(InputError):
        segment_energy([1.0], "tractor", PARAMS)


def test_fleet_energy_totals_are_sums(tables):
    df = fleet_energy(tables["base"], PARAMS)
    seg = df[df.segment != "total"].groupby("year")[list(ENERGY_COLUMNS)].sum()
    tot = df[df.segment == "total"].set_index("year")[list(ENERGY_COLUMNS)]
    pd.testing.assert_frame_equal(seg, tot, check_names=False)
    # energy = public + private charging; public = dc + ac; depot only for buses
    assert np.allclose(df["public_kwh_day"], df["dc_kwh_day"] + df["ac_kwh_day"])
    assert (df.loc[df.segment.isin(["private", "taxi", "logistics"]), "depot_kwh_day"] == 0).all()


def test_blended_rates_conserve_energy():
    counts = {"private": 592_151, "taxi": 55_084, "logistics": 41_313, "bus": 11_452}
    rates = blended_rates(counts, PARAMS)
    e = energy_of_counts({k: [v] for k, v in counts.items()}, PARAMS)
    n = sum(counts.values())
    assert rates["public_kwh_per_vehicle"] * n == pytest.approx(e["public_kwh_day"][0])
    assert rates["depot_kwh_per_vehicle"] * n == pytest.approx(e["depot_kwh_day"][0])


segments_st = st.sampled_from(["private", "taxi", "logistics", "bus"])


@settings(max_examples=examples(100), deadline=None)
@given(segments_st, st.floats(0, 1e6), st.floats(0, 1e6))
def test_more_vehicles_never_less_energy(seg, a, b):
    lo, hi = sorted((a, b))
    e_lo, e_hi = segment_energy([lo], seg, PARAMS), segment_energy([hi], seg, PARAMS)
    for k in ENERGY_COLUMNS:
        assert e_hi[k][0] >= e_lo[k][0]


@settings(max_examples=examples(100), deadline=None)
@given(st.sampled_from(["private", "taxi", "logistics"]), st.floats(0, 1), st.floats(0, 1), st.floats(1, 1e5))
def test_less_home_charging_never_less_public_energy(seg, a, b, n):
    lo, hi = sorted((a, b))
    name = {"private": "public_charging_share"}.get(seg, f"{seg}_public_charging_share")
    e_lo = segment_energy([n], seg, PARAMS.with_overrides({name: lo}))
    e_hi = segment_energy([n], seg, PARAMS.with_overrides({name: hi}))
    for k in ("public_kwh_day", "dc_kwh_day", "ac_kwh_day"):
        assert e_hi[k][0] >= e_lo[k][0] - 1e-9


def test_cli_project_high_and_year(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["demand", "project", "--scenario", "high", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "fleet.csv")
    assert set(df.scenario) == {"high"} and df.year.min() == 2022 and df.year.max() == 2030
    assert "NREL 2030" in res.output
    res = runner.invoke(app, ["demand", "project", "--year", "2030", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "fleet.csv")
    assert df.year.unique().tolist() == [2030] and len(df) == 5
    assert df.loc[df.segment == "total", "nev_stock"].iloc[0] == province_nev_total(2030, "base", PARAMS)


def test_cli_bad_input_exit_2(tmp_path):
    res = CliRunner().invoke(app, ["demand", "project", "--scenario", "medium", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert not (tmp_path / "fleet.csv").exists()


def test_bus_segment_is_sum_of_prefectures(tables):
    urb = pd.read_csv(shared_dir() / "guizhou_urbanisation_census2020.csv")
    df = tables["base"]
    for y in (2022, 2024, 2026, 2030):
        pref = bus_fleet_by_prefecture(urb, PARAMS, y)
        assert df[(df.year == y) & (df.segment == "bus")]["nev_stock"].iloc[0] == pref["nev_buses"].sum()


def test_province_demand_bundle():
    from evsiting.demand.segments import province_demand

    d = province_demand(2026, "base", PARAMS)
    assert d["nev_total"] == 700_000 and sum(d["segments"].values()) == 700_000
    e = energy_of_counts({k: [v] for k, v in d["segments"].items()}, PARAMS)
    assert d["public_kwh_per_vehicle"] * d["nev_total"] == pytest.approx(e["public_kwh_day"][0])


def test_missing_census_is_input_error(tmp_path):
    from evsiting.demand.fleet import read_urbanisation

    with pytest.raises(InputError, match="not found"):
        read_urbanisation(tmp_path / "nope.csv")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_segment_sales_add_up_to_total(tables, scenario):
    """fleet.csv: each segment row carries its own NEV sales, not the province's (issue 16)."""
    df = tables[scenario]
    base = df["year"] == df["year"].min()
    assert df.loc[base, "nev_sales"].isna().all()  # the base stock is given, no sales
    later = df[~base]
    seg = later[later["segment"] != "total"].groupby("year")["nev_sales"].sum()
    tot = later[later["segment"] == "total"].set_index("year")["nev_sales"]
    assert (seg.to_numpy() == tot.to_numpy()).all()
    assert (later["nev_sales"] >= 0).all()
    private = later[later["segment"] == "private"].set_index("year")["nev_sales"]
    assert (private < tot).all() and (private > tot / 2).all()  # private cars are most, not all, of the sales


def test_fleet_csv_segment_sales(tmp_path):
    from typer.testing import CliRunner

    from evsiting.cli import app

    res = CliRunner().invoke(app, ["demand", "project", "--year", "2026", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "fleet.csv")
    seg = df.loc[df["segment"] != "total", "nev_sales"].sum()
    assert seg == df.loc[df["segment"] == "total", "nev_sales"].item() > 0
