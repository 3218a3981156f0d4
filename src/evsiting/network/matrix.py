"""Sparse travel-time matrices on a road graph with a bounded, compiled Dijkstra.

Why not ``scipy.sparse.csgraph.dijkstra(limit=...)``: its cost per source grows with the
whole graph (it allocates and scans arrays of all N nodes for every source, and returns a
dense S x N array), so on a prefecture graph of 10^5-10^6 nodes with a 15-minute cutoff most
of the time goes to nodes that are never reached. The search here (numba-compiled, GIL
released) does work that grows only with the r nodes a search reaches and their arcs:

- **Queue**: a bucket queue (Dial's buckets of width ``delta``, sequential Delta-stepping):
  a node with tentative distance d waits in bucket ``floor(d / delta)``; buckets are emptied in
  increasing order, last-in first-out within a bucket, and a node improved again (through an
  arc lighter than ``delta``, or a zero-weight arc) is queued again and rescanned. This is
  exact, not an approximation: every distance held is the length of a real path, and at the
  end every arc u -> v with ``dist[u] + w <= cutoff`` satisfies ``dist[v] <= dist[u] + w``
  (the Bellman condition); together these hold only for the shortest distances (float64
  sums in path order, as networkx computes them). ``delta`` is about the 2nd percentile of
  the positive arc weights (:func:`_bucket_width`); it changes the speed, never a value
  (tests force it to extremes). On road graphs few nodes are scanned twice (+0.5 % on the
  benchmark grid even with ``delta`` at the median weight). Stale queue entries (a node
  queued with a distance since improved) are skipped when met (lazy deletion).
- **Memory**: one distance array per worker thread (kept between calls), reset after each
  search only where the search wrote; targets are a bitmap of N bits (45 KB for 360,000
  nodes) checked before an N-long column lookup; when a node is queued its arcs are
  prefetched into cache (LLVM ``prefetch``); sources are searched in node order (the graph
  rows are banded, see :func:`graph_to_csr`). The graph arrays are used in place (no per-call
  copy) when they are int32/int64 and float64. Array indices in the kernel are unsigned, so
  numba emits no negative-index handling (1.6x on its own).
- **Threads**: sources are cut into guided chunks of consecutive (sorted) sources that the
  worker threads (the calling thread is one) take in turn; each worker keeps its buffers
  for all its chunks. Each source's row is computed by one search whatever thread runs it,
  and rows are placed by source index, so the output is identical for any number of threads.

Measured with ``benchmarks/bench_matrix.py`` on (b), a generated road-like 600 x 600 grid
(360,000 nodes, 1.33 M arcs), 200 sources, 2,000 targets, 600 s cutoff, 2 threads, best of 5,
on the shared 2-core development machine under load 3-4 (other jobs running), five runs:
0.019-0.056 s wall / 0.019-0.032 s CPU against scipy's 0.30-0.55 s wall / 0.20-0.27 s CPU,
i.e. 8.7-20x wall (10x or more in 4 of 5 runs) and 7.6-12.6x CPU; one thread: 0.037 s wall /
0.027 s CPU. The previous 4-ary heap took 0.052 s wall / 0.089 s CPU on a quiet machine
(scipy 0.201 s, 3.9x). On (a), the real Helsinki graph (1,283 nodes, every node a target),
0.010-0.027 s against networkx's 0.56-0.92 s (23-64x wall, 31-48x CPU). The single-thread
search settles a node in ~35 ns (~2,800 nodes per search on (b)).

Semantics match networkx ``single_source_dijkstra_path_length(G, s, cutoff=c)``: a node is
reached when its shortest distance is ``<= cutoff``; distances are sums of edge weights in
path order (the smallest such sum over paths, in float64, as networkx computes it); parallel
edges count with their smallest weight. Unreachable pairs are absent from the result (never
``inf``).
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import networkx as nx
import numba
import numpy as np
import scipy.sparse as sp
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from scipy.sparse.csgraph import reverse_cuthill_mckee

from evsiting.core.errors import InputError


# --------------------------------------------------------------------------------------
# compiled kernel
# --------------------------------------------------------------------------------------


@intrinsic
def _prefetch(typingctx, arr, idx):
    """``_prefetch(a, i)``: hint the CPU to load ``a[i]``'s cache line (LLVM ``llvm.prefetch``,
    read, high locality). A hint only: no value is read, nothing can fault, results are
    unchanged; ``i`` may be one past the end."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        i = context.cast(builder, args[1], idxty, types.intp)
        i8p = ir.IntType(8).as_pointer()
        ptr = builder.bitcast(builder.gep(ary.data, [i]), i8p)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


#: kernel return status
_DONE, _POOL_FULL, _OUT_FULL, _BAD_WEIGHT = 0, 1, 2, 3


_U = np.uint64  # kernel indices are unsigned: numba then emits no negative-index wraparound


@numba.njit(nogil=True, cache=True)
def _bucket_search(indptr, indices, weights, sources, order, lo, hi, tbits, target_col, n_cols, cutoff,
                   inv_delta, dist, heads, p_node, p_d, p_next, o_col, o_val, nout, rowlen, colval, rowcols):
    """Search from ``sources[order[lo:hi]]`` up to ``cutoff``; append each source's reached
    targets to ``o_col``/``o_val`` from ``nout`` on (columns sorted) and set ``rowlen[source]``.

    ``tbits``: bitmap of target nodes (uint64 words); ``target_col[u]``: output column of
    target node u (< ``n_cols``). ``dist`` (N, all inf), ``heads`` (buckets, all -1) and
    ``colval`` (n_cols, all inf) are returned in that state. ``p_*``: queue entry pool (node,
    distance, next entry in the same bucket or -1).

    Returns (next position in ``order``, nout, status): status ``_DONE``, or ``_POOL_FULL``
    (the pool is too small for the source at that position: grow it and call again from
    there) or ``_OUT_FULL`` (fewer than ``n_cols`` free output slots: give fresh arrays) or
    ``_BAD_WEIGHT`` (the search met a negative or NaN arc weight and stopped).

    All array indices are cast to unsigned (``_U``), which makes numba skip its wraparound
    handling of negative indices: 1.6x faster on the benchmark grid (measured).
    """
    cap = _U(p_node.size)
    ncol = _U(n_cols)
    one = _U(1)
    top = float(heads.size - 1)
    for pos in range(lo, hi):
        if nout + n_cols > o_col.size:
            return pos, nout, _OUT_FULL
        si = _U(order[pos])
        s = _U(sources[si])
        nrow = _U(0)
        dist[s] = 0.0
        p_node[0] = s
        p_d[0] = 0.0
        p_next[0] = -1
        heads[0] = 0
        npool = one
        live = 1  # entries in the buckets (stale ones included)
        k = _U(0)  # current bucket
        full = False
        bad = False
        while live > 0:
            while heads[k] < 0:
                k += one
            e = _U(heads[k])
            heads[k] = p_next[e]
            live -= 1
            u = _U(p_node[e])
            d = p_d[e]
            if d != dist[u]:  # stale: u was improved after this entry was queued
                continue
            if (tbits[u >> _U(6)] >> (u & _U(63))) & one:
                c = _U(target_col[u])
                if colval[c] == np.inf:
                    rowcols[nrow] = c
                    nrow += one
                colval[c] = d  # a rescan only lowers it
            a = _U(indptr[u])
            a1 = _U(indptr[u + one])
            if npool + (a1 - a) > cap:
                full = True
                break
            kf = float(k)
            ok = True
            while a < a1:  # relax u's arcs, branch-free (the pool has room for all of them)
                v = _U(indices[a])
                wa = weights[a]
                ok &= wa >= 0.0  # False for a negative or NaN weight
                nd = d + wa
                a += one
                dv = dist[v]
                imp = (nd < dv) & (nd <= cutoff)
                dist[v] = nd if imp else dv
                a0 = _U(indptr[v])
                _prefetch(indices, a0)  # v's arcs, read when v is scanned
                _prefetch(weights, a0)
                # bucket of nd, clamped to [k, last] so that no input (even a negative or
                # NaN weight, which the caller excludes) can index outside ``heads``
                x = nd * inv_delta
                x = x if x >= kf else kf
                x = x if x <= top else top
                b = _U(x)
                hb = heads[b]
                p_node[npool] = v
                p_d[npool] = nd
                p_next[npool] = hb
                heads[b] = np.int32(npool) if imp else hb  # the entry counts only if imp
                npool += _U(imp)
                live += int(imp)
            if not ok:
                bad = True
                break
        for e in range(npool):
            dist[_U(p_node[e])] = np.inf
        if full or bad:
            heads[:] = -1
            for i in range(nrow):
                colval[_U(rowcols[i])] = np.inf
            return pos, nout, _BAD_WEIGHT if bad else _POOL_FULL
        rowlen[si] = nrow
        if nrow == 0:
            continue
        o = _U(nout)
        if nrow * _U(16) >= ncol:  # most columns reached: sweep them in order
            for c in range(ncol):
                if colval[c] != np.inf:
                    o_col[o] = c
                    o_val[o] = colval[c]
                    o += one
                    colval[c] = np.inf
        else:
            if nrow <= 64:  # insertion sort of a few columns
                for i in range(1, nrow):
                    ci = rowcols[i]
                    j = i
                    while j > 0 and rowcols[j - one] > ci:
                        rowcols[j] = rowcols[j - one]
                        j -= one
                    rowcols[j] = ci
            else:  # element loop, not rowcols[:nrow] = ...: a slice copy compiles numba's
                srt = np.sort(rowcols[:nrow])  # shape-mismatch message (seconds on a fresh clone)
                for i in range(nrow):
                    rowcols[i] = srt[i]
            for i in range(nrow):
                c = _U(rowcols[i])
                o_col[o] = c
                o_val[o] = colval[c]
                o += one
                colval[c] = np.inf
        nout += int(nrow)
    return hi, nout, _DONE


@numba.njit(nogil=True, cache=True)
def _place_rows(order, lo, hi, rowlen, indptr, b_col, b_val, off, out_col, out_val):
    """Copy the rows of sources ``order[lo:hi]``, stored one after another in ``b_*`` from
    ``off`` on, to their CSR places in ``out_*``."""
    for pos in range(lo, hi):
        si = order[pos]
        p = indptr[si]
        for i in range(rowlen[si]):
            out_col[p + i] = b_col[off + i]
            out_val[p + i] = b_val[off + i]
        off += rowlen[si]


def _bucket_width(weights: np.ndarray, cutoff: float) -> float:
    """Bucket width ``delta`` (see the module docstring): about the 2nd percentile of the
    positive arc weights (the 20th smallest of a fixed strided sample of about 1,024 arcs),
    and at least ``cutoff / 16384`` so that a search has at most 16,385 buckets. Speed only,
    never values. On the benchmark grid (arcs 9.4-37 s) widths from the lightest arc to the
    25th percentile were within 10 % of each other, wider ones slower (more nodes per bucket,
    more requeues); on the real Helsinki graph (arcs 0.09-13 s) it is 0.19 s."""
    sample = weights[:: max(1, weights.size // 1024)]
    sample = sample[sample > 0]
    delta = float(np.partition(sample, min(19, sample.size - 1))[min(19, sample.size - 1)]) if sample.size else 0.0
    delta = max(delta, cutoff / 16384.0)
    if not (delta > 0 and np.isfinite(1.0 / delta)):  # no positive weight and a zero or
        delta = 1.0  # subnormal cutoff: one bucket (cutoff < 1)
    return delta


#: Scratch arrays kept between calls, by kind: O(N) arrays whose filling and first-touch page
#: faults cost about 1 ms per call on a 360,000-node graph. Each is returned in its initial
#: state (distances all inf, target columns all -1); at most ``_SCRATCH_KEEP`` per kind are
#: kept (the most recent), so the memory held is a few O(N) arrays of the last graph size.
_SCRATCH: dict[str, list[np.ndarray]] = {"dist": [], "tcol": []}
_SCRATCH_KEEP = 4
_SCRATCH_LOCK = threading.Lock()


def _take(kind: str, n: int, fill, dtype) -> np.ndarray:
    with _SCRATCH_LOCK:
        for i, a in enumerate(_SCRATCH[kind]):
            if a.size == n:
                return _SCRATCH[kind].pop(i)
    return np.full(n, fill, dtype=dtype)


def _give(kind: str, a: np.ndarray) -> None:
    with _SCRATCH_LOCK:
        _SCRATCH[kind].append(a)
        del _SCRATCH[kind][:-_SCRATCH_KEEP]


def _reset_scratch() -> None:
    """In a forked child: a fresh lock (another thread may have held it at the fork) and no
    shared scratch arrays."""
    global _SCRATCH_LOCK
    _SCRATCH_LOCK = threading.Lock()
    for v in _SCRATCH.values():
        v.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_scratch)


def _chunk_bounds(m: int, workers: int) -> np.ndarray:
    """Chunk boundaries over ``m`` sorted sources: one chunk for one worker, else guided
    chunks (each a 1/(3 x workers) share of the sources left, at least 2), large first for
    locality and few calls, small last so that the threads finish together."""
    if workers == 1 or m <= 1:
        return np.array([0, m], dtype=np.int64)
    b = [0]
    while b[-1] < m:
        left = m - b[-1]
        b.append(b[-1] + min(left, max(2, -(-left // (3 * workers)))))
    return np.array(b, dtype=np.int64)


def default_workers() -> int:
    """Worker threads: ``$EVSITING_THREADS`` if set, else the CPUs this process may use."""
    env = os.environ.get("EVSITING_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def bounded_search(
    graph: sp.csr_matrix,
    sources: np.ndarray,
    targets: np.ndarray,
    cutoff: float,
    workers: int | None = None,
) -> sp.csr_matrix:
    """Shortest-path lengths from ``sources`` to ``targets`` within ``cutoff``.

    Args:
        graph: (N, N) CSR adjacency; ``graph[u, v]`` is the weight of the arc u -> v (>= 0,
            finite; one arc per pair, stored zeros are real zero-weight arcs). Its arrays are
            used in place when int32/int64 (``indptr``, ``indices``) and float64 (``data``).
        sources: (S,) int node indices; -1 marks a source with no node (row left empty).
        targets: (T,) int node indices; -1 marks a target with no node (column left empty).
            Several targets may share a node.
        cutoff: largest distance kept, same unit as the weights (inclusive, as networkx).
        workers: threads (default :func:`default_workers`); the result does not depend on it.

    Returns:
        (S, T) CSR float64 of distances ``<= cutoff``, indices sorted; absent = not reached.
        A stored 0.0 is a real zero distance (source and target on the same node).

    Raises:
        ValueError: ``cutoff`` is negative or not finite, or a search met a negative or NaN
            arc weight (checked on the arcs a search scans, at no extra pass over the graph).
    """
    if not isinstance(graph, sp.csr_matrix):
        graph = sp.csr_matrix(graph)
    n = graph.shape[0]
    sources = np.asarray(sources, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    S, T = sources.size, targets.size
    if S == 0 or T == 0 or n == 0:
        return sp.csr_matrix((S, T))
    if not np.isfinite(cutoff) or cutoff < 0:
        raise ValueError("cutoff must be finite and >= 0")
    cutoff = float(cutoff)
    indptr, indices, weights = _kernel_arrays(graph)

    # targets: a bitmap of their nodes, and the output column of each node
    valid = targets >= 0
    tpos = np.flatnonzero(valid)
    tnodes, inverse = np.unique(targets[valid], return_inverse=True)
    if tnodes.size == 0:
        return sp.csr_matrix((S, T))
    shared = tnodes.size < tpos.size  # several targets on one node: expanded afterwards
    target_col = _take("tcol", n, -1, np.int32)
    if shared:
        target_col[tnodes] = np.arange(tnodes.size)  # column = index into tnodes
    else:
        target_col[targets[valid]] = tpos  # column = target position
    n_cols = int(target_col[tnodes].max()) + 1
    tbits = np.zeros((n >> 6) + 1, dtype=np.uint64)
    np.bitwise_or.at(tbits, tnodes >> 6, np.left_shift(np.uint64(1), (tnodes & 63).astype(np.uint64)))

    # sources searched in node order (locality), in chunks taken by the worker threads
    order = np.flatnonzero(sources >= 0)
    order = order[np.argsort(sources[order], kind="stable")].astype(np.int64)
    m = order.size
    workers = max(1, min(workers or default_workers(), m)) if m else 1
    bounds = _chunk_bounds(m, workers)
    n_chunks = bounds.size - 1
    delta = _bucket_width(weights, cutoff)
    inv_delta = 1.0 / delta
    n_buckets = int(cutoff * inv_delta) + 1
    rowlen = np.zeros(S, dtype=np.int64)  # each entry written by the one search of its source
    next_chunk = iter(range(n_chunks))
    lock = threading.Lock()

    def work():
        """One worker: buffers kept for all the chunks it takes. Returns its output blocks
        and records (block, first position, end position, offset in the block)."""
        dist = _take("dist", n, np.inf, np.float64)
        heads = np.full(n_buckets, -1, dtype=np.int32)
        colval = np.full(n_cols, np.inf)
        rowcols = np.empty(n_cols, dtype=np.int32)
        cap = 1 << 14
        pool = [np.empty(cap, np.int32), np.empty(cap, np.float64), np.empty(cap, np.int32)]
        size = max(1 << 12, 4 * n_cols)
        blocks = [(np.empty(size, np.int32), np.empty(size, np.float64))]
        records = []
        nout = 0
        while True:
            with lock:
                k = next(next_chunk, None)
            if k is None:
                break
            pos, hi = int(bounds[k]), int(bounds[k + 1])
            while pos < hi:
                first, off = pos, nout
                pos, nout, status = _bucket_search(
                    indptr, indices, weights, sources, order, pos, hi, tbits, target_col, n_cols, cutoff,
                    inv_delta, dist, heads, *pool, *blocks[-1], nout, rowlen, colval, rowcols)
                if pos > first:
                    records.append((len(blocks) - 1, first, pos, off))
                if status == _POOL_FULL:  # the pool only lives during one search: no copy
                    pool = [np.empty(2 * a.size, a.dtype) for a in pool]
                elif status == _BAD_WEIGHT:
                    _give("dist", dist)
                    raise ValueError("graph has a negative or NaN arc weight; weights must be >= 0")
                elif status == _OUT_FULL:  # a new block; the full one is kept as it is
                    size *= 2
                    blocks.append((np.empty(size, np.int32), np.empty(size, np.float64)))
                    nout = 0
        _give("dist", dist)  # all inf again: each search resets what it wrote
        return blocks, records

    if workers == 1:
        parts = [work()]
    else:  # the calling thread is one of the workers
        with ThreadPoolExecutor(max_workers=workers - 1) as pool:
            futures = [pool.submit(work) for _ in range(workers - 1)]
            parts = [work()] + [f.result() for f in futures]
    target_col[tnodes] = -1
    _give("tcol", target_col)
    indptr_out, ucol, vals = _gathered_rows(parts, order, rowlen)
    if not shared:
        mat = sp.csr_matrix((vals, ucol, indptr_out), shape=(S, T))
        mat.has_sorted_indices = True
        return mat
    return _expanded_to_targets(rowlen, ucol, vals, inverse=inverse, n_nodes=tnodes.size, tpos=tpos, shape=(S, T))


def _kernel_arrays(graph: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``graph``'s (indptr, indices, data) as the search kernel takes them: contiguous
    int32/int64 indices (used in place when they are) and float64 weights."""
    indptr = graph.indptr if graph.indptr.dtype in (np.int32, np.int64) else graph.indptr.astype(np.int64)
    indices = graph.indices if graph.indices.dtype in (np.int32, np.int64) else graph.indices.astype(np.int64)
    weights = np.ascontiguousarray(graph.data, dtype=np.float64)
    return np.ascontiguousarray(indptr), np.ascontiguousarray(indices), weights


def _gathered_rows(parts: list, order: np.ndarray, rowlen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows the workers wrote (``parts``: their output blocks and records) as CSR arrays
    (indptr, node columns, values) with ``rowlen[s]`` entries in row s."""
    indptr_out = np.zeros(rowlen.size + 1, dtype=np.int64)
    np.cumsum(rowlen, out=indptr_out[1:])
    ucol = np.empty(indptr_out[-1], dtype=np.int32)
    vals = np.empty(indptr_out[-1], dtype=np.float64)
    for blocks, records in parts:
        for b, first, end, off in records:
            _place_rows(order, first, end, rowlen, indptr_out, *blocks[b], off, ucol, vals)
    return indptr_out, ucol, vals


def _expanded_to_targets(rowlen: np.ndarray, ucol: np.ndarray, vals: np.ndarray, *, inverse: np.ndarray, n_nodes: int,
                         tpos: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Node columns (``ucol``, an index into the ``n_nodes`` target nodes) expanded to target
    columns: targets sharing a node (``inverse``: node of each valid target, at positions
    ``tpos``) get the same value. (S, T) CSR, indices sorted."""
    S = shape[0]
    rows = np.repeat(np.arange(S), rowlen)
    order = np.argsort(inverse, kind="stable")  # target slots grouped by node
    starts = np.searchsorted(inverse[order], np.arange(n_nodes), side="left")
    counts = np.bincount(inverse, minlength=n_nodes)
    rep = counts[ucol]
    rows_e = np.repeat(rows, rep)
    vals_e = np.repeat(vals, rep)
    offs = np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep)  # rank within group
    cols_e = tpos[order[np.repeat(starts[ucol], rep) + offs]]
    mat = sp.csr_matrix((vals_e, (rows_e, cols_e)), shape=shape)
    mat.sort_indices()
    return mat

# --------------------------------------------------------------------------------------
# networkx graph -> CSR
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphArrays:
    """A directed graph as CSR arrays.

    Attributes:
        nodes: (N,) node ids in the order of the matrix rows.
        index: dict node id -> row.
        csr: (N, N) CSR; ``csr[u, v]`` = smallest ``weight`` over the arcs u -> v.
        weight: the edge attribute used (e.g. ``travel_time`` in seconds).
    """

    nodes: np.ndarray
    index: dict
    csr: sp.csr_matrix
    weight: str

    @functools.cached_property
    def reversed_csr(self) -> sp.csr_matrix:
        """(N, N) CSR of the reversed graph (arcs v -> u), for searches towards targets;
        built once per :class:`GraphArrays` (an O(arcs) transpose)."""
        rev = self.csr.T.tocsr()
        rev.sort_indices()
        return rev


def graph_to_csr(G: nx.MultiDiGraph | nx.DiGraph, weight: str = "travel_time", reorder: bool = True) -> GraphArrays:
    """Convert a (Multi)DiGraph to :class:`GraphArrays`.

    Parallel arcs keep their smallest weight; self-loops are dropped (they never shorten a
    path). Undirected graphs are taken as two arcs per edge. With ``reorder`` the rows follow
    a reverse Cuthill-McKee order (``scipy.sparse.csgraph.reverse_cuthill_mckee``) so that
    neighbouring nodes sit close in memory: OSM node ids are in no spatial order, and a search
    on a randomly ordered graph was measured 2.7x slower than on a banded one. The order
    changes no value; ``nodes``/``index`` map between node ids and rows.

    Raises:
        InputError: an edge lacks ``weight`` or has a negative or non-finite value.
    """
    nodes = np.array(list(G.nodes), dtype=object)
    index = {n: i for i, n in enumerate(nodes)}
    m = G.number_of_edges()
    u = np.empty(m if G.is_directed() else 2 * m, dtype=np.int64)
    v = np.empty_like(u)
    w = np.empty(u.size, dtype=np.float64)
    k = 0
    for a, b, val in G.edges(data=weight):
        if val is None:
            raise InputError(f"edge ({a}, {b}) has no '{weight}' attribute", source="graph", field=weight)
        val = float(val)
        if not np.isfinite(val) or val < 0:
            raise InputError(f"edge ({a}, {b}) has {weight}={val}; expected finite >= 0", source="graph", field=weight)
        u[k], v[k], w[k] = index[a], index[b], val
        k += 1
        if not G.is_directed():
            u[k], v[k], w[k] = index[b], index[a], val
            k += 1
    csr = arcs_to_csr(u[:k], v[:k], w[:k], len(nodes))
    if reorder and len(nodes) > 2:
        order = reverse_cuthill_mckee((csr + csr.T).tocsr(), symmetric_mode=True).astype(np.int64)
        csr = csr[order][:, order].tocsr()
        csr.sort_indices()
        nodes = nodes[order]
        index = {nd: i for i, nd in enumerate(nodes)}
    return GraphArrays(nodes, index, csr, weight)


def arcs_to_csr(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> sp.csr_matrix:
    """(N, N) CSR from arc arrays; duplicate arcs keep the smallest weight, self-loops are
    dropped, zero weights are kept as stored zeros."""
    keep = u != v
    u, v, w = u[keep], v[keep], w[keep]
    order = np.lexsort((w, v, u))
    u, v, w = u[order], v[order], w[order]
    first = np.ones(u.size, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, w = u[first], v[first], w[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, u + 1, 1)
    np.cumsum(indptr, out=indptr)
    return sp.csr_matrix((w, v, indptr), shape=(n, n))


def node_travel_time_matrix(
    arrays: GraphArrays,
    orig_nodes,
    dest_nodes,
    cutoff: float,
    workers: int | None = None,
) -> sp.csr_matrix:
    """Origins x destinations shortest-path lengths within ``cutoff``, on graph nodes.

    Searches from the smaller side: from the origins on the graph, or from the destinations
    on the reversed graph (then transposed), so one-way streets are respected either way.

    Args:
        arrays: the graph (:func:`graph_to_csr`).
        orig_nodes: (n,) node ids, or None for an origin with no node (row left empty).
        dest_nodes: (m,) node ids or None.
        cutoff: in the unit of ``arrays.weight`` (seconds for ``travel_time``), inclusive.

    Returns:
        (n, m) CSR float64; absent = not reachable within ``cutoff``.

    Raises:
        InputError: a node id is not in the graph.
    """

    def to_idx(nodes, what):
        out = np.full(len(nodes), -1, dtype=np.int64)
        for i, nd in enumerate(nodes):
            if nd is None:
                continue
            try:
                out[i] = arrays.index[nd]
            except KeyError:
                raise InputError(f"{what} node {nd!r} is not in the graph", source="graph") from None
        return out

    o = to_idx(list(orig_nodes), "origin")
    d = to_idx(list(dest_nodes), "destination")
    if o.size <= d.size:
        return bounded_search(arrays.csr, o, d, cutoff, workers)
    return bounded_search(arrays.reversed_csr, d, o, cutoff, workers).T.tocsr()
