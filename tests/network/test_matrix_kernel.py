"""Exactness of the bucket-queue search behind the travel-time matrix
(``evsiting.network.matrix.bounded_search``) on synthetic graphs, named as such: random
digraphs with zero-weight arcs, one-way arcs and tied path lengths, checked against networkx
(``single_source_dijkstra_path_length`` with the same cutoff: same reached pairs, same
float64 values) and against scipy csgraph; bucket widths forced to extremes; buffer growth;
thread-count independence."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from examples import examples
from scipy.sparse.csgraph import dijkstra

import evsiting.network.matrix as matrix
from evsiting.network.matrix import arcs_to_csr, bounded_search


def networkx_reference(csr: sp.csr_matrix, sources, targets, cutoff) -> dict:
    """{(row, col): distance} from networkx on the same arcs."""
    coo = csr.tocoo()
    G = nx.DiGraph()
    G.add_nodes_from(range(csr.shape[0]))
    G.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()))
    out = {}
    for i, s in enumerate(sources):
        if s < 0:
            continue
        ref = nx.single_source_dijkstra_path_length(G, int(s), cutoff=cutoff)
        for j, t in enumerate(targets):
            if t >= 0 and int(t) in ref:
                out[(i, j)] = ref[int(t)]
    return out


def as_dict(M: sp.csr_matrix) -> dict:
    coo = M.tocoo()
    return {(int(r), int(c)): float(v) for r, c, v in zip(coo.row, coo.col, coo.data)}


def check_csr(M: sp.csr_matrix, shape):
    assert M.shape == shape and M.format == "csr" and M.dtype == np.float64
    assert M.has_sorted_indices
    for r in range(shape[0]):  # sorted and unique within each row
        idx = M.indices[M.indptr[r]:M.indptr[r + 1]]
        assert np.all(np.diff(idx) > 0)
    assert np.all(np.isfinite(M.data))


weights_st = st.one_of(
    st.just(0.0),  # zero-weight arcs
    st.integers(1, 6).map(float),  # small integers: many tied path lengths
    st.integers(1, 40).map(lambda k: k / 10),  # tenths: ties and float rounding
    st.floats(1e-6, 30, allow_nan=False),  # wide spread: arcs far lighter than a bucket
)


@settings(max_examples=examples(120), deadline=None)
@given(
    n=st.integers(1, 30),
    arcs=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29), weights_st, st.booleans()), max_size=120),
    cutoff_kind=st.sampled_from(["float", "hit", "zero"]),
    cutoff_val=st.floats(0, 60, allow_nan=False),
    seed=st.integers(0, 10_000),
    workers=st.sampled_from([1, 2, 3]),
)
def test_random_digraphs_equal_networkx(n, arcs, cutoff_kind, cutoff_val, seed, workers):
    """Synthetic random digraphs: one-way and two-way arcs, parallel arcs, zero weights,
    ties; the cutoff is random, exactly a reached distance (inclusive), or zero."""
    u, v, w = [], [], []
    for a, b, wt, both in arcs:
        if a < n and b < n:
            u.append(a), v.append(b), w.append(wt)
            if both:
                u.append(b), v.append(a), w.append(wt)
    csr = arcs_to_csr(np.array(u, dtype=np.int64), np.array(v, dtype=np.int64), np.array(w, dtype=float), n)
    rng = np.random.default_rng(seed)
    sources = rng.integers(-1, n, rng.integers(1, 7))
    targets = rng.integers(-1, n, rng.integers(1, 9))
    if cutoff_kind == "zero":
        cutoff = 0.0
    elif cutoff_kind == "hit":  # a distance that is reached: the cutoff must include it
        s = max(int(sources.max()), 0)
        d = dijkstra(csr, indices=s)
        fin = d[np.isfinite(d)]
        cutoff = float(rng.choice(fin))
    else:
        cutoff = cutoff_val
    M = bounded_search(csr, sources, targets, cutoff, workers=workers)
    check_csr(M, (sources.size, targets.size))
    assert as_dict(M) == networkx_reference(csr, sources, targets, cutoff)  # exact float64 equality


@pytest.mark.parametrize("delta", ["tiny", "huge", "median"])
def test_bucket_width_changes_no_value(monkeypatch, delta):
    """The bucket width is a speed knob only: one bucket for everything (pure label-correcting
    search), buckets far narrower than every arc, and the default give identical results."""
    rng = np.random.default_rng(7)
    n = 400
    u = rng.integers(0, n, 2400)
    v = rng.integers(0, n, 2400)
    w = np.where(rng.random(2400) < 0.1, 0.0, rng.uniform(0, 20, 2400))
    csr = arcs_to_csr(u, v, w, n)
    sources = rng.integers(0, n, 25)
    targets = rng.integers(0, n, 300)
    cutoff = 35.0
    ref = bounded_search(csr, sources, targets, cutoff, workers=1)
    fixed = {"tiny": cutoff / 65536, "huge": 10 * cutoff, "median": float(np.median(w))}[delta]
    monkeypatch.setattr(matrix, "_bucket_width", lambda weights, c: fixed)
    M = bounded_search(csr, sources, targets, cutoff, workers=2)
    assert np.array_equal(M.indptr, ref.indptr) and np.array_equal(M.indices, ref.indices)
    assert np.array_equal(M.data, ref.data)
    assert as_dict(M) == networkx_reference(csr, sources, targets, cutoff)


def grid(side: int, seed: int) -> sp.csr_matrix:
    """Synthetic side x side grid with random weights, some arcs one-way, some zero."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    w = np.where(rng.random(a.size) < 0.05, 0.0, rng.uniform(5, 40, a.size))
    one = rng.random(a.size) < 0.15
    u = np.concatenate([a, b[~one]])
    v = np.concatenate([b, a[~one]])
    return arcs_to_csr(u, v, np.concatenate([w, w[~one]]), side * side)


def test_large_searches_grow_buffers_and_equal_scipy():
    """One search reaching ~40,000 nodes (beyond the initial queue pool) and more reached
    pairs than the initial output buffer; values equal scipy csgraph's exactly."""
    csr = grid(200, 1)
    n = csr.shape[0]
    rng = np.random.default_rng(2)
    sources = np.concatenate([[0, n // 2, n // 2], rng.integers(0, n, 5)])
    targets = rng.integers(0, n, 3000)
    cutoff = 4000.0
    ref = dijkstra(csr, directed=True, indices=sources, limit=cutoff)[:, targets]
    assert np.isfinite(ref[1]).sum() > 2000 and np.isfinite(dijkstra(csr, indices=[n // 2], limit=cutoff)).sum() > 30_000
    for workers in (1, 2):
        M = bounded_search(csr, sources, targets, cutoff, workers=workers)
        check_csr(M, ref.shape)
        dense = np.full(ref.shape, np.inf)
        coo = M.tocoo()
        dense[coo.row, coo.col] = coo.data
        assert np.array_equal(dense, ref)


def test_same_result_for_any_thread_count_and_index_dtypes():
    """Identical CSR arrays for 1-5 threads, int32 or int64 graph indices, float32 weights
    taken as float64, duplicate sources, targets sharing nodes and missing (-1) points."""
    csr = grid(60, 3)
    n = csr.shape[0]
    rng = np.random.default_rng(4)
    sources = np.concatenate([rng.integers(0, n, 40), [-1, 5, 5]])
    targets = np.concatenate([rng.integers(0, n, 200), [-1, 7, 7, 7]])
    ref = bounded_search(csr, sources, targets, 300.0, workers=1)
    assert ref.nnz > 0
    assert ref[40].nnz == 0 and ref[:, 200].nnz == 0  # missing source / target: empty
    assert (ref[41] != ref[42]).nnz == 0
    assert (ref[:, 201] != ref[:, 203]).nnz == 0
    g64 = sp.csr_matrix((csr.data, csr.indices.astype(np.int64), csr.indptr.astype(np.int64)), shape=csr.shape)
    for workers in (2, 3, 5):
        for g in (csr, g64):
            M = bounded_search(g, sources, targets, 300.0, workers=workers)
            assert np.array_equal(M.indptr, ref.indptr)
            assert np.array_equal(M.indices, ref.indices)
            assert np.array_equal(M.data, ref.data)
    g32 = sp.csr_matrix((csr.data.astype(np.float32), csr.indices, csr.indptr), shape=csr.shape)
    M = bounded_search(g32, sources, targets, 300.0)
    want = dijkstra(g32.astype(np.float64), indices=np.maximum(sources, 0), limit=300.0)[:, np.maximum(targets, 0)]
    got = M.toarray()
    reach = np.isfinite(want)
    reach[sources < 0] = False
    reach[:, targets < 0] = False
    assert np.array_equal(got[reach], want[reach]) and not got[~reach].any()


def test_all_zero_weights_and_bad_cutoff():
    csr = arcs_to_csr(np.array([0, 1, 2]), np.array([1, 2, 3]), np.zeros(3), 5)
    M = bounded_search(csr, np.array([0, 4]), np.array([3, 4, 0]), 0.0)
    assert as_dict(M) == {(0, 0): 0.0, (0, 2): 0.0, (1, 1): 0.0}
    for bad in (-1.0, np.inf, np.nan):
        with pytest.raises(ValueError):
            bounded_search(csr, np.array([0]), np.array([1]), bad)


def test_scratch_arrays_are_returned_clean():
    """Distance and target-column arrays kept between calls come back in their initial
    state (all inf, all -1), so a later call on another graph of the same size is exact."""
    a, b = grid(40, 5), grid(40, 6)
    rng = np.random.default_rng(8)
    n = a.shape[0]
    for g in (a, b, a):
        sources, targets = rng.integers(0, n, 30), rng.integers(0, n, 120)
        M = bounded_search(g, sources, targets, 250.0, workers=2)
        ref = dijkstra(g, indices=sources, limit=250.0)[:, targets]
        dense = np.full(ref.shape, np.inf)
        coo = M.tocoo()
        dense[coo.row, coo.col] = coo.data
        assert np.array_equal(dense, ref)
        for arr in matrix._SCRATCH["dist"]:
            assert np.isinf(arr).all()
        for arr in matrix._SCRATCH["tcol"]:
            assert (arr == -1).all()


@pytest.mark.parametrize("bad", [-1.0, np.nan])
@pytest.mark.parametrize("workers", [1, 2])
def test_negative_or_nan_weight_is_an_error_not_a_hang(bad, workers):
    """A negative cycle would make a label-correcting search loop for ever: the search stops
    at the first negative or NaN weight it meets and the call raises."""
    u, v = np.array([0, 1, 1, 2]), np.array([1, 0, 2, 3])
    csr = arcs_to_csr(u, v, np.array([1.0, bad, 1.0, 1.0]), 4)
    with pytest.raises(ValueError, match="negative or NaN"):
        bounded_search(csr, np.array([0, 2, 3]), np.array([0, 1, 2, 3]), 100.0, workers=workers)
    # a bad arc no search reaches does not matter
    M = bounded_search(csr, np.array([2, 3]), np.array([2, 3]), 100.0, workers=workers)
    assert as_dict(M) == {(0, 0): 0.0, (0, 1): 1.0, (1, 1): 0.0}
    for arr in matrix._SCRATCH["dist"]:
        assert np.isinf(arr).all()


def test_subnormal_cutoff_and_weights():
    """A cutoff or weights so small that 1 / bucket width would overflow (found by hypothesis)."""
    csr = arcs_to_csr(np.array([0, 1]), np.array([1, 2]), np.array([1e-320, 1e-320]), 3)
    for cutoff in (2.2e-311, 0.0, 2e-320):
        M = bounded_search(csr, np.array([0]), np.array([0, 1, 2]), cutoff)
        assert as_dict(M) == networkx_reference(csr, [0], [0, 1, 2], cutoff)
    empty = sp.csr_matrix((2, 2))
    assert as_dict(bounded_search(empty, np.array([0]), np.array([0, 1]), 2.2e-311)) == {(0, 0): 0.0}
