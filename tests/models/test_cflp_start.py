"""The capacitated model's start plan (models/_cflp_start.py): on synthetic instances with access
cost, a DC/AC split, several stations per site, existing ports and the per-station power limit,
the plan it builds satisfies every row of the model, and a solve whose MIP steps find nothing
still returns that plan with an honest gap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evsiting.models import _cflp
from evsiting.models._cflp import build
from evsiting.models._cflp_start import max_ports, slope_scaling, start_plan
from evsiting.models.capacitated import CapacitatedSiting, _trimmed


def _synthetic(seed: int, *, existing: bool = True) -> CapacitatedSiting:
    rng = np.random.default_rng(seed)
    n, m = 40, 12
    cost = rng.uniform(1, 20, (n, m))
    cost[rng.random((n, m)) < 0.4] = np.inf
    cost[np.arange(n), rng.integers(0, m, n)] = rng.uniform(1, 5, n)  # every point reaches a site
    e = rng.uniform(50, 900, n)
    ex_dc = np.zeros(m)
    if existing:
        ex_dc[0] = 4
    return CapacitatedSiting.from_cost_matrix(
        cost, e, 0.9 * e, 15.0, dc_port_kwh_day=123.7, ac_port_kwh_day=9.3, max_dc_ports=30, max_ac_ports=50,
        max_stations=rng.integers(1, 4, m), site_cost_cny=400_000, dc_port_cost_cny=80_000, ac_port_cost_cny=5_000,
        existing_dc=ex_dc, allocation_cny_per_kwh_min=56.0, dc_port_kw=93.0, ac_port_kw=7.0, max_station_kw=920.0)


def _feasible(mm, x) -> bool:
    ax = mm.A @ x
    tol = 1e-6 * np.maximum(1.0, np.abs(ax))
    rows = np.all(ax >= mm.row_lo - tol) and np.all(ax <= mm.row_hi + tol)
    cols = np.all(x >= mm.col_lo - 1e-6) and np.all(x <= mm.col_hi + 1e-6)
    ints = np.allclose(x[mm.integer], np.round(x[mm.integer]))
    return bool(rows and cols and ints)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_start_plan_satisfies_every_row_and_serves_all_energy(seed):
    mdl = _synthetic(seed)
    inst = mdl.reduce().instance
    mm = build(inst)
    x, obj = start_plan(inst, mm, lambda v: _trimmed(inst, mm, v), lambda: None)
    assert x is not None and _feasible(mm, x)
    assert obj == pytest.approx(float(mm.c @ x + mm.offset))
    served = np.bincount(np.repeat(np.arange(inst.pairs.shape[0]), np.diff(inst.pairs.indptr)),
                         weights=x[mm.blocks["w"]], minlength=inst.pairs.shape[0])
    np.testing.assert_allclose(served, inst.E, rtol=1e-6)
    # never below a proven lower bound: a 1 % gap (this test checks the plan's rows, not the
    # optimum, which the brute-force tests prove; a 0 % proof took 2-3 s per seed)
    best = mdl.solve(time_limit=None, mip_gap=0.01)
    assert best.gap <= 0.01 and best.bound <= best.objective and obj >= best.bound * (1 - 1e-9)


def test_max_ports_respect_the_power_limit_and_the_port_maxima():
    inst = _synthetic(3, existing=False).reduce().instance
    k = np.where(inst.new, inst.max_stations, 0).astype(float)
    nd, na = max_ports(inst, k)
    assert (93.0 * nd + 7.0 * na <= 920.0 * np.maximum(k, 1) + 1e-9).all()
    assert (nd <= inst.hi_dc * k).all() and (na <= inst.hi_ac * k).all()
    assert (nd[k == 1] == 9).all() and (na[k == 1] == 11).all()  # 9 x 93 + 11 x 7 = 914 kW


def test_slope_scaling_is_no_worse_than_opening_every_station():
    mdl = _synthetic(4)
    inst = mdl.reduce().instance
    mm = build(inst)
    x, obj = slope_scaling(inst, mm, lambda v: _trimmed(inst, mm, v), lambda: None, rounds=1)
    x5, obj5 = slope_scaling(inst, mm, lambda v: _trimmed(inst, mm, v), lambda: None, rounds=6)
    assert _feasible(mm, x5) and obj5 <= obj + 1e-6


def test_a_solve_whose_mip_steps_find_nothing_keeps_the_start_plan(monkeypatch):
    mdl = _synthetic(5)
    original = _cflp.solve_highs

    def no_mip_plans(mm, **kw):  # every MIP stops without a plan, as at a short limit on a busy machine
        if mm.integer.any():
            return _cflp.HighsOutcome(None, math.nan, -math.inf, "time_limit", 0.0, 0)
        return original(mm, **kw)

    monkeypatch.setattr("evsiting.models.capacitated.solve_highs", no_mip_plans)
    monkeypatch.setattr("evsiting.models._cflp.solve_highs", no_mip_plans)  # the Lagrangian path's
    for forced in (False, True):  # the LP path and the Lagrangian path
        mdl.use_lagrangian = forced
        res = mdl.solve(time_limit=30, mip_gap=0.0)
        assert res.status == "feasible" and res.gap > 0 and res.unserved.sum() == pytest.approx(0.0, abs=1e-6)
        assert res.bound <= res.objective


def test_an_outside_start_at_the_optimum_is_kept_and_never_changes_the_bound():
    """A plan from outside (``start_stations``, e.g. a sensitivity's base plan) at the stations of
    a proven optimum is routed, kept (no start of the model's own is cheaper) and returned at
    the same cost; the bound is the model's own. Synthetic instance."""
    mdl = _synthetic(6, existing=False)
    opt = mdl.solve(time_limit=None, mip_gap=0.0)
    assert opt.status == "optimal"
    warm = _synthetic(6, existing=False).solve(time_limit=None, mip_gap=0.0, start_stations=opt.stations)
    assert warm.status == "optimal" and warm.stats["outside_start"] == "kept"
    assert warm.objective == pytest.approx(opt.objective, rel=1e-9)
    assert warm.stats["outside_start_cny"] == pytest.approx(opt.objective, rel=1e-6)


def test_an_outside_start_that_cannot_hold_the_energy_is_completed_or_set_aside():
    """Stations that hold less than the energy (one station at the first site only): the start
    plan adds the LP's stations rounded up to them, and without such a guess the outside start
    gives no plan and is set aside. Synthetic instance."""
    mdl = _synthetic(7, existing=False)
    k = np.zeros(mdl.cost.shape[1])
    k[0] = 1
    res = mdl.solve(time_limit=None, mip_gap=0.01, start_stations=k)
    assert res.stats["outside_start"] in ("kept", "dearer") and res.gap <= 0.01
    assert float(res.served.sum()) == pytest.approx(float(mdl.weights.sum()), rel=1e-6)
    inst = mdl.reduce().instance
    mm = build(inst)
    stats: dict = {}
    one = (np.arange(inst.new.size) == 0).astype(float)  # one station at the reduced instance's first site
    x, _ = start_plan(inst, mm, lambda v: _trimmed(inst, mm, v), lambda: None, k_outside=one, stats=stats)
    assert stats["outside_start"] == "infeasible" and x is not None and _feasible(mm, x)


@pytest.mark.parametrize("bad", [np.ones(3), -np.ones(12), np.full(12, np.nan)])
def test_a_malformed_outside_start_is_refused(bad):
    with pytest.raises(ValueError, match="start_stations"):
        _synthetic(8).solve(time_limit=None, start_stations=bad)
