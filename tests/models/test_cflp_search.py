"""The local search over stations (models/_cflp_search.py) and the per-station port cap of the
power limit, on tiny synthetic instances: the reduced-cost filter never skips a move that pays
(every single move checked by re-solving), the search ends at a plan no single move improves
and never above its start, the improved plan satisfies every row and is never below the brute-
force optimum, a move re-routed on its neighbourhood is feasible for the whole routing LP and
never claims more than re-solving it gives, and a station never holds more DC ports than its own connection carries."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from evsiting.models._cflp import build
from evsiting.models._cflp_search import LocalRoute, RoutingLP, improve_plan, station_search
from evsiting.models._cflp_start import flow_plan, start_plan
from evsiting.models.capacitated import CapacitatedSiting, _trimmed

from models_helpers import route_cost


def _synthetic(seed: int, *, n: int = 30, m: int = 10) -> CapacitatedSiting:
    """Synthetic: access cost, DC/AC split, 1-3 stations per site, a 920 kW limit per station."""
    rng = np.random.default_rng(seed)
    cost = rng.uniform(1, 20, (n, m))
    cost[rng.random((n, m)) < 0.5] = np.inf
    cost[np.arange(n), rng.integers(0, m, n)] = rng.uniform(1, 5, n)
    e = rng.uniform(50, 700, n)
    return CapacitatedSiting.from_cost_matrix(
        cost, e, 0.9 * e, 15.0, dc_port_kwh_day=123.7, ac_port_kwh_day=9.3, max_dc_ports=30, max_ac_ports=50,
        max_stations=rng.integers(1, 4, m), site_cost_cny=400_000, dc_port_cost_cny=80_000, ac_port_cost_cny=5_000,
        allocation_cny_per_kwh_min=56.0, dc_port_kw=93.0, ac_port_kw=7.0, max_station_kw=920.0)


def _feasible(mm, x) -> bool:
    ax = mm.A @ x
    tol = 1e-6 * np.maximum(1.0, np.abs(ax))
    rows = np.all(ax >= mm.row_lo - tol) and np.all(ax <= mm.row_hi + tol)
    cols = np.all(x >= mm.col_lo - 1e-6) and np.all(x <= mm.col_hi + 1e-6)
    return bool(rows and cols and np.allclose(x[mm.integer], np.round(x[mm.integer])))


def _start(mdl):
    inst = mdl.reduce().instance
    mm = build(inst)
    k_max = np.where(inst.new, inst.max_stations, 0).astype(float)
    from evsiting.models._cflp_start import flow_plan

    x = flow_plan(inst, mm, k_max, lambda v: _trimmed(inst, mm, v), time_limit=None)
    return inst, mm, x


@pytest.mark.parametrize("seed", [0, 1])
def test_the_reduced_cost_estimate_is_a_lower_bound_of_every_single_move(seed):
    inst, mm, x = _start(_synthetic(seed))
    k = x[mm.blocks["y"]]
    lp = RoutingLP(inst, k)
    v0 = lp.solve()
    rc = lp.reduced_costs()
    checked = 0
    for j in range(k.size):
        for dv in (-1.0, 1.0):
            if not lp.y_lo[j] <= k[j] + dv <= lp.y_hi[j]:
                continue
            other = RoutingLP(inst, k + dv * (np.arange(k.size) == j))
            v = other.solve()
            assert v >= v0 + rc[j] * dv - 1e-6 * max(abs(v0), 1.0)  # convexity: value(k + d) >= value(k) + rc d
            checked += 1
    assert checked > 5


@pytest.mark.parametrize("seed", [7, 8])
def test_a_move_re_routed_on_its_neighbourhood_is_feasible_and_never_claims_too_much(seed):
    inst, mm, x = _start(_synthetic(seed, n=40, m=12))
    k = x[mm.blocks["y"]]
    lp = RoutingLP(inst, k)
    v0 = lp.solve()
    x0 = np.asarray(lp.h.getSolution().col_value)
    local = LocalRoute(inst, lp.mm)
    ys = lp.mm.blocks["y"].start
    proved = 0
    for j, dv in itertools.product(range(k.size), (-1.0, 1.0)):
        if not lp.y_lo[j] <= k[j] + dv <= lp.y_hi[j]:
            continue
        lo, hi = lp.mm.col_lo.copy(), lp.mm.col_hi.copy()
        k2 = k + dv * (np.arange(k.size) == j)
        lo[lp.ys] = hi[lp.ys] = k2
        cols = local.columns([j])
        assert np.isin(ys + j, cols)
        xs = local.solve(x0, lo, hi, cols)
        whole = RoutingLP(inst, k2).solve()
        if xs is None:
            continue
        x1 = x0.copy()
        x1[cols] = xs
        ax = lp.mm.A @ x1
        tol = 1e-6 * np.maximum(1.0, np.abs(ax))
        assert np.all(ax >= lp.mm.row_lo - tol) and np.all(ax <= lp.mm.row_hi + tol)
        assert np.all(x1 >= lo - 1e-6) and np.all(x1 <= hi + 1e-6)
        claimed = v0 + float(lp.mm.c @ x1 - lp.mm.c @ x0)
        assert whole <= claimed + 1e-6 * abs(v0)  # the whole LP is at least as cheap
        proved += 1
    assert proved > 5


@pytest.mark.parametrize("seed, region_pairs", [(2, 15000), (3, 15000), (2, 40), (3, 60)])
def test_the_search_ends_where_no_single_move_pays_and_never_above_its_start(seed, region_pairs, monkeypatch):
    import evsiting.models._cflp_search as search

    monkeypatch.setattr(search, "REGION_PAIRS", region_pairs)  # small: the search runs region by region too
    inst, mm, x = _start(_synthetic(seed))
    if region_pairs < inst.pairs.nnz:
        regions = search.regions_of(inst, region_pairs)
        assert len(regions) > 1 and np.array_equal(np.sort(np.concatenate(regions)), np.arange(inst.pairs.shape[0]))
    k0 = x[mm.blocks["y"]]
    v_start = RoutingLP(inst, k0).solve()
    k, v = station_search(inst, k0, deadline=float("inf"))
    assert v <= v_start + 1e-6
    assert v == pytest.approx(RoutingLP(inst, k).solve(), rel=1e-9)
    lp = RoutingLP(inst, k)
    for j in range(k.size):
        for dv in (-1.0, 1.0):
            if lp.y_lo[j] <= k[j] + dv <= lp.y_hi[j]:
                assert RoutingLP(inst, k + dv * (np.arange(k.size) == j)).solve() >= v - 1.0


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_the_improved_plan_is_feasible_no_worse_and_never_below_the_optimum(seed):
    mdl = _synthetic(seed, n=20, m=7)
    inst, mm, x = _start(mdl)
    obj = float(mm.c @ x + mm.offset)
    tr = lambda v: _trimmed(inst, mm, v)  # noqa: E731
    xi, oi = improve_plan(inst, mm, x, obj, tr, lambda: None, route=flow_plan)
    assert _feasible(mm, xi) and oi == pytest.approx(float(mm.c @ xi + mm.offset)) and oi <= obj + 1e-6
    x2, o2 = start_plan(inst, mm, tr, lambda: None)  # the start plan runs the search with a power limit
    assert _feasible(mm, x2)
    best = mdl.solve(time_limit=None, mip_gap=0.0)
    assert best.status == "optimal"
    assert oi >= best.objective * (1 - 1e-9) and o2 >= best.objective * (1 - 1e-9)


# per-station port cap: 100 kW per station and 60 kW DC ports -> one DC port per station, while
# the summed row alone would let two stations hold three (180 kW in one station's worth of two)
KD, KA, PD, PA, KW = 10.0, 3.0, 60.0, 7.0, 100.0
F, CD, CA = 50.0, 20.0, 4.0


def _station_totals(y, max_dc, max_ac):
    """Every (DC, AC) total of ``y`` stations each within its own ports and kW."""
    one = [(a, b) for a in range(max_dc + 1) for b in range(max_ac + 1) if PD * a + PA * b <= KW + 1e-9]
    out = {(0, 0)}
    for _ in range(y):
        out = {(a + a1, b + b1) for a, b in out for a1, b1 in one}
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_station_holds_more_dc_ports_than_its_connection_and_the_optimum_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, m = 3, 2
    t = rng.uniform(1, 10, (n, m))
    e = rng.uniform(6, 12, n).round(2)  # at most 36 kWh/day, DC at most 29: 4 stations hold 40 DC
    d = (e * rng.uniform(0.5, 0.8, n)).round(2)
    k = [2, 2]
    res = CapacitatedSiting.from_cost_matrix(
        t, e, d, np.inf, dc_port_kwh_day=KD, ac_port_kwh_day=KA, max_dc_ports=2, max_ac_ports=3, max_stations=k,
        site_cost_cny=F, dc_port_cost_cny=CD, ac_port_cost_cny=CA, allocation_cny_per_kwh_min=0.5,
        dc_port_kw=PD, ac_port_kw=PA, max_station_kw=KW).solve(mip_gap=0)
    assert res.status == "optimal" and res.short.sum() == 0
    assert (res.dc_ports <= np.floor(KW / PD) * res.stations).all()
    assert (res.dc_ports * PD + res.ac_ports * PA <= KW * res.stations + 1e-9).all()
    best = np.inf
    per_site = [[(y, a, b) for y in range(k[j] + 1) for a, b in _station_totals(y, 2, 3)] for j in range(m)]
    for combo in itertools.product(*per_site):
        nd = np.array([c[1] for c in combo], dtype=float)
        na = np.array([c[2] for c in combo], dtype=float)
        capital = F * sum(c[0] for c in combo) + CD * nd.sum() + CA * na.sum()
        if capital < best:
            best = min(best, capital + route_cost(t, e, d, nd, na, 0.5, kd=KD, ka=KA)[1])
    assert res.objective == pytest.approx(best, rel=1e-6)
