"""Reader for Beasley's OR-Library p-median instances (``pmed1.txt`` ... ``pmed40.txt``).

Format: first line ``n m p``; then ``m`` lines ``i j cost`` describing an undirected graph on
nodes ``1..n``. Duplicate edges occur and **the last occurrence counts**. The p-median cost
matrix is the all-pairs shortest-path matrix (every node is both client and candidate).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from evsiting.core.errors import InputError

#: Known optimal p-median objectives (Beasley 1990), pmed1..pmed40.
PMEDIAN_OPTIMA: dict[str, int] = {
    "pmed1": 5819, "pmed2": 4093, "pmed3": 4250, "pmed4": 3034, "pmed5": 1355,
    "pmed6": 7824, "pmed7": 5631, "pmed8": 4445, "pmed9": 2734, "pmed10": 1255,
    "pmed11": 7696, "pmed12": 6634, "pmed13": 4374, "pmed14": 2968, "pmed15": 1729,
    "pmed16": 8162, "pmed17": 6999, "pmed18": 4809, "pmed19": 2845, "pmed20": 1789,
    "pmed21": 9138, "pmed22": 8579, "pmed23": 4619, "pmed24": 2961, "pmed25": 1828,
    "pmed26": 9917, "pmed27": 8307, "pmed28": 4498, "pmed29": 3033, "pmed30": 1989,
    "pmed31": 10086, "pmed32": 9297, "pmed33": 4700, "pmed34": 3013, "pmed35": 10400,
    "pmed36": 9934, "pmed37": 5057, "pmed38": 11060, "pmed39": 9423, "pmed40": 5128,
}


@dataclass
class OrlibInstance:
    """One OR-Library p-median instance.

    Attributes:
        name: e.g. ``"pmed1"``.
        n: number of nodes (clients = candidates = nodes).
        p: number of medians.
        edges: ``(k, 3)`` int array of the kept undirected edges ``(i, j, cost)``, 0-based nodes.
        cost: ``(n, n)`` float all-pairs shortest-path matrix.
    """

    name: str
    n: int
    p: int
    edges: np.ndarray
    cost: np.ndarray


def read_pmed(path: str | os.PathLike) -> OrlibInstance:
    """Read ``pmedN.txt`` and compute its all-pairs shortest-path cost matrix.

    Raises:
        InputError: missing file, bad header, node out of range or a disconnected graph.
    """
    path = Path(path)
    try:
        lines = path.read_text().split("\n")
    except OSError as exc:
        raise InputError(f"cannot read OR-Library file: {exc}", source=path) from None
    tokens = [ln.split() for ln in lines if ln.strip()]
    if not tokens or len(tokens[0]) != 3:
        raise InputError("first line must be 'n m p'", source=path)
    n, m, p = (int(t) for t in tokens[0])
    edges: dict[tuple[int, int], int] = {}
    for t in tokens[1:]:
        if len(t) != 3:
            raise InputError(f"edge line must be 'i j cost', got {' '.join(t)!r}", source=path)
        i, j, c = int(t[0]) - 1, int(t[1]) - 1, int(t[2])
        if not (0 <= i < n and 0 <= j < n):
            raise InputError(f"node out of range 1..{n}: {t}", source=path)
        key = (i, j) if i <= j else (j, i)
        edges.pop(key, None)  # the last occurrence counts
        edges[key] = c
    arr = np.array([(i, j, c) for (i, j), c in edges.items()], dtype=np.int64).reshape(-1, 3)
    g = sp.coo_matrix((arr[:, 2].astype(float), (arr[:, 0], arr[:, 1])), shape=(n, n)).tocsr()
    dist = shortest_path(g, method="D", directed=False)
    if not np.isfinite(dist).all():
        raise InputError("graph is not connected", source=path)
    return OrlibInstance(path.stem, n, p, arr, dist)


def pcenter_optima(folder: str | os.PathLike) -> dict[str, int]:
    """Read ``pcenter_optima.txt`` (lines ``pmedN radius``) from the OR-Library folder."""
    out: dict[str, int] = {}
    for line in (Path(folder) / "pcenter_optima.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = int(parts[1])
    return out


# --------------------------------------------------------------------------------------------
# Capacitated warehouse location (Beasley's cap41 ... cap134)


@dataclass
class CapInstance:
    """One OR-Library capacitated warehouse location instance (``capNN.txt``).

    Format of the file (whitespace-separated tokens; lines may wrap): ``m n``; ``m`` pairs
    ``capacity fixed_cost``; then for each of the ``n`` customers its demand followed by ``m``
    allocation costs, each the cost of allocating ALL of the customer's demand to that
    warehouse. Demand may be split between warehouses (paying the same share of the cost).

    Attributes:
        name: e.g. ``"cap41"``.
        capacity: ``(m,)`` warehouse capacities.
        fixed_cost: ``(m,)`` cost of opening each warehouse.
        demand: ``(n,)`` customer demands.
        alloc_cost: ``(n, m)`` cost of serving all of customer ``i``'s demand from ``j``.
    """

    name: str
    capacity: np.ndarray
    fixed_cost: np.ndarray
    demand: np.ndarray
    alloc_cost: np.ndarray

    @property
    def unit_cost(self) -> np.ndarray:
        """``(n, m)`` cost per unit of demand, ``alloc_cost / demand`` (0 for zero demand)."""
        d = self.demand[:, None]
        return np.divide(self.alloc_cost, d, out=np.zeros_like(self.alloc_cost), where=d > 0)


def read_cap(path: str | os.PathLike) -> CapInstance:
    """Read an OR-Library capacitated warehouse location file (``cap41.txt`` ... ``cap134.txt``).

    Raises:
        InputError: missing file, bad header, a wrong number of values or a negative one.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read OR-Library file: {exc}", source=path) from None
    tok = text.split()
    if len(tok) < 2:
        raise InputError("first line must be 'm n' (warehouses, customers)", source=path)
    try:
        m, n = int(tok[0]), int(tok[1])
        vals = np.array([float(t) for t in tok[2:]], dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"non-numeric value: {exc}", source=path) from None
    if m <= 0 or n <= 0:
        raise InputError(f"bad header 'm n' = {m} {n}", source=path)
    expect = 2 * m + n * (1 + m)
    if vals.size != expect:
        raise InputError(f"expected {expect} values after 'm n' = {m} {n}, got {vals.size}", source=path)
    if not np.isfinite(vals).all() or (vals < 0).any():
        raise InputError("values must be finite and non-negative", source=path)
    wh = vals[:2 * m].reshape(m, 2)
    cust = vals[2 * m:].reshape(n, 1 + m)
    return CapInstance(path.stem, wh[:, 0].copy(), wh[:, 1].copy(), cust[:, 0].copy(), cust[:, 1:].copy())


def cap_optima(folder: str | os.PathLike) -> dict[str, float]:
    """Published optima of the capNN instances from ``capopt.txt`` in ``folder``.

    Lines ``capNN value``; the header, the capa/capb/capc lines (several capacities each) and
    their continuation lines are skipped.
    """
    out: dict[str, float] = {}
    for line in (Path(folder) / "capopt.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("cap") and parts[0][3:].isdigit():
            out[parts[0]] = float(parts[1])
    return out


def cap_model(inst: CapInstance):
    """``inst`` as a :class:`~evsiting.models.capacitated.CapacitatedSiting` (a special case).

    Demand is energy (no DC-only part); a warehouse is a site holding one station of one port
    type (AC, ``ac_port_kwh_day=1``, at most ``capacity`` ports, free) whose site cost is the
    fixed cost; the "minutes" are the per-unit allocation costs ``alloc_cost / demand`` at
    ``allocation_cny_per_kwh_min=1``, with no service standard (``inf``). Solve with
    ``mip_gap=0`` to prove the optimum; the objective is then the instance's total cost.
    """
    from evsiting.models.capacitated import CapacitatedSiting

    return CapacitatedSiting.from_cost_matrix(
        inst.unit_cost, inst.demand, None, np.inf,
        dc_port_kwh_day=0.0, ac_port_kwh_day=1.0, max_dc_ports=0, max_ac_ports=inst.capacity,
        max_stations=1, site_cost_cny=inst.fixed_cost, dc_port_cost_cny=0.0, ac_port_cost_cny=0.0,
        allocation_cny_per_kwh_min=1.0)
