"""LSCP and MCLP: brute force, solvers agreement, reductions, sparse input, errors."""

from __future__ import annotations


import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples import examples

from evsiting.core.errors import InfeasibleError, InputError, SolverError
from evsiting.models import LSCP, MCLP, LocationResult

from models_helpers import brute_lscp, brute_mclp, spatial_instance

SETTINGS = settings(max_examples=examples(25), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def small_instance(draw):
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, 10))
    vals = draw(st.lists(st.one_of(st.integers(0, 30).map(float), st.just(np.inf)),
                         min_size=n * m, max_size=n * m))
    cost = np.array(vals, dtype=float).reshape(n, m)
    w = np.array(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)), dtype=float)
    r = float(draw(st.integers(0, 30)))
    p = draw(st.integers(1, m))
    nreq = draw(st.integers(0, min(p, 2)))
    req = sorted(draw(st.sets(st.integers(0, m - 1), min_size=nreq, max_size=nreq)))
    return cost, w, r, p, req


@SETTINGS
@given(small_instance())
def test_mclp_brute_force(inst):
    cost, w, r, p, req = inst
    res = MCLP.from_cost_matrix(cost, weights=w, service_radius=r, p_facilities=p, required=req).solve("cbc")
    assert res.status == "optimal"
    assert res.objective == pytest.approx(brute_mclp(cost, w, r, p, req))
    assert res.gap == 0.0 and res.bound == pytest.approx(res.objective)
    assert len(res.selected) <= p and set(req).issubset(res.selected)
    # covered/assignment consistent with the selection
    cov = (cost[:, res.selected] <= r).any(axis=1) if len(res.selected) else np.zeros(len(w), bool)
    assert np.array_equal(res.covered, cov)
    assert res.objective == pytest.approx(w[cov].sum())


@SETTINGS
@given(small_instance())
def test_lscp_brute_force(inst):
    cost, w, r, _p, req = inst
    coverable = (cost <= r).any(axis=1).all()
    model = LSCP.from_cost_matrix(cost, service_radius=r, required=req)
    if not coverable:
        with pytest.raises(InfeasibleError, match="no candidate site within"):
            model.solve("cbc")
        return
    res = model.solve("cbc")
    assert res.status == "optimal"
    assert res.objective == brute_lscp(cost, r, req)
    assert res.covered.all()
    assert len(res.selected) == res.objective


def test_lscp_zero_weight_points_need_no_coverage():
    cost = np.array([[1.0, np.inf], [np.inf, 50.0]])
    res = LSCP.from_cost_matrix(cost, service_radius=10, weights=[1.0, 0.0]).solve()
    assert res.objective == 1 and list(res.selected) == [0]
    with pytest.raises(InfeasibleError, match=r"1 demand points \(1\)"):
        LSCP.from_cost_matrix(cost, service_radius=10).solve()


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_mclp_lscp_solvers_agree_spatial(solver):
    cost, w = spatial_instance(400, 60, seed=3)
    m = MCLP.from_cost_matrix(cost, weights=w, service_radius=12, p_facilities=8).solve(solver)
    l = LSCP.from_cost_matrix(cost, service_radius=25).solve(solver)
    mc = MCLP.from_cost_matrix(cost, weights=w, service_radius=12, p_facilities=8).solve("cbc")
    lc = LSCP.from_cost_matrix(cost, service_radius=25).solve("cbc")
    assert m.status == l.status == "optimal"
    assert m.objective == mc.objective and l.objective == lc.objective
    assert m.solver == solver and m.model == "MCLP"
    assert m.stats["reduced_candidates"] <= 60


def test_mclp_nearest_assignment_ties_lowest_index():
    cost = np.array([[5.0, 3.0, 3.0], [1.0, 9.0, 9.0], [20.0, 20.0, 20.0]])
    res = MCLP.from_cost_matrix(cost, weights=[1, 1, 1], service_radius=10, p_facilities=3).solve()
    # every candidate adds coverage only as a set; assignment must be nearest, ties lowest index
    assert res.objective == 2.0
    for i in range(2):
        sel = res.selected
        d = cost[i, sel]
        assert res.assignment[i] == sel[np.flatnonzero(d == d.min())[0]]
    assert res.assignment[2] == -1 and not res.covered[2]


def test_sparse_explicit_zero_is_a_real_cost():
    # client 0 reaches candidate 1 at cost 0 (stored zero); client 1 reaches nothing
    rows, cols, vals = [0, 0, 2], [1, 0, 0], [0.0, 30.0, 4.0]
    cost = sp.csr_matrix((vals, (rows, cols)), shape=(3, 2))
    assert cost.nnz == 3
    res = MCLP.from_cost_matrix(cost, weights=[5, 7, 1], service_radius=10, p_facilities=2).solve()
    assert res.objective == 6.0
    assert list(res.selected) == [0, 1]
    assert list(res.assignment) == [1, -1, 0]
    # dense view of the same matrix (zeros would be reachable there) differs: 7 more covered
    dense = np.full((3, 2), np.inf)
    dense[rows, cols] = vals
    res2 = MCLP.from_cost_matrix(dense, weights=[5, 7, 1], service_radius=10, p_facilities=2).solve()
    assert res2.objective == 6.0
    with pytest.raises(InfeasibleError, match="demand points"):
        LSCP.from_cost_matrix(cost, service_radius=10).solve()


def test_required_stations_always_open():
    cost, w = spatial_instance(150, 20, seed=5)
    res = MCLP.from_cost_matrix(cost, weights=w, service_radius=10, p_facilities=4, required=[0, 19]).solve()
    assert {0, 19}.issubset(res.selected) and len(res.selected) <= 4
    free = MCLP.from_cost_matrix(cost, weights=w, service_radius=10, p_facilities=4).solve()
    assert free.objective >= res.objective


def test_infeasibility_messages():
    cost = np.ones((3, 4))
    with pytest.raises(InfeasibleError, match="larger than the 4 candidate"):
        MCLP.from_cost_matrix(cost, service_radius=5, p_facilities=5)
    with pytest.raises(InfeasibleError, match="required .* exceed p_facilities=2"):
        MCLP.from_cost_matrix(cost, service_radius=5, p_facilities=2, required=[0, 1, 2])
    with pytest.raises(InputError):
        MCLP.from_cost_matrix(-cost, service_radius=5, p_facilities=1)
    with pytest.raises(InputError):
        MCLP.from_cost_matrix(cost, weights=[1, 2], service_radius=5, p_facilities=1)
    nan = cost.copy()
    nan[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        MCLP.from_cost_matrix(nan, service_radius=5, p_facilities=1)


def test_unknown_solver_lists_available():
    m = MCLP.from_cost_matrix(np.ones((2, 2)), service_radius=5, p_facilities=1)
    with pytest.raises(SolverError, match="available solvers: cbc, highs"):
        m.solve("gurobi")


def test_result_type_and_determinism():
    cost, w = spatial_instance(300, 40, seed=11)
    a = MCLP.from_cost_matrix(cost, weights=w, service_radius=10, p_facilities=6).solve()
    b = MCLP.from_cost_matrix(cost, weights=w, service_radius=10, p_facilities=6).solve()
    assert isinstance(a, LocationResult)
    assert np.array_equal(a.selected, b.selected) and np.array_equal(a.assignment, b.assignment)
    assert a.selected.dtype.kind == "i" and a.assignment.shape == (300,)


def test_from_geodataframe():
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import Point

    cost, w = spatial_instance(50, 10, seed=2)
    dem = gpd.GeoDataFrame({"nev_count": w}, geometry=[Point(i, 0) for i in range(50)], crs="EPSG:4326")
    cand = gpd.GeoDataFrame({"existing": [True] + [False] * 9}, geometry=[Point(0, i) for i in range(10)],
                            crs="EPSG:4326")
    res = MCLP.from_geodataframe(dem, cand, cost, weights_col="nev_count", service_radius=15,
                                 p_facilities=3, required_col="existing").solve()
    ref = MCLP.from_cost_matrix(cost, weights=w, service_radius=15, p_facilities=3, required=[0]).solve()
    assert res.objective == ref.objective and 0 in res.selected
    with pytest.raises(InputError):
        MCLP.from_geodataframe(dem, cand, cost[:, :5], weights_col="nev_count", p_facilities=2)


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_time_limit_keeps_incumbent_and_reports_gap(solver):
    # random (non-spatial) coverage is hard: not solvable to optimality in 1 s
    rng = np.random.default_rng(0)
    n, m, k = 4000, 500, 6
    rows = np.repeat(np.arange(n), k)
    cols = np.concatenate([rng.choice(m, k, replace=False) for _ in range(n)])
    cost = sp.csr_matrix((rng.uniform(0, 10, n * k), (rows, cols)), shape=(n, m))
    w = rng.integers(1, 100, n).astype(float)
    res = MCLP.from_cost_matrix(cost, weights=w, service_radius=10, p_facilities=40).solve(solver, time_limit=1)
    assert res.status == "feasible"
    assert res.gap > 0 and res.bound > res.objective > 0
    assert "time limit" in res.message
    assert res.objective == pytest.approx(w[res.covered].sum())
    assert len(res.selected) <= 40


def test_lscp_time_limit_returns_a_full_cover():
    """A synthetic cover that HiGHS does not solve in 1 s (10 % gap there): 2-8 candidates per
    point. Not exactly 4 per point: on that instance (LP optimum 1/4 everywhere, every row
    tight) HiGHS 1.16's root mod-k cut separation runs 7-12 s without looking at the clock or
    calling the interrupt callbacks, so no caller can stop it at its limit (a HiGHS limit)."""
    rng = np.random.default_rng(1)
    n, m = 2000, 300
    ks = rng.integers(2, 9, n)
    rows = np.repeat(np.arange(n), ks)
    cols = np.concatenate([rng.choice(m, k, replace=False) for k in ks])
    cost = sp.csr_matrix((rng.uniform(0, 10, rows.size), (rows, cols)), shape=(n, m))
    res = LSCP.from_cost_matrix(cost, service_radius=10).solve("highs", time_limit=1)
    assert res.covered.all()
    assert res.objective == len(res.selected)
    if res.status == "feasible":
        assert res.bound < res.objective and res.gap > 0
    else:
        assert res.status == "optimal" and res.gap == 0


def test_mclp_does_not_build_redundant_stations():
    # candidates cover {A,B}, {C,D}, {A,C}, {B,D}; p=3 but two stations cover everyone
    inf = np.inf
    cost = np.array([[1, inf, 1, inf], [1, inf, inf, 1], [inf, 1, 1, inf], [inf, 1, inf, 1]], dtype=float)
    res = MCLP.from_cost_matrix(cost, weights=[1, 1, 1, 1], service_radius=5, p_facilities=3).solve()
    assert res.objective == 4 and res.status == "optimal"
    assert len(res.selected) == 2 and res.covered.all()
    kept = MCLP.from_cost_matrix(cost, weights=[1, 1, 1, 1], service_radius=5, p_facilities=3,
                                 required=[0, 1, 2]).solve()
    assert list(kept.selected) == [0, 1, 2]


@st.composite
def cover_matrix(draw):
    n = draw(st.integers(1, 10))
    m = draw(st.integers(1, 8))
    cells = draw(st.lists(st.booleans(), min_size=n * m, max_size=n * m))
    a = np.array(cells, dtype=np.int8).reshape(n, m)
    a[:, draw(st.integers(0, m - 1))] |= (a.sum(axis=1) == 0).astype(np.int8)  # every row coverable
    return sp.csr_matrix(a), draw(st.integers(1, m))


@SETTINGS
@given(cover_matrix())
def test_find_full_cover_brute_force(inst):
    import itertools

    from evsiting.models.coverage import find_full_cover

    a, k = inst
    dense = a.toarray().astype(bool)
    exists = any(dense[:, list(s)].any(axis=1).all() for s in itertools.combinations(range(a.shape[1]), k))
    cols, verdict = find_full_cover(a, k, "cbc", None)
    assert verdict == ("found" if exists else "none")
    if exists:
        assert len(cols) <= k and dense[:, cols].any(axis=1).all()
    else:
        assert cols is None


def test_swap_local_search_improves_greedy():
    from evsiting.models.coverage import cover_value, greedy_max_cover, swap_local_search

    # greedy takes the big middle column 0 first and then can add only one side (weight 11);
    # the two side columns 1 and 2 together cover 12
    a = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1]], np.int8))
    w = np.array([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    g = greedy_max_cover(a, w, 2)
    assert cover_value(sp.csc_matrix(a), w, g) == 10.0
    s = swap_local_search(a, w, g)
    assert sorted(s.tolist()) == [1, 2] and cover_value(sp.csc_matrix(a), w, s) == 12.0


def test_mclp_full_cover_is_proven_without_the_mip_and_otherwise_solved():
    cost, w = spatial_instance(80, 12, seed=7)
    r = float(cost.min(axis=1).max())  # every demand point coverable
    k = int(LSCP.from_cost_matrix(cost, service_radius=r).solve("cbc").objective)
    assert k >= 2
    full = MCLP.from_cost_matrix(cost, weights=w, service_radius=r, p_facilities=k).solve("cbc")
    assert full.status == "optimal" and full.objective == w.sum() and full.covered.all()
    assert full.stats["proof"] == "all coverable demand covered" and "solve_s" not in full.stats
    short = MCLP.from_cost_matrix(cost, weights=w, service_radius=r, p_facilities=k - 1)
    for solver in ("cbc", "highs"):
        res = short.solve(solver)
        assert res.status == "optimal" and res.objective < w.sum()
        assert "proof" not in res.stats
        assert res.objective == pytest.approx(brute_mclp(cost, w, r, k - 1))
