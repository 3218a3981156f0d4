"""CapacitatedSiting with allocation cost: the Lagrangian step (steps 3'-5') and the power limit
per station, against brute force on tiny synthetic instances (DC/AC split, existing ports,
several stations per site); the Lagrangian bound never above a known optimum; a solve keeps
its time limit."""

from __future__ import annotations

import contextlib
import itertools
import time
from pathlib import Path

import numpy as np
import pytest

from evsiting.core.errors import InputError, SolverError
from evsiting.models import _cflp_lr, capacitated
from evsiting.models._cflp import build, solve_highs
from evsiting.models.capacitated import CapacitatedSiting, MatrixCopy
from evsiting.models.cst import cst_instance
from evsiting.models.orlib import cap_model, cap_optima, read_cap
from evsiting.core.settings import shared_dir

from models_helpers import route_cost

KD, KA = 10.0, 3.0  # kWh/day per DC / AC port (synthetic)
PD, PA = 60.0, 7.0  # kW per DC / AC port (synthetic)
F, CD, CA = 50.0, 20.0, 4.0


def brute_force(t, e, d, *, k, max_dc, max_ac, ex_dc, ex_ac, alpha, station_kw=None, cd=CD, ca=CA):
    """Least total cost over every (stations, DC ports, AC ports) of every site."""
    n, m = t.shape
    opts = []
    for j in range(m):
        ex = ex_dc[j] + ex_ac[j] > 0
        ys = [1] if ex else range(k[j] + 1)
        o = []
        for y in ys:
            hd = max(ex_dc[j], max_dc) if ex else max_dc * y
            ha = max(ex_ac[j], max_ac) if ex else max_ac * y
            for a in range(ex_dc[j], hd + 1):
                for b in range(ex_ac[j], ha + 1):
                    if station_kw is not None:
                        lim = max(station_kw[j], PD * ex_dc[j] + PA * ex_ac[j]) if ex else station_kw[j] * y
                        if PD * a + PA * b > lim + 1e-9:
                            continue
                    o.append((y, a, b, ex))
        opts.append(o)
    best = np.inf
    for combo in itertools.product(*opts):
        nd = np.array([c[1] for c in combo]); na = np.array([c[2] for c in combo])
        capital = sum(F * c[0] for c in combo if not c[3]) + cd * (nd - ex_dc).sum() + ca * (na - ex_ac).sum()
        if capital >= best:
            continue
        best = min(best, capital + route_cost(t, e, d, nd, na, alpha, kd=KD, ka=KA)[1])
    return best


def tiny(seed, n=4, m=2):
    rng = np.random.default_rng(seed)
    t = rng.uniform(1, 20, size=(n, m))
    t[rng.random((n, m)) < 0.25] = np.inf  # sparse pairs: each point has its own reach
    t[np.arange(n), rng.integers(0, m, n)] = rng.uniform(1, 10, n)
    e = rng.uniform(2, 9, n).round(2)
    d = (e * rng.uniform(0, 0.8, n)).round(2)
    return t, e, d


def model(t, e, d, *, k, ex_dc, ex_ac, alpha, station_kw=None, use_lagrangian=None, method=None, port_costs=(CD, CA)):
    mdl = CapacitatedSiting.from_cost_matrix(
        t, e, d, np.inf, dc_port_kwh_day=KD, ac_port_kwh_day=KA, max_dc_ports=1, max_ac_ports=2, max_stations=k,
        site_cost_cny=F, dc_port_cost_cny=port_costs[0], ac_port_cost_cny=port_costs[1], existing_dc=ex_dc,
        existing_ac=ex_ac, allocation_cny_per_kwh_min=alpha, dc_port_kw=PD, ac_port_kw=PA, max_station_kw=station_kw)
    mdl.use_lagrangian = {"lagrangian": True, "lp": False}.get(method, use_lagrangian)
    mdl.use_branch_and_bound = {"bb": True, None: None}.get(method, False)
    return mdl


# limits of at least one DC port's kW: below it the feasibility max-flow (an LP) may count a
# fraction of a DC port as capacity (see the report of issue 24)
CASES = [  # seed, stations per site, existing DC/AC, power per station (kW)
    (0, [2, 1], [0, 0], [0, 0], None),
    (1, [2, 2], [1, 0], [0, 0], [70.0, 70.0]),
    (2, [1, 2], [0, 0], [0, 0], [67.0, 67.0]),
    (3, [2, 2], [0, 0], [0, 3], [67.0, np.inf]),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["lagrangian", "lp", "bb", "default"])
def test_allocation_cost_several_stations_and_power_limit_match_brute_force(case, method, monkeypatch):
    seed, k, ex_dc, ex_ac, kw = case
    if method == "default":  # the default path's Lagrangian steps also on these tiny instances
        monkeypatch.setattr(capacitated, "LAGRANGIAN_PAIRS_MIN", 0)
    t, e, d = tiny(seed)
    ex_dc, ex_ac = np.array(ex_dc), np.array(ex_ac)
    mdl = model(t, e, d, k=k, ex_dc=ex_dc, ex_ac=ex_ac, alpha=0.7, station_kw=kw, method=method)
    res = mdl.solve(mip_gap=0)
    want = brute_force(t, e, d, k=k, max_dc=1, max_ac=2, ex_dc=ex_dc, ex_ac=ex_ac, alpha=0.7,
                       station_kw=None if kw is None else np.array(kw))
    assert np.isfinite(want)
    if res.short.sum() > 0:  # beyond what the sites hold: brute force would be infeasible
        pytest.skip("synthetic instance beyond capacity")
    assert res.status == "optimal"
    assert res.objective == pytest.approx(want, rel=1e-6)
    assert res.bound <= want * (1 + 1e-9)
    if method == "default" and kw is None and res.stats.get("incumbent_gap_vs_lp", 0) > 0:
        assert "lagrangian_s" in res.stats  # the Lagrangian steps followed the LP's incumbent
    if kw is not None:  # every station within its power limit
        lim = np.where((ex_dc + ex_ac) > 0, np.maximum(kw, PD * ex_dc + PA * ex_ac), np.array(kw) * res.stations)
        assert (PD * res.dc_ports + PA * res.ac_ports <= lim + 1e-6).all()


@pytest.mark.parametrize("case", [c for c in CASES if c[4] is None] + [(4, [2, 2], [1, 0], [0, 1], None),
                                                                      (5, [1, 3], [0, 0], [0, 0], None)])
def test_branch_and_bound_on_free_ports_matches_brute_force(case):
    """Ports that cost nothing (classic CFLP with DC/AC split, several stations, existing ports):
    the Lagrangian branch-and-bound is the default path and proves the brute-force optimum."""
    seed, k, ex_dc, ex_ac, _ = case
    t, e, d = tiny(seed, n=5)
    ex_dc, ex_ac = np.array(ex_dc), np.array(ex_ac)
    mdl = model(t, e, d, k=k, ex_dc=ex_dc, ex_ac=ex_ac, alpha=0.7, port_costs=(0.0, 0.0))
    res = mdl.solve(mip_gap=0)
    if res.short.sum() > 0:
        pytest.skip("synthetic instance beyond capacity")
    want = brute_force(t, e, d, k=k, max_dc=1, max_ac=2, ex_dc=ex_dc, ex_ac=ex_ac, alpha=0.7, cd=0.0, ca=0.0)
    assert "bb_nodes" in res.stats  # the branch-and-bound path ran
    assert res.status == "optimal" and res.objective == pytest.approx(want, rel=1e-6)
    assert res.bound <= want * (1 + 1e-9)


def test_power_limit_binds_and_existing_stations_keep_their_kw():
    t = np.array([[1.0, 5.0], [2.0, 4.0]])
    e = np.array([9.0, 9.0])
    d = np.zeros(2)
    free = model(t, e, d, k=[3, 3], ex_dc=np.zeros(2, int), ex_ac=np.zeros(2, int), alpha=0.1).solve(mip_gap=0)
    capped = model(t, e, d, k=[3, 3], ex_dc=np.zeros(2, int), ex_ac=np.zeros(2, int), alpha=0.1,
                   station_kw=[PA * 2, PA * 2]).solve(mip_gap=0)
    one = model(t, e, d, k=[3, 3], ex_dc=np.zeros(2, int), ex_ac=np.zeros(2, int), alpha=0.1,
                station_kw=[PA, PA]).solve(mip_gap=0)
    # without a limit DC ports (10 kWh/day for 20 CNY) serve; 14 kW per station allows AC only,
    # and 7 kW one AC port per station: each tighter limit costs more, and every limit holds
    assert free.dc_ports.sum() > 0 and capped.dc_ports.sum() == 0 and one.dc_ports.sum() == 0
    assert free.objective < capped.objective < one.objective
    assert (PA * capped.ac_ports <= 2 * PA * capped.stations + 1e-9).all()
    assert (one.ac_ports <= one.stations).all() and one.stations.sum() >= 6
    # an existing station above the limit stays feasible (grandfathered)
    ex = model(t, e, d, k=[3, 3], ex_dc=np.array([1, 0]), ex_ac=np.zeros(2, int), alpha=0.1,
               station_kw=[PA, PA]).solve(mip_gap=0)
    assert ex.dc_ports[0] >= 1


def test_power_limit_inputs_are_checked():
    t, e, d = tiny(0)
    with pytest.raises(InputError) as exc:
        CapacitatedSiting.from_cost_matrix(t, e, d, np.inf, dc_port_kwh_day=KD, ac_port_kwh_day=KA, max_station_kw=100.0)
    assert exc.value.field == "dc_port_kw"
    with pytest.raises(InputError) as exc:
        CapacitatedSiting.from_cost_matrix(t, e, d, np.inf, dc_port_kwh_day=KD, ac_port_kwh_day=KA, dc_port_kw=60,
                                           ac_port_kw=7, max_station_kw=[-1.0, 5.0])
    assert exc.value.field == "max_station_kw"


@pytest.mark.parametrize("name", ["cap41", "cap71", "cap131"])
def test_lagrangian_bound_never_above_the_published_optimum(name):
    folder = Path(shared_dir()) / "orlib_cap"
    inst0 = read_cap(folder / f"{name}.txt")
    opt = cap_optima(folder)[name]
    inst = cap_model(inst0).reduce().instance
    d = _cflp_lr.lr_data(inst)
    n = inst.pairs.shape[0]
    mm = build(inst)
    rl = MatrixCopy(mm)
    rl.integer[:] = False
    lp = solve_highs(rl, duals=True)
    for u0 in (_cflp_lr.start_multipliers(d, n), lp.row_dual[:n]):
        lb, u, _, _, _ = _cflp_lr.subgradient(d.sptr, d.pi, d.a, d.ub, d.E, d.Q, d.C, d.F, d.klo, d.khi, d.pp, d.pg, u0,
                                              opt, 300, 2.0, _cflp_lr.KNAP_NODES)
        assert lb <= opt * (1 + 1e-9)
        L, lo0, lo1, _ = _cflp_lr.penalties(d.sptr, d.pi, d.a, d.ub, d.E, d.Q, d.C, d.F, d.klo, d.khi, d.pp, d.pg, u, 2000)
        assert L <= opt * (1 + 1e-9)
        # a deadline already passed: no site tested, so nothing can be fixed, and the step says so
        stats: dict = {}
        L2, lo0b, lo1b, _ = _cflp_lr.penalties(d.sptr, d.pi, d.a, d.ub, d.E, d.Q, d.C, d.F, d.klo, d.khi, d.pp, d.pg, u, 2000,
                                               deadline=time.perf_counter() - 1.0, stats=stats)
        assert L2 == L and (lo0b == L).all() and (lo1b == L).all()
        assert stats["time_limited_steps"] == ["penalties"] and stats["penalty_sites_tested"] == 0
        assert (lo0 >= L - 1e-6).all() and (lo1 >= L - 1e-6).all() and ((lo0 > L) | (lo1 > L)).any()
    # at the LP's duals the bound is at least the LP's (the knapsack adds integrality)
    assert lb >= lp.objective * (1 - 1e-7)
    # the full solve with the Lagrangian step forced reaches the optimum
    mdl = cap_model(inst0)
    mdl.use_lagrangian, mdl.use_branch_and_bound = True, False
    res = mdl.solve(mip_gap=0)
    assert res.status == "optimal" and res.objective == pytest.approx(opt, rel=1e-6)


@pytest.mark.parametrize("name", ["cap41", "cap71", "cap104", "cap131", "cap134"])
def test_branch_and_bound_proves_the_published_optimum(name):
    """Classic CFLP (ports free): the Lagrangian branch-and-bound is the default path; its root
    bound and final bound never exceed the published optimum, and it proves that optimum."""
    folder = Path(shared_dir()) / "orlib_cap"
    opt = cap_optima(folder)[name]
    res = cap_model(read_cap(folder / f"{name}.txt")).solve(mip_gap=0)
    assert "bb_nodes" in res.stats
    assert res.stats["bb_root_bound"] <= opt * (1 + 1e-9) and res.bound <= opt * (1 + 1e-9)
    assert res.status == "optimal" and res.objective == pytest.approx(opt, rel=1e-6)


def test_cover_knapsack_matches_enumeration():
    rng = np.random.default_rng(4)
    for _ in range(30):
        c = rng.uniform(0, 10, 8)
        q = rng.uniform(1, 10, 8)
        need = rng.uniform(0, q.sum())
        lb, x, exact = _cflp_lr._cover_knapsack(c, q, need, 100000)
        best = min(c @ np.array(b) for b in itertools.product([0, 1], repeat=8) if q @ np.array(b) >= need)
        assert exact and lb == pytest.approx(best) and q @ x >= need - 1e-9 and c @ x == pytest.approx(best)


@pytest.mark.parametrize("method", ["lagrangian", "lp", "bb"])
def test_a_solve_keeps_its_time_limit(method):
    """Generous tolerance: this checks that the solve stops, not how fast it is. The 40 x 400
    instance is 1-18 % from proven at 2 s by every method."""
    def model_of(instance):
        mdl = cap_model(instance)
        mdl.use_lagrangian = method == "lagrangian"
        mdl.use_branch_and_bound = method == "bb"
        return mdl

    with contextlib.suppress(SolverError):  # compiles the kernels (same types, a smaller instance)
        model_of(cst_instance(10, 60, 3.0, 7)).solve(mip_gap=0, time_limit=1.0)
    mdl = model_of(cst_instance(40, 400, 3.0, 7))
    t0 = time.perf_counter()
    try:
        res = mdl.solve(mip_gap=0, time_limit=2.0)
    except SolverError:  # no plan found in time: said at once, not after the limit
        res = None
    took = time.perf_counter() - t0
    assert took <= 2.0 + 3.0
    if res is None:
        return
    assert res.objective >= res.bound - 1e-6 * abs(res.objective)
    assert res.status == "optimal" or res.message.startswith("time limit reached")
    assert res.gap == pytest.approx(max(res.objective - res.bound, 0) / abs(res.objective), rel=1e-6, abs=1e-12)


def test_cst_generator_is_repeatable_and_keeps_its_capacity_ratio():
    a, b = cst_instance(20, 200, 5.0, 3), cst_instance(20, 200, 5.0, 3)
    assert np.array_equal(a.alloc_cost, b.alloc_cost) and np.array_equal(a.capacity, b.capacity)
    assert a.capacity.sum() / a.demand.sum() == pytest.approx(5.0, rel=0.01)
    assert ((a.demand >= 5) & (a.demand <= 35)).all() and (a.capacity == np.round(a.capacity)).all()
    assert not np.array_equal(cst_instance(20, 200, 5.0, 4).alloc_cost, a.alloc_cost)
    with pytest.raises(ValueError):
        cst_instance(20, 200, 1.0, 3)


@pytest.mark.parametrize("seed", range(3))
def test_both_methods_agree_on_mid_size_instances_with_every_feature(seed):
    """Required sites, existing ports, several stations, DC shares, sparse pairs, power limits:
    the Lagrangian method and steps 3-5 prove the same optimum."""
    rng = np.random.default_rng(100 + seed)
    n, m = 30, 8
    t = rng.uniform(1, 20, size=(n, m))
    t[rng.random((n, m)) < 0.5] = np.inf
    t[np.arange(n), rng.integers(0, m, n)] = rng.uniform(1, 10, n)
    e = rng.uniform(1, 6, n)
    d = e * rng.uniform(0, 0.6, n)
    ex_dc = np.zeros(m, int)
    ex_ac = np.zeros(m, int)
    ex_dc[0], ex_ac[1] = 1, 2
    kw = rng.uniform(60, 200, m)
    out = []
    for lagr in (True, False):
        mdl = CapacitatedSiting.from_cost_matrix(
            t, e, d, np.inf, dc_port_kwh_day=KD, ac_port_kwh_day=KA, max_dc_ports=2, max_ac_ports=4,
            max_stations=[1, 1, 2, 3, 2, 1, 3, 2], site_cost_cny=F,
            dc_port_cost_cny=CD, ac_port_cost_cny=CA, existing_dc=ex_dc, existing_ac=ex_ac, allocation_cny_per_kwh_min=0.5,
            required=[2], dc_port_kw=PD, ac_port_kw=PA, max_station_kw=kw)
        mdl.use_lagrangian = lagr
        res = mdl.solve(mip_gap=0)
        assert "bb_nodes" not in res.stats  # priced ports: the branch-and-bound is not the default
        assert res.status == "optimal" and res.bound <= res.objective * (1 + 1e-9)
        assert res.stations[2] >= 1 and res.dc_ports[0] >= 1 and res.ac_ports[1] >= 2
        assert (PD * res.dc_ports + PA * res.ac_ports <= np.where((ex_dc + ex_ac) > 0, np.maximum(kw, PD * ex_dc + PA * ex_ac),
                                                                 kw * res.stations) + 1e-6).all()
        out.append(res.objective)
    assert out[0] == pytest.approx(out[1], rel=1e-7)


EXTRA = [(4, [2, 2], [1, 0], [0, 1], None), (6, [3, 1], [0, 1], [0, 2], [130.0, 70.0])]


@pytest.mark.parametrize("case", CASES + EXTRA)
def test_integer_port_relaxation_never_above_the_brute_force_optimum(case):
    """Priced integer ports inside each site's subproblem (``lr_data`` with every site in mode
    1, none, or the default choice; DC/AC split, existing ports, several stations, power
    limits): ``L(u)`` at any multipliers, the penalty tests' values and the subgradient's best
    bound stay at or below the brute-force optimum."""
    seed, k, ex_dc, ex_ac, kw = case
    t, e, d = tiny(seed, n=5)
    ex_dc, ex_ac = np.array(ex_dc), np.array(ex_ac)
    mdl = model(t, e, d, k=k, ex_dc=ex_dc, ex_ac=ex_ac, alpha=0.7, station_kw=kw)
    red = mdl.reduce()
    if red.short.sum() > 0:
        pytest.skip("synthetic instance beyond capacity")
    want = brute_force(t, e, d, k=k, max_dc=1, max_ac=2, ex_dc=ex_dc, ex_ac=ex_ac, alpha=0.7,
                       station_kw=None if kw is None else np.array(kw))
    inst = red.instance
    n = inst.pairs.shape[0]
    for mode in (False, True, None):
        dd = _cflp_lr.lr_data(inst, ports=mode)
        if mode is not None:
            assert (dd.pp[:, 10] == float(mode)).all()
        args = (dd.sptr, dd.pi, dd.a, dd.ub, dd.E, dd.Q, dd.C, dd.F, dd.klo, dd.khi, dd.pp, dd.pg)
        rng = np.random.default_rng(seed)
        for _ in range(20):  # any multipliers give a lower bound
            u = rng.uniform(-5, 60, n)
            L, lo0, lo1, _ = _cflp_lr.penalties(*args, u, 2000)
            assert L <= want * (1 + 1e-9) + 1e-9
            assert min(lo0.min(), lo1.min()) <= want * (1 + 1e-9) + 1e-9  # the optimum opens or closes each site
        lb, _, _, _, _ = _cflp_lr.subgradient(*args, _cflp_lr.start_multipliers(dd, n), want, 3000, 2.0, 2000)
        assert lb <= want * (1 + 1e-9) + 1e-9


def _site_value_by_enumeration(inst, dd, j, k, u):
    """A site's value with ``k`` stations by enumerating its integer ports (within the power
    limit) and solving the flows' LP with the exact DC-port row ``sum s_i w_i <= Kd nd``."""
    from scipy.optimize import linprog

    s = inst.D / inst.E
    pairs = np.arange(dd.sptr[j], dd.sptr[j + 1])
    lo_d, hd, _, lo_a, ha, _, cd, ca, _, _, _ = dd.pp[j]
    best = np.inf
    for nd in range(int(lo_d), int(hd * k) + 1):
        for na in range(int(lo_a), int(ha * k) + 1):
            if PD * nd + PA * na > dd.pp[j, 9] * k + 1e-9:  # the kW per station (inf: none)
                continue
            r = dd.a[pairs] - u[dd.pi[pairs]]
            ub = dd.ub[pairs] * k
            A = [s[dd.pi[pairs]], np.ones(pairs.size), np.ones(pairs.size)]
            b = [KD * nd, KD * nd + KA * na, min(k * dd.Q[j], dd.C[j])]
            out = linprog(r, A_ub=A, b_ub=b, bounds=list(zip(np.zeros(pairs.size), ub)))
            best = min(best, dd.F[j] * k + cd * (nd - lo_d) + ca * (na - lo_a) + out.fun)
    return best


@pytest.mark.parametrize("case", CASES + EXTRA)
@pytest.mark.parametrize("uniform", [False, True])
def test_integer_port_site_values_match_enumeration(case, uniform):
    """Each site's value in mode 1 (integer ports, the least DC share) never exceeds the
    enumeration over its integer ports with the exact DC row, and equals it when every point
    has the same DC share (the least share is then exact)."""
    seed, k, ex_dc, ex_ac, kw = case
    t, e, d = tiny(seed, n=5)
    if uniform:
        d = (e * 0.6).round(6)
    mdl = model(t, e, d, k=k, ex_dc=np.array(ex_dc), ex_ac=np.array(ex_ac), alpha=0.7, station_kw=kw)
    inst = mdl.reduce().instance
    dd = _cflp_lr.lr_data(inst, ports=True)
    voff, v, vcap, vflow = _cflp_lr.value_space(dd.khi)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        u = rng.uniform(0, 60, inst.pairs.shape[0])
        _cflp_lr._site_values(dd.sptr, dd.pi, dd.a, dd.ub, dd.Q, dd.C, dd.F, dd.khi, u, voff, v, vcap, vflow, dd.pp, dd.pg)
        for j in range(dd.khi.size):
            for kk in range(max(dd.klo[j], 1), dd.khi[j] + 1):
                want = _site_value_by_enumeration(inst, dd, j, kk, u)
                assert v[voff[j] + kk] <= want + 1e-7 * max(1.0, abs(want))
                if uniform:
                    assert v[voff[j] + kk] == pytest.approx(want, rel=1e-7, abs=1e-7)
