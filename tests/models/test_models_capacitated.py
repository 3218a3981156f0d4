"""CapacitatedSiting (the default model): brute force on tiny synthetic instances with the
DC/AC split, existing ports, a budget and an allocation cost; capacities never exceeded."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from evsiting.core.errors import InputError
from evsiting.models.capacitated import CapacitatedSiting

from models_helpers import route_cost

KD, KA = 10.0, 3.0  # kWh/day per DC / AC port (synthetic)


def brute_force(t, e, d, *, max_dc=2, max_ac=2, F=50.0, cd=20.0, ca=4.0, ex_dc=None, ex_ac=None, alpha=0.0, budget=None):
    """Exhaustive over every site's (DC, AC) port counts, one LP per port vector. Exact pruning
    (the optimum is the full enumeration's): port vectors in order of capital; least cost stops
    at the first capital at or above the best total found (allocation costs are >= 0) and skips
    vectors whose DC or total capacity is below the DC or total energy (no feasible flow);
    with a budget, a vector whose capacity cannot beat the best energy served is skipped."""
    n, m = t.shape
    ex_dc = np.zeros(m, int) if ex_dc is None else ex_dc
    ex_ac = np.zeros(m, int) if ex_ac is None else ex_ac
    opts = []
    for j in range(m):
        if ex_dc[j] + ex_ac[j] > 0:
            opts.append([(a, b) for a in range(ex_dc[j], max(ex_dc[j], max_dc) + 1) for b in range(ex_ac[j], max(ex_ac[j], max_ac) + 1)])
        else:
            opts.append([(a, b) for a in range(max_dc + 1) for b in range(max_ac + 1)])
    vectors = []
    for combo in itertools.product(*opts):
        nd = np.array([c[0] for c in combo]); na = np.array([c[1] for c in combo])
        new = (ex_dc + ex_ac == 0) & (nd + na > 0)
        vectors.append((F * new.sum() + cd * (nd - ex_dc).sum() + ca * (na - ex_ac).sum(), nd, na))
    vectors.sort(key=lambda v: v[0])
    best = -np.inf if budget is not None else np.inf
    for capital, nd, na in vectors:
        cap_dc, cap_all = KD * nd.sum(), KD * nd.sum() + KA * na.sum()
        if budget is not None:
            if capital > budget + 1e-9:
                break
            if min(cap_all, e.sum()) <= best:  # cannot serve more than the best so far
                continue
            _, served = route_cost(t, e, d, nd, na, alpha, kd=KD, ka=KA, maximize=True)
            best = max(best, served)
        else:
            if capital >= best:  # this and every later vector cost at least the best total
                break
            if cap_dc < d.sum() - 1e-9 or cap_all < e.sum() - 1e-9:  # all energy, DC on DC ports
                continue
            ok, flow = route_cost(t, e, d, nd, na, alpha, kd=KD, ka=KA)
            if ok:
                best = min(best, capital + flow)
    return best


def instance(seed, n=5, m=3):
    rng = np.random.default_rng(seed)
    t = rng.uniform(1, 20, size=(n, m))
    t[rng.random((n, m)) < 0.3] = np.inf
    t[np.arange(n), rng.integers(0, m, n)] = rng.uniform(1, 10, n)  # every point reaches a site
    e = rng.uniform(1, 8, n).round(2)
    d = (e * rng.uniform(0, 1, n)).round(2)
    return t, e, d


def model(t, e, d, **kw):
    kw2 = dict(max_dc_ports=kw.pop("max_dc", 2), max_ac_ports=kw.pop("max_ac", 2), site_cost_cny=kw.pop("F", 50.0),
               dc_port_cost_cny=kw.pop("cd", 20.0), ac_port_cost_cny=kw.pop("ca", 4.0),
               existing_dc=kw.pop("ex_dc", None), existing_ac=kw.pop("ex_ac", None),
               allocation_cny_per_kwh_min=kw.pop("alpha", 0.0), budget_cny=kw.pop("budget", None))
    return CapacitatedSiting.from_cost_matrix(t, e, d, np.inf, dc_port_kwh_day=KD, ac_port_kwh_day=KA, **kw2)


@pytest.mark.parametrize("seed", range(6))
def test_least_cost_matches_brute_force_with_the_dc_ac_split(seed):
    t, e, d = instance(seed)
    res = model(t, e, d).solve(mip_gap=0)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(brute_force(t, e, d), rel=1e-6)
    _check_capacities(res, t, e, d, max_dc=2, max_ac=2)


@pytest.mark.parametrize("seed", range(4))
def test_allocation_cost_matches_brute_force(seed):
    t, e, d = instance(10 + seed)
    res = model(t, e, d, alpha=0.7).solve(mip_gap=0)
    assert res.objective == pytest.approx(brute_force(t, e, d, alpha=0.7), rel=1e-6)
    assert res.travel_cny > 0 and res.objective == pytest.approx(res.capital_cny + res.travel_cny, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_existing_ports_are_free_capacity(seed):
    t, e, d = instance(20 + seed)
    ex_dc = np.array([1, 0, 0]); ex_ac = np.array([2, 0, 0])
    res = model(t, e, d, ex_dc=ex_dc, ex_ac=ex_ac).solve(mip_gap=0)
    assert res.objective == pytest.approx(brute_force(t, e, d, ex_dc=ex_dc, ex_ac=ex_ac), rel=1e-6)
    assert res.dc_ports[0] >= 1 and res.ac_ports[0] >= 2 and res.stations[0] == 1
    assert res.dc_added[0] == res.dc_ports[0] - 1 and res.ac_added[0] == res.ac_ports[0] - 2


@pytest.mark.parametrize("seed", range(4))
def test_budget_maximises_served_energy(seed):
    t, e, d = instance(30 + seed)
    res = model(t, e, d, budget=120.0).solve(mip_gap=0)
    assert res.served.sum() == pytest.approx(brute_force(t, e, d, budget=120.0), rel=1e-6)
    assert res.capital_cny <= 120.0 + 1e-9
    assert res.short.sum() == pytest.approx(e.sum() - res.served.sum(), abs=1e-6)


def _check_capacities(res, t, e, d, *, max_dc, max_ac):
    load = np.asarray(res.flows.sum(axis=0)).ravel()
    share = np.divide(d, e, out=np.zeros_like(e), where=e > 0)
    load_dc = np.asarray((sp.diags(share) @ res.flows).sum(axis=0)).ravel()
    assert (load_dc <= KD * res.dc_ports + 1e-6).all()
    assert (load <= KD * res.dc_ports + KA * res.ac_ports + 1e-6).all()
    assert (res.dc_ports <= max_dc * res.stations).all() and (res.ac_ports <= max_ac * res.stations).all()
    assert (res.flows.tocoo().data > 0).all()
    r, c = res.flows.nonzero()
    assert np.isfinite(t[r, c]).all()


def test_capacities_and_station_maxima_hold_on_a_larger_random_instance():
    rng = np.random.default_rng(7)
    n, m = 120, 25
    t = rng.uniform(0, 30, size=(n, m))
    e = rng.gamma(2.0, 15.0, n)
    d = e * rng.uniform(0.5, 1.0, n)
    k = rng.integers(1, 3, m)
    res = CapacitatedSiting.from_cost_matrix(t, e, d, 15.0, dc_port_kwh_day=KD, ac_port_kwh_day=KA, max_dc_ports=4,
                                             max_ac_ports=6, max_stations=k, site_cost_cny=100.0,
                                             dc_port_cost_cny=20.0, ac_port_cost_cny=5.0).solve(mip_gap=0.001)
    assert res.gap <= 0.001 + 1e-12 and res.bound <= res.objective
    reach = (t <= 15.0).any(axis=1)
    assert set(res.unreachable.tolist()) == set(np.flatnonzero(~reach).tolist())
    assert (res.stations <= k).all()
    _check_capacities(res, np.where(t <= 15.0, t, np.inf), e, d, max_dc=4, max_ac=6)
    # all reachable energy is served unless the sites within reach cannot hold it
    assert res.served.sum() + res.short.sum() == pytest.approx(e[reach].sum(), rel=1e-6)


def test_energy_beyond_the_sites_maxima_is_reported_short_not_infeasible():
    t = np.array([[1.0], [2.0]])
    e = np.array([30.0, 30.0]); d = np.array([30.0, 0.0])
    res = model(t, e, d, max_dc=1, max_ac=1).solve(mip_gap=0)  # one station holds 10 DC + 3 AC
    assert res.served.sum() == pytest.approx(13.0) and res.short.sum() == pytest.approx(47.0)


def test_inputs_are_checked():
    t, e, d = instance(0)
    with pytest.raises(InputError) as exc:
        CapacitatedSiting.from_cost_matrix(t, e, d * 3 + 1, 15.0, dc_port_kwh_day=KD, ac_port_kwh_day=KA)
    assert exc.value.field == "dc_energy_kwh_day"
    with pytest.raises(InputError) as exc:
        CapacitatedSiting.from_cost_matrix(t, e, d, 15.0, dc_port_kwh_day=KD, ac_port_kwh_day=KA, max_stations=0)
    assert exc.value.field == "max_stations"


def brute_force_budget(t, e, d, budget, **kw):
    """(most energy served within the budget, least capital among the plans serving it).
    Exhaustive in order of capital, so a later port vector wins only by serving more; one whose
    capacity cannot serve more than the best so far is skipped (exact)."""
    n, m = t.shape
    vectors = []
    for combo in itertools.product(*[[(a, b) for a in range(3) for b in range(3)] for _ in range(m)]):
        nd = np.array([c[0] for c in combo]); na = np.array([c[1] for c in combo])
        vectors.append((50.0 * ((nd + na) > 0).sum() + 20.0 * nd.sum() + 4.0 * na.sum(), nd, na))
    vectors.sort(key=lambda v: v[0])
    best = (-np.inf, np.inf)
    for capital, nd, na in vectors:
        if capital > budget + 1e-9:
            break
        if min(KD * nd.sum() + KA * na.sum(), e.sum()) <= best[0] + 1e-7:
            continue
        _, served = route_cost(t, e, d, nd, na, 0.0, kd=KD, ka=KA, maximize=True)
        if served > best[0] + 1e-7 or (abs(served - best[0]) <= 1e-7 and capital < best[1]):
            best = (served, capital)
    return best


@pytest.mark.parametrize("seed", range(3))
def test_a_budget_that_does_not_bind_buys_the_cheapest_plan_serving_everything(seed):
    t, e, d = instance(40 + seed)
    served, capital = brute_force_budget(t, e, d, 1000.0)
    res = model(t, e, d, budget=1000.0).solve(mip_gap=0)
    assert res.stats["budget_binds"] is False and res.status == "optimal"
    assert res.served.sum() == pytest.approx(served, rel=1e-6)
    assert res.capital_cny == pytest.approx(capital, rel=1e-6)  # not just any plan within the budget
    assert "does not bind" in res.message


def test_a_binding_budget_is_said_to_bind():
    t, e, d = instance(31)
    res = model(t, e, d, budget=80.0).solve(mip_gap=0)
    assert res.stats["budget_binds"] is True and res.capital_cny <= 80.0 + 1e-9
    assert res.stats["least_cost_cny"] > 80.0
    assert res.served.sum() == pytest.approx(brute_force(t, e, d, budget=80.0), rel=1e-6)


def test_per_site_port_totals_bound_the_plan():
    t, e, d = instance(3)
    free = model(t, e, d).solve(mip_gap=0)
    cap_dc = np.maximum(free.dc_ports - 1, 0)
    res = CapacitatedSiting.from_cost_matrix(t, e, d, np.inf, dc_port_kwh_day=KD, ac_port_kwh_day=KA, max_dc_ports=2,
                                             max_ac_ports=2, site_cost_cny=50.0, dc_port_cost_cny=20.0,
                                             ac_port_cost_cny=4.0, max_site_dc_ports=cap_dc).solve(mip_gap=0)
    assert (res.dc_ports <= cap_dc).all()


def test_a_solve_says_time_limit_only_when_the_clock_stopped_a_step():
    """The message behind ``determinism``: "time limit reached" only when a step was stopped by
    the clock; a solve that ends above its gap target without one is still repeatable."""
    from types import SimpleNamespace

    from evsiting.models.capacitated import _short_message
    from evsiting.stages.s5_model import determinism

    assert _short_message(0.004, 0.005, {"time_limited_steps": ["lp"]}) == ""
    timed = _short_message(0.019, 0.005, {"time_limited_steps": ["branch_and_bound"]})
    untimed = _short_message(0.019, 0.005, {"time_limited_steps": []})
    assert timed.startswith("time limit reached") and "0.019" in untimed and "time limit reached" not in untimed

    def result(msg, steps):
        return SimpleNamespace(status="feasible", message=msg, stats={"time_limited_steps": steps})

    assert determinism(result(untimed, []), 60)["deterministic"]
    assert not determinism(result(timed, ["branch_and_bound"]), 60)["deterministic"]
