"""PMedian and PCenter: brute force, OR-Library optima with both solvers, errors."""

from __future__ import annotations

from pathlib import Path


import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples import examples

from evsiting.core.errors import InfeasibleError, InputError
from evsiting.models import PCenter, PMedian
from evsiting.models.orlib import PMEDIAN_OPTIMA, pcenter_optima, read_pmed
from evsiting.core.settings import shared_dir

from models_helpers import brute_pcenter, brute_pmedian, spatial_instance

SETTINGS = settings(max_examples=examples(25), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
ORLIB = Path(shared_dir()) / "orlib"


@st.composite
def small_instance(draw, allow_inf=True):
    n = draw(st.integers(1, 10))
    m = draw(st.integers(1, 10))
    el = st.integers(0, 40).map(float)
    if allow_inf:
        el = st.one_of(el, el, st.just(np.inf))
    cost = np.array(draw(st.lists(el, min_size=n * m, max_size=n * m)), dtype=float).reshape(n, m)
    w = np.array(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)), dtype=float)
    p = draw(st.integers(1, m))
    nreq = draw(st.integers(0, min(p, 2)))
    req = sorted(draw(st.sets(st.integers(0, m - 1), min_size=nreq, max_size=nreq)))
    return cost, w, p, req


@SETTINGS
@given(small_instance())
def test_pmedian_brute_force(inst):
    res = _check_pmedian_against_brute_force(inst, "cbc")
    assert res is None or res.gap == 0.0


def _check_pmedian_against_brute_force(inst, solver):
    """The solve equals exhaustive enumeration (or both find no solution); returns the result."""
    cost, w, p, req = inst
    best = brute_pmedian(cost, w, p, req)
    model = PMedian.from_cost_matrix(cost, weights=w, p_facilities=p, required=req)
    if not np.isfinite(best):
        with pytest.raises(InfeasibleError):
            model.solve(solver)
        return None
    res = model.solve(solver)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert set(req).issubset(res.selected) and len(res.selected) <= p
    return res
    d = cost[np.arange(len(w)), res.assignment]
    assert np.isfinite(d).all()
    assert res.objective == pytest.approx(float((w * d).sum()))


@SETTINGS
@given(small_instance())
def test_pcenter_brute_force(inst):
    cost, _w, p, req = inst
    best = brute_pcenter(cost, p, req)
    model = PCenter.from_cost_matrix(cost, p_facilities=p, required=req)
    if not np.isfinite(best):
        with pytest.raises(InfeasibleError):
            model.solve("cbc")
        return
    res = model.solve("cbc")
    assert res.status == "optimal"
    assert res.objective == best
    assert set(req).issubset(res.selected) and len(res.selected) <= p


@pytest.mark.parametrize("solver", ["cbc", "highs"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_orlib_pmedian_optima(solver, k):
    inst = read_pmed(ORLIB / f"pmed{k}.txt")
    res = PMedian.from_cost_matrix(inst.cost, p_facilities=inst.p).solve(solver)
    assert res.status == "optimal"
    assert res.objective == PMEDIAN_OPTIMA[f"pmed{k}"]
    assert res.bound == res.objective and len(res.selected) == inst.p


@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_orlib_pcenter_optima(solver):
    opt = pcenter_optima(ORLIB)
    for k in range(1, 6):
        inst = read_pmed(ORLIB / f"pmed{k}.txt")
        res = PCenter.from_cost_matrix(inst.cost, p_facilities=inst.p).solve(solver)
        assert res.status == "optimal"
        assert res.objective == opt[f"pmed{k}"], k
        assert len(res.selected) <= inst.p


def test_orlib_reader_last_duplicate_counts(tmp_path):
    f = tmp_path / "pmedX.txt"
    f.write_text(" 3 3 1 \n 1 2 10 \n 2 3 5 \n 2 1 4 \n")
    inst = read_pmed(f)
    assert inst.cost[0, 1] == 4 and inst.cost[0, 2] == 9
    res = PMedian.from_cost_matrix(inst.cost, p_facilities=1).solve()
    assert res.objective == 9 and list(res.selected) == [1]
    with pytest.raises(InputError):
        read_pmed(tmp_path / "missing.txt")


def test_pmedian_pcenter_solvers_agree_sparse():
    cost, w = spatial_instance(150, 30, seed=7, cutoff=45)
    r, c = np.nonzero(np.isfinite(cost))
    csr = sp.csr_matrix((cost[r, c], (r, c)), shape=cost.shape)
    a = PMedian.from_cost_matrix(csr, weights=w, p_facilities=6).solve("cbc")
    b = PMedian.from_cost_matrix(cost, weights=w, p_facilities=6).solve("highs")
    assert a.status == b.status == "optimal" and a.objective == b.objective
    c1 = PCenter.from_cost_matrix(csr, p_facilities=6).solve("cbc")
    c2 = PCenter.from_cost_matrix(cost, p_facilities=6).solve("highs")
    assert c1.objective == c2.objective


def test_sparse_explicit_zero_pmedian():
    # client 0 sits on candidate 1 (stored zero); client 1 reaches only candidate 0
    cost = sp.csr_matrix(([0.0, 7.0, 3.0], ([0, 0, 1], [1, 0, 0])), shape=(2, 2))
    res = PMedian.from_cost_matrix(cost, weights=[10, 1], p_facilities=2).solve()
    assert res.objective == 3.0 and list(res.assignment) == [1, 0]
    res1 = PMedian.from_cost_matrix(cost, weights=[10, 1], p_facilities=1).solve()
    assert res1.objective == 73.0 and list(res1.selected) == [0]
    pc = PCenter.from_cost_matrix(cost, p_facilities=2).solve()
    assert pc.objective == 3.0


def test_infeasibility_messages():
    cost = np.array([[1.0, np.inf], [np.inf, 2.0], [np.inf, np.inf]])
    with pytest.raises(InfeasibleError, match=r"1 demand points \(2\) cannot reach any candidate"):
        PMedian.from_cost_matrix(cost, p_facilities=1).solve()
    with pytest.raises(InfeasibleError, match="cannot reach any candidate"):
        PCenter.from_cost_matrix(cost, p_facilities=1).solve()
    two = cost[:2]
    with pytest.raises(InfeasibleError, match="raise p_facilities"):
        PMedian.from_cost_matrix(two, p_facilities=1).solve()
    with pytest.raises(InfeasibleError, match="raise p_facilities"):
        PCenter.from_cost_matrix(two, p_facilities=1).solve()
    with pytest.raises(InfeasibleError, match="larger than the 2 candidate"):
        PMedian.from_cost_matrix(two, p_facilities=3)
    assert PMedian.from_cost_matrix(two, p_facilities=2).solve().objective == 3.0


@st.composite
def float_instance(draw):
    n = draw(st.integers(1, 9))
    m = draw(st.integers(1, 9))
    el = st.one_of(st.floats(0, 50, allow_nan=False), st.just(np.inf))
    cost = np.array(draw(st.lists(el, min_size=n * m, max_size=n * m)), dtype=float).reshape(n, m)
    w = np.array(draw(st.lists(st.floats(0, 5, allow_nan=False), min_size=n, max_size=n)), dtype=float)
    p = draw(st.integers(1, m))
    req = sorted(draw(st.sets(st.integers(0, m - 1), max_size=min(p, 1))))
    return cost, w, p, req


@SETTINGS
@given(float_instance())
def test_pmedian_brute_force_fractional(inst):
    """Non-integral minutes and weights: the branch-and-bound prunes without the integral rounding."""
    _check_pmedian_against_brute_force(inst, "highs")


@pytest.mark.parametrize("formulation,k", [("radius", k) for k in range(1, 6)] + [("classic", 1)])
@pytest.mark.parametrize("solver", ["cbc", "highs"])
def test_orlib_pmedian_mip_formulations(solver, formulation, k):
    """The MIP formulations through each solver (the default method uses neither)."""
    inst = read_pmed(ORLIB / f"pmed{k}.txt")
    res = PMedian.from_cost_matrix(inst.cost, p_facilities=inst.p).solve(solver, formulation=formulation)
    assert res.status == "optimal" and res.objective == PMEDIAN_OPTIMA[f"pmed{k}"]


def test_pmedian_time_limit_keeps_incumbent_and_gap():
    # pmed36 (800 nodes, p = 10) needs a branch-and-bound of several hundred nodes
    warm = read_pmed(ORLIB / "pmed2.txt")  # numba kernels compiled (or loaded) outside the limit
    PMedian.from_cost_matrix(warm.cost, p_facilities=warm.p).solve("highs")
    inst = read_pmed(ORLIB / "pmed36.txt")
    opt = PMEDIAN_OPTIMA["pmed36"]
    res = PMedian.from_cost_matrix(inst.cost, p_facilities=inst.p).solve("highs", time_limit=1)
    assert res.status == "feasible" and res.gap > 0
    assert res.bound <= opt <= res.objective
    assert res.gap == pytest.approx((res.objective - res.bound) / res.objective)
    assert res.runtime_s < 10
    assert "time limit" in res.message


def test_pmedian_mip_gap_stops_early():
    inst = read_pmed(ORLIB / "pmed36.txt")
    opt = PMEDIAN_OPTIMA["pmed36"]
    res = PMedian.from_cost_matrix(inst.cost, p_facilities=inst.p).solve("highs", mip_gap=0.02)
    assert res.status in ("optimal", "feasible")
    assert res.bound <= opt <= res.objective and res.gap <= 0.02
    assert res.stats["nodes"] == 0  # the root bound is within 2 %


def test_pcenter_mip_gap_stops_early():
    inst = read_pmed(ORLIB / "pmed16.txt")
    opt = pcenter_optima(ORLIB)["pmed16"]
    exact = PCenter.from_cost_matrix(inst.cost, p_facilities=inst.p).solve("highs")
    assert exact.status == "optimal" and exact.objective == opt
    res = PCenter.from_cost_matrix(inst.cost, p_facilities=inst.p).solve("highs", mip_gap=0.05)
    assert res.stats["subproblems"] < exact.stats["subproblems"]
    assert res.bound <= opt <= res.objective and res.gap <= 0.05
    if res.objective > res.bound:
        assert res.status == "feasible" and "mip_gap" in res.message
    zero = PCenter.from_cost_matrix(inst.cost, p_facilities=inst.p).solve("highs", mip_gap=0.0)
    assert zero.status == "optimal" and zero.objective == opt
