"""Exact p-median by Lagrangian relaxation, variable fixing and branch-and-bound (numba kernels).

The method of Beasley (1985, "A note on solving large p-median problems", EJOR 21:270-273),
who solved the 40 OR-Library instances with it. Relaxing the assignment constraints
``sum_j x_ij >= 1`` with multipliers ``lam_i >= 0`` gives, for any ``lam``,

    L(lam) = sum_i lam_i + sum_{j open} C_j,   C_j = sum_i min(0, a_ij - lam_i),

where ``a_ij = w_i * d_ij`` and the open set is the forced-open facilities plus the ``q``
free ones of smallest ``C_j``. ``L(lam)`` is a lower bound on every p-median solution of the
node; subgradient optimisation maximises it. With an incumbent of value UB:

- a node with ``L >= T(UB)`` is pruned (``T`` = UB - 1 for integral objectives, up to a
  1e-6 tolerance; UB less 0.5e-9 relative otherwise; lower with a requested relative gap);
- a free facility outside the relaxed solution is closed when ``L + C_j - C_(q) >= T`` and
  one inside it opened when ``L + C_(q+1) - C_j >= T`` (Lagrangian penalties): every
  solution of the node better than the incumbent satisfies these fixings;
- every relaxed solution is evaluated as a p-median solution (primal heuristic).

Branching is on the open/closed state of the free facility whose closing costs most,
depth first, warm-starting each child's multipliers from its parent.

Client data are CSR-like rows: for client ``i``, ``col[ptr[i]:ptr[i+1]]`` are its reachable
candidates sorted by ascending ``val = a_ij`` (weighted minutes). A solution's value is the
sum over clients of the first ``val`` of a row whose candidate is open (``inf`` if none).
"""

from __future__ import annotations

import numba
import numpy as np

#: node outcomes
PRUNED, BRANCH = 0, 1


@numba.njit(cache=True)
def _threshold(ub, integral, gap_rel):
    """Bound at or above which a node cannot hold a solution better than ``ub`` (by the
    required margin)."""
    if integral:
        t = ub - 1.0 + 1e-6
    else:
        t = ub - 0.5e-9 * max(1.0, abs(ub))
    g = ub - gap_rel * abs(ub)
    return min(t, g)


@numba.njit(cache=True)
def _eval_set(ptr, col, val, in_s):
    """p-median value of the open set ``in_s`` (bool per candidate); inf if a client reaches none."""
    n = ptr.size - 1
    tot = 0.0
    for i in range(n):
        first = np.inf
        for e in range(ptr[i], ptr[i + 1]):
            if in_s[col[e]]:
                first = val[e]
                break
        tot += first
    return tot


@numba.njit(cache=True)
def _lagrangian_costs(ptr, col, val, lam, status, c):
    """Fill ``c[j] = sum_i min(0, a_ij - lam_i)`` over non-closed j; return ``sum_i lam_i``.

    Client i's row stops at its nearest forced-open facility (assigning i farther is never
    needed), which strengthens the relaxation below nodes that open facilities."""
    n = ptr.size - 1
    c[:] = 0.0
    s = 0.0
    for i in range(n):
        li = lam[i]
        s += li
        for e in range(ptr[i], ptr[i + 1]):
            a = val[e]
            if a >= li:
                break
            j = col[e]
            if status[j] >= 0:
                c[j] += a - li
                if status[j] == 1:  # nearest open facility: farther ones never serve i
                    break
    return s


@numba.njit(cache=True)
def _relaxed(c, status, p, free, slam):
    """Relaxed solution for the costs ``c``: returns (L, q, nfree, order) where ``free[:nfree]``
    are the free candidates, ``order`` sorts them by ``c`` and the first ``q`` are opened.
    ``q < 0`` or ``q > nfree``: the node is infeasible."""
    k = c.size
    nopen = 0
    lopen = 0.0
    nfree = 0
    for j in range(k):
        if status[j] == 1:
            nopen += 1
            lopen += c[j]
        elif status[j] == 0:
            free[nfree] = j
            nfree += 1
    q = p - nopen
    fc = np.empty(nfree)
    for t in range(nfree):
        fc[t] = c[free[t]]
    order = np.argsort(fc, kind="mergesort")
    low = slam + lopen
    if 0 <= q <= nfree:
        for t in range(q):
            low += fc[order[t]]
    return low, q, nfree, order


@numba.njit(cache=True)
def lagrangian_node(ptr, col, val, p, status, lam, best_lam, ub, best_set, integral, gap_rel,
                    max_iter, no_improve, pi0, pi_min):
    """Subgradient optimisation at one node, with penalty fixing and primal evaluation.

    ``status`` (int8 per candidate: 1 open, 0 free, -1 closed) is updated in place by the
    fixings; ``lam`` is the start and ``best_lam`` receives the best multipliers; ``ub[0]``
    and ``best_set`` (int8 per candidate) are updated when a better solution is found.

    Returns (outcome, best bound, iterations, final step parameter pi).
    """
    n = ptr.size - 1
    k = status.size
    c = np.empty(k)
    free = np.empty(k, dtype=np.int64)
    in_s = np.zeros(k, dtype=np.bool_)
    g = np.empty(n)
    best = -np.inf
    pi = pi0
    since = 0
    it = 0
    for it in range(max_iter):
        slam = _lagrangian_costs(ptr, col, val, lam, status, c)
        low, q, nfree, order = _relaxed(c, status, p, free, slam)
        if q < 0 or q > nfree:
            return PRUNED, np.inf, it + 1, pi
        if best == -np.inf or low > best + 1e-12 * max(1.0, abs(best)):
            best = low
            for i in range(n):  # an element loop, not best_lam[:] = lam: a slice copy compiles
                best_lam[i] = lam[i]  # numba's shape-mismatch message (seconds on a fresh clone)
            since = 0
        else:
            since += 1
            if since >= no_improve:
                pi *= 0.5
                since = 0
        t = _threshold(ub[0], integral, gap_rel)
        if best >= t:
            return PRUNED, best, it + 1, pi
        # relaxed solution (before this iteration's fixings)
        in_s[:] = False
        for j in range(k):
            if status[j] == 1:
                in_s[j] = True
        for r in range(q):
            in_s[free[order[r]]] = True
        # Lagrangian penalties
        if nfree > q:
            cq1 = c[free[order[q]]]
            cq = c[free[order[q - 1]]] if q > 0 else -np.inf
            for r in range(q, nfree):
                j = free[order[r]]
                if q == 0 or low + c[j] - cq >= t:
                    status[j] = -1
            for r in range(q):
                j = free[order[r]]
                if low + cq1 - c[j] >= t:
                    status[j] = 1
        # primal value of the relaxed solution and the subgradient
        tot = 0.0
        norm = 0.0
        for i in range(n):
            li = lam[i]
            cnt = 0
            first = np.inf
            for e in range(ptr[i], ptr[i + 1]):
                if in_s[col[e]]:
                    if first == np.inf:
                        first = val[e]
                    if val[e] < li:
                        cnt += 1
                        if status[col[e]] == 1:
                            break
                    else:
                        break
                elif val[e] >= li and first != np.inf:
                    break
            tot += first
            gi = 1.0 - cnt
            g[i] = gi
            norm += gi * gi
        if tot < ub[0]:
            ub[0] = tot
            for j in range(k):
                best_set[j] = 1 if in_s[j] else 0
        if norm == 0.0:
            # the relaxed solution assigns every client once: it is optimal for this node
            return PRUNED, max(low, best), it + 1, pi
        if pi < pi_min:
            break
        step = pi * max(ub[0] - low, 1e-9 * max(1.0, abs(low))) / norm
        for i in range(n):
            v = lam[i] + step * g[i]
            lam[i] = v if v > 0.0 else 0.0
    return BRANCH, best, it + 1, pi


@numba.njit(cache=True)
def branch_and_bound(ptr, col, val, p, st_status, st_lam, st_lb, top, ub, best_set, integral,
                     gap_rel, max_nodes, max_iter, no_improve, pi0, pi_min, counters):
    """Depth-first branch-and-bound from the node stack ``st_*[:top[0]]``; processes at most
    ``max_nodes`` nodes and returns their number, or -1 when the stack is full (grow it and
    call again). ``counters[0]`` counts nodes, ``counters[1]`` subgradient iterations."""
    n = ptr.size - 1
    k = st_status.shape[1]
    c = np.empty(k)
    free = np.empty(k, dtype=np.int64)
    best_lam = np.empty(n)
    done = 0
    while top[0] > 0 and done < max_nodes:
        if top[0] >= st_lb.size:  # no room for two children: the caller grows the stack
            return -1
        top[0] -= 1
        s = top[0]
        lb = st_lb[s]
        if lb >= _threshold(ub[0], integral, gap_rel):
            continue
        status = st_status[s].copy()
        lam = st_lam[s].copy()
        out, low, its, _pi = lagrangian_node(ptr, col, val, p, status, lam, best_lam, ub, best_set,
                                        integral, gap_rel, max_iter, no_improve, pi0, pi_min)
        done += 1
        counters[0] += 1
        counters[1] += its
        if out == PRUNED:
            continue
        low = max(low, lb)
        slam = _lagrangian_costs(ptr, col, val, best_lam, status, c)
        low2, q, nfree, order = _relaxed(c, status, p, free, slam)
        if q < 0 or q > nfree:
            continue
        if q == 0 or q == nfree:  # the node's open set is decided
            in_s = status == 1
            if q == nfree:
                for r in range(nfree):
                    in_s[free[r]] = True
            v = _eval_set(ptr, col, val, in_s)
            if v < ub[0]:
                ub[0] = v
                for j in range(k):
                    best_set[j] = 1 if in_s[j] else 0
            continue
        # branch on the relaxed-open free facility whose closing raises the bound most
        cq1 = c[free[order[q]]]
        jb = free[order[0]]
        pen = -np.inf
        for r in range(q):
            j = free[order[r]]
            if cq1 - c[j] > pen:
                pen = cq1 - c[j]
                jb = j
        # child "closed" (explored second), then child "open" (explored first); element loops,
        # not st_status[s, :] = status: a slice copy compiles numba's shape-mismatch message
        for j in range(k):
            st_status[s, j] = status[j]
            st_status[s + 1, j] = status[j]
        for i in range(n):
            st_lam[s, i] = best_lam[i]
            st_lam[s + 1, i] = best_lam[i]
        st_status[s, jb] = -1
        st_lb[s] = max(low, low2 + pen)
        st_status[s + 1, jb] = 1
        st_lb[s + 1] = low
        top[0] = s + 2
    return done


# --------------------------------------------------------------------------------------------
# Local search (greedy + vertex substitution), on the same rows plus their column view
# --------------------------------------------------------------------------------------------
@numba.njit(cache=True)
def _nearest_two(ptr, col, val, in_s, big, d1, f1, d2):
    """Cost of the nearest and second-nearest open candidate per client (``big`` if none)."""
    n = ptr.size - 1
    tot = 0.0
    for i in range(n):
        a1 = big
        a2 = big
        j1 = -1
        for e in range(ptr[i], ptr[i + 1]):
            j = col[e]
            if in_s[j]:
                if j1 < 0:
                    a1 = val[e]
                    j1 = j
                else:
                    a2 = val[e]
                    break
        d1[i] = a1
        f1[i] = j1
        d2[i] = a2
        tot += a1
    return tot


@numba.njit(cache=True)
def greedy_add(cptr, crow, cval, n, in_s, allowed, p, big):
    """Open candidates one at a time (largest saving first) until ``p`` are open.

    ``in_s`` (bool per candidate) holds the already open ones (e.g. required) and is updated.
    ``allowed``: candidates that may be opened. Clients start at cost ``big``.
    """
    k = in_s.size
    cur = np.full(n, big)
    nopen = 0
    for j in range(k):
        if in_s[j]:
            nopen += 1
            for e in range(cptr[j], cptr[j + 1]):
                if cval[e] < cur[crow[e]]:
                    cur[crow[e]] = cval[e]
    while nopen < p:
        bj = -1
        bg = -1.0
        for j in range(k):
            if in_s[j] or not allowed[j]:
                continue
            gsum = 0.0
            for e in range(cptr[j], cptr[j + 1]):
                dlt = cur[crow[e]] - cval[e]
                if dlt > 0.0:
                    gsum += dlt
            if gsum > bg:
                bg = gsum
                bj = j
        if bj < 0:
            break
        in_s[bj] = True
        nopen += 1
        for e in range(cptr[bj], cptr[bj + 1]):
            if cval[e] < cur[crow[e]]:
                cur[crow[e]] = cval[e]
    return nopen


@numba.njit(cache=True)
def vertex_substitution(ptr, col, val, cptr, crow, cval, in_s, keep_open, allowed, big, max_swaps):
    """Teitz-Bart vertex substitution with Whitaker's fast interchange (first improvement):
    for each closed candidate ``j`` the best open facility to swap out is found from ``j``'s
    column in one pass (``delta = loss_f - extra_jf - gain_j``). Stops after a full cycle
    without improvement or ``max_swaps`` swaps. ``in_s`` is updated; returns the value
    (sum of weighted costs; ``>= big`` if some client reaches no open candidate).
    """
    n = ptr.size - 1
    k = in_s.size
    d1 = np.empty(n)
    d2 = np.empty(n)
    f1 = np.empty(n, dtype=np.int64)
    loss = np.zeros(k)
    extra = np.zeros(k)
    tot = _nearest_two(ptr, col, val, in_s, big, d1, f1, d2)
    for i in range(n):
        if f1[i] >= 0:
            loss[f1[i]] += d2[i] - d1[i]
    swaps = 0
    idle = 0
    j = -1
    while idle < k and swaps < max_swaps:
        j = (j + 1) % k
        idle += 1
        if in_s[j] or not allowed[j]:
            continue
        gain = 0.0
        for e in range(cptr[j], cptr[j + 1]):
            i = crow[e]
            a = cval[e]
            if a < d1[i]:
                gain += d1[i] - a
            if a < d2[i] and f1[i] >= 0:
                extra[f1[i]] += d2[i] - max(a, d1[i])
        bf = -1
        bd = np.inf
        for f in range(k):
            if in_s[f] and not keep_open[f]:
                dlt = loss[f] - extra[f]
                if dlt < bd:
                    bd = dlt
                    bf = f
        for e in range(cptr[j], cptr[j + 1]):
            i = crow[e]
            if f1[i] >= 0:
                extra[f1[i]] = 0.0
        if bf >= 0 and bd - gain < -1e-9 * max(1.0, abs(tot)):
            in_s[j] = True
            in_s[bf] = False
            swaps += 1
            idle = 0
            tot = _nearest_two(ptr, col, val, in_s, big, d1, f1, d2)
            loss[:] = 0.0
            for i in range(n):
                if f1[i] >= 0:
                    loss[f1[i]] += d2[i] - d1[i]
    return tot
