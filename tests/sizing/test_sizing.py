"""Port sizing: energy ports, Erlang-C peak-hour check, depots; monotonicity properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examples import examples

from evsiting.config.params import load_parameters
from evsiting.sizing.queueing import mean_wait
from evsiting.sizing.ports import (
    dc_peak_ports,
    dc_service_minutes,
    ports_for_energy,
    size_depots,
    size_stations,
)

PARAMS = load_parameters()
energies = st.lists(st.floats(0, 200_000), min_size=1, max_size=8)


def test_ports_for_energy():
    assert ports_for_energy([0, 480, 481, 960.0000000001], 120, 4).tolist() == [0, 1, 2, 2]
    with pytest.raises(ValueError):
        ports_for_energy([-1], 120, 4)


def test_default_behaviour_unchanged():
    e = np.array([0.0, 1000.0, 10_000.0])
    out = size_stations(e, PARAMS)
    assert set(out) == {"ports_dc", "ports_ac", "power_kw"}
    share = PARAMS.value("dc_energy_share")
    dc = np.ceil(e * share / (PARAMS.value("dc_charger_power_kw") * PARAMS.value("dc_utilisation_hours")) - 1e-9)
    assert out["ports_dc"].tolist() == dc.astype(int).tolist()


def test_explicit_dc_energy():
    out = size_stations([1000.0], PARAMS, dc_energy_kwh_day=[1000.0])
    assert out["ports_ac"].tolist() == [0]
    with pytest.raises(ValueError):
        size_stations([1000.0], PARAMS, dc_energy_kwh_day=[1500.0])


def test_peak_check_meets_wait_limit():
    e = np.array([0.0, 300.0, 3000.0, 30_000.0])
    out = size_stations(e, PARAMS, peak_check=True)
    limit = PARAMS.value("dc_max_mean_wait_min")
    assert (out["ports_dc"] >= out["ports_dc_energy"]).all() and (out["ports_dc"] >= out["ports_dc_peak"]).all()
    assert (out["dc_peak_wait_min"] <= limit).all()
    assert out["ports_dc"][0] == 0 and out["dc_peak_wait_min"][0] == 0
    # the peak count is the smallest: one port fewer breaks the limit
    peak = dc_peak_ports(e * PARAMS.value("dc_energy_share"), PARAMS)
    for c, lam in zip(peak["ports"], peak["arrivals_per_h"]):
        if c > 1:
            assert mean_wait(int(c) - 1, lam, peak["service_min"]) > limit


def test_service_time_default():
    assert dc_service_minutes(PARAMS) == pytest.approx(30.0)


def test_tighter_wait_limit_needs_more_ports():
    e = np.array([5000.0])
    loose = dc_peak_ports(e, PARAMS, max_wait_min=20)["ports"][0]
    tight = dc_peak_ports(e, PARAMS, max_wait_min=2)["ports"][0]
    assert tight > loose


def test_depots():
    out = size_depots([0.0, 720.0, 721.0], PARAMS)
    per = PARAMS.value("bus_depot_charger_power_kw") * PARAMS.value("bus_depot_utilisation_hours")
    assert per == 720.0
    assert out["ports_depot"].tolist() == [0, 1, 2]


@settings(max_examples=examples(100), deadline=None)
@given(energies, st.floats(0, 50_000), st.booleans())
def test_more_energy_never_fewer_ports(e, extra, peak):
    e = np.array(e)
    a = size_stations(e, PARAMS, peak_check=peak)
    b = size_stations(e + extra, PARAMS, peak_check=peak)
    for k in ("ports_dc", "ports_ac", "power_kw"):
        assert (b[k] >= a[k]).all()


# --- reference ratios -------------------------------------------------------------------

from evsiting.report.references import REFERENCES, compare_to_references, run_ratios  # noqa: E402


def test_reference_values_and_sources():
    by_key = {r.key: r for r in REFERENCES}
    assert by_key["china_2025"].value == 2.2 and by_key["china_plan_2027"].value == 2.9
    assert by_key["nrel_2030_dc"].value == 5.5 and 30 <= by_key["nrel_2030_l2"].value <= 33
    assert all(r.source for r in REFERENCES)


def test_compare_to_references():
    r = run_ratios(1000.0, 5.0, 30.0)
    assert r["nev_per_public_charger"] == pytest.approx(1000 / 35)
    assert r["dc_ports_per_1000"] == pytest.approx(5.0) and r["ac_ports_per_1000"] == pytest.approx(30.0)
    df = compare_to_references(33_000_000, 182_000, 1_067_000)
    nrel = df.set_index("metric").loc["dc_ports_per_1000"]
    assert nrel["run_over_reference"] == pytest.approx(1.0, abs=0.01)
    assert set(df.columns) >= {"reference", "run_value", "reference_value", "source"}


# --- the whole chain: vehicles -> energy -> ports ---------------------------------------

from hypothesis import assume  # noqa: E402

from evsiting.demand.segments import energy_of_counts  # noqa: E402

counts_st = st.fixed_dictionaries({s: st.integers(0, 50_000) for s in ("private", "taxi", "logistics", "bus")})


def _ports(counts, params):
    e = energy_of_counts({k: [v] for k, v in counts.items()}, params)
    out = size_stations(e["public_kwh_day"], params, dc_energy_kwh_day=e["dc_kwh_day"], peak_check=True)
    return out["ports_dc"][0], out["ports_ac"][0], size_depots(e["depot_kwh_day"], params)["ports_depot"][0]


@settings(max_examples=examples(60), deadline=None)
@given(counts_st, st.sampled_from(["private", "taxi", "logistics", "bus"]), st.integers(0, 20_000))
def test_more_vehicles_never_fewer_ports(counts, seg, extra):
    more = dict(counts)
    more[seg] += extra
    assert all(b >= a for a, b in zip(_ports(counts, PARAMS), _ports(more, PARAMS)))


@settings(max_examples=examples(60), deadline=None)
@given(counts_st, st.floats(0, 1), st.floats(0, 1))
def test_less_home_charging_never_fewer_ports(counts, a, b):
    assume(sum(counts.values()) > 0)
    lo, hi = sorted((a, b))
    p_lo = PARAMS.with_overrides({"public_charging_share": lo})
    p_hi = PARAMS.with_overrides({"public_charging_share": hi})
    assert all(y >= x for x, y in zip(_ports(counts, p_lo), _ports(counts, p_hi)))
