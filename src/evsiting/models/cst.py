"""Synthetic capacitated facility location instances of the Cornuéjols, Sridharan and Thizy kind.

The generator of G. Cornuéjols, R. Sridharan and J.M. Thizy ("A comparison of heuristics and
relaxations for the capacitated plant location problem", European Journal of Operational
Research 50 (1991) 280-297), as described and used by Görtz and Klose (INFORMS Journal on
Computing 24(4), 2012, section 5) and Avella and Boccia (2009) for their large test sets:

- sites and customers uniform in the unit square;
- demand ``d_i ~ U[5, 35]``; capacity ``s_j ~ U[10, 160]``;
- fixed cost ``f_j = U[0, 90] + U[100, 110] * sqrt(s_j)`` (economies of scale) on the capacity
  as drawn;
- then all capacities scaled so that ``sum s / sum d`` equals the capacity ratio ``r`` (3, 5,
  10, ...), and rounded to whole units (CapacitatedSiting counts capacity in whole "ports").
  The order (fixed costs before the scaling) is our reading of the papers' lists of steps.
- cost of serving all of ``i``'s demand from ``j``: ``10 * d_i * euclid(i, j)``.

These are synthetic benchmark instances (not real data); the same seed gives the same instance.
The parameters follow the papers' text; the authors' own random streams are not reproduced,
so optimal values differ from their tables.
"""

from __future__ import annotations

import numpy as np

from evsiting.models.orlib import CapInstance


def cst_instance(n_sites: int, n_customers: int, ratio: float, seed: int) -> CapInstance:
    """One instance as an :class:`~evsiting.models.orlib.CapInstance` (solve it with
    :func:`evsiting.models.orlib.cap_model`).

    Args:
        n_sites, n_customers: sizes (e.g. 100 x 1000, 200 x 2000).
        ratio: total capacity over total demand (> 1).
        seed: numpy random seed.

    Raises:
        ValueError: sizes below 1 or a ratio not above 1.
    """
    if n_sites < 1 or n_customers < 1 or not ratio > 1:
        raise ValueError("need n_sites >= 1, n_customers >= 1 and ratio > 1")
    rng = np.random.default_rng(seed)
    site_xy = rng.random((n_sites, 2))
    cust_xy = rng.random((n_customers, 2))
    demand = rng.uniform(5, 35, n_customers)
    cap = rng.uniform(10, 160, n_sites)
    fixed = rng.uniform(0, 90, n_sites) + rng.uniform(100, 110, n_sites) * np.sqrt(cap)
    cap = np.maximum(np.round(cap * ratio * demand.sum() / cap.sum()), 1.0)
    dist = np.sqrt(((cust_xy[:, None, :] - site_xy[None, :, :]) ** 2).sum(axis=2))
    alloc = 10.0 * demand[:, None] * dist
    return CapInstance(f"cst{n_sites}x{n_customers}r{ratio:g}s{seed}", cap, fixed, demand, alloc)
