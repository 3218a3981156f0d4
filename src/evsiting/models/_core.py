"""Shared machinery of the facility-location models: input checks, the solver runner and results.

Conventions used by every model:

- A *cost matrix* is ``(n_clients, n_candidates)`` travel minutes, either a dense ndarray
  (``np.inf`` = unreachable) or a ``scipy.sparse`` matrix in which an **absent** entry means
  unreachable and a stored ``0.0`` is a real zero cost.
- Infeasibility is always **raised** as :class:`~evsiting.core.errors.InfeasibleError` whose
  message says, in planner's terms, what to change. ``LocationResult.status`` is therefore
  ``"optimal"`` or ``"feasible"`` on return (``"infeasible"`` is never returned).
- ``"optimal"`` is reported only when the solver proved optimality (and the gap between the
  incumbent and the bound is zero up to 1e-9 relative / 1e-6 absolute); a run stopped by a
  time limit or by ``mip_gap`` keeps its incumbent and reports ``"feasible"`` with the gap.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pulp
import scipy.sparse as sp

from evsiting.core.errors import InfeasibleError, InputError, SolverError
from evsiting.core.solvers import SOLVERS  # noqa: F401  (the one list of solvers, re-exported)

_MAX_LISTED = 20


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
@dataclass
class LocationResult:
    """Solution of a facility-location model, reported in the ORIGINAL client/candidate indices.

    Attributes:
        model: model name (``"LSCP"``, ``"MCLP"``, ``"PMedian"``, ``"PCenter"``,
            ``"CapacitatedSiting"``, ``"MultiPeriodSiting"``, ...: the class's ``name``).
        status: ``"optimal"`` (proven) or ``"feasible"`` (time limit or ``mip_gap`` stop; the
            incumbent is kept). Infeasible models raise :class:`InfeasibleError` instead.
        objective: objective value of the returned solution, re-evaluated on the input data
            (LSCP: number of open facilities; MCLP: covered weight; PMedian: sum of weight x
            minutes; PCenter: max minutes; CapacitatedSiting: CNY of capital (plus allocation)
            or kWh/day served within a budget; MultiPeriodSiting: discounted kWh/day served or
            discounted CNY).
        bound: best proven bound on the optimum (same sense as the objective).
        gap: relative gap ``|objective - bound| / max(|objective|, 1e-10)``; 0.0 when optimal.
        selected: sorted int array of the open candidate indices (required ones included).
        assignment: ``(n_clients,)`` int array, candidate serving each client or -1.
        runtime_s: wall seconds of reduction + model build + solve.
        solver: ``"cbc"`` or ``"highs"``.
        covered: ``(n_clients,)`` bool array for covering models (None otherwise).
        message: human-readable note (e.g. why the status is ``feasible``).
        stats: sizes before/after reduction and build/solve seconds.
    """

    model: str
    status: str
    objective: float
    bound: float
    gap: float
    selected: np.ndarray
    assignment: np.ndarray
    runtime_s: float
    solver: str
    covered: np.ndarray | None = None
    message: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_selected(self) -> int:
        """Number of open candidates."""
        return int(len(self.selected))


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------
def _listing(idx: Iterable[int], what: str = "demand points") -> str:
    idx = [int(i) for i in idx]
    head = ", ".join(str(i) for i in idx[:_MAX_LISTED])
    more = f" and {len(idx) - _MAX_LISTED} more" if len(idx) > _MAX_LISTED else ""
    return f"{len(idx)} {what} ({head}{more})"


def as_cost_csr(cost: Any) -> sp.csr_matrix:
    """Normalise a cost matrix to CSR with sorted indices, one entry per reachable pair.

    Args:
        cost: ``(n_clients, n_candidates)`` dense array-like (``np.inf`` = unreachable) or a
            scipy.sparse matrix (absent entry = unreachable; stored 0.0 = zero minutes;
            stored ``inf`` = unreachable). Minutes.

    Returns:
        float64 CSR matrix whose stored entries are exactly the reachable pairs.

    Raises:
        InputError: wrong dimensions, NaN or negative costs.
    """
    if sp.issparse(cost):
        coo = sp.coo_matrix(cost, dtype=np.float64)
        if coo.ndim != 2:
            raise InputError("cost matrix must be 2-D (clients x candidates)", field="cost")
        # sum_duplicates keeps explicit zeros; duplicates of one pair are summed as scipy does.
        coo.sum_duplicates()
        rows, cols, vals = coo.row, coo.col, coo.data
        shape = coo.shape
    else:
        arr = np.asarray(cost, dtype=np.float64)
        if arr.ndim != 2:
            raise InputError(
                f"cost matrix must be 2-D (clients x candidates), got shape {arr.shape}", field="cost"
            )
        shape = arr.shape
        rows, cols = np.nonzero(~np.isposinf(arr))
        vals = arr[rows, cols]
    if np.isnan(vals).any():
        raise InputError("cost matrix contains NaN; use np.inf (or leave the entry out of a "
                         "sparse matrix) for unreachable pairs", field="cost")
    if (vals < 0).any():
        raise InputError("cost matrix contains negative travel times", field="cost")
    keep = np.isfinite(vals)
    m = sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=shape)
    m.sort_indices()
    return m


def check_weights(weights: Any, n_clients: int) -> np.ndarray:
    """Validate client weights: ``(n_clients,)`` finite non-negative floats (None -> ones)."""
    if weights is None:
        return np.ones(n_clients, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != n_clients:
        raise InputError(f"weights has {w.shape[0]} values for {n_clients} demand points", field="weights")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InputError("weights must be finite and non-negative", field="weights")
    return w


def check_per_site(value: Any, m: int, name: str, *, integer: bool = False) -> np.ndarray:
    """A scalar or per-site argument of the siting models as ``(m,)`` floats (None = 0).

    Args:
        value: scalar or ``(m,)`` values (ports, kWh/day or CNY, as the caller's ``name`` says).
        m: number of candidate sites.
        name: the argument's name, for messages.
        integer: the values count ports and must be whole numbers.

    Raises:
        InputError: not a scalar or one value per candidate, not finite, negative, or not whole
            where ports are counted.
    """
    arr = np.asarray(0.0 if value is None else value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(m, float(arr))
    arr = arr.reshape(-1)
    if arr.shape[0] != m:
        raise InputError(f"{name} must be a scalar or have one value per candidate ({m})", field=name)
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise InputError(f"{name} must be finite and non-negative", field=name)
    if integer and not np.all(arr == np.round(arr)):
        raise InputError(f"{name} must be whole numbers of ports", field=name)
    return arr


def check_required(required: Any, n_candidates: int) -> np.ndarray:
    """Validate required (always-open) candidate indices; returns a sorted unique int array."""
    if required is None:
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(required)
    if arr.dtype == bool:
        if arr.shape != (n_candidates,):
            raise InputError("boolean 'required' must have one value per candidate", field="required")
        arr = np.flatnonzero(arr)
    arr = np.unique(np.asarray(arr, dtype=np.int64).reshape(-1))
    if arr.size and (arr[0] < 0 or arr[-1] >= n_candidates):
        raise InputError(f"required candidate indices must be in [0, {n_candidates})", field="required")
    return arr


def check_p(p: Any, n_candidates: int, n_required: int) -> int:
    """Validate the number of facilities ``p`` against candidates and required stations."""
    try:
        p_int = int(p)
    except (TypeError, ValueError):
        raise InputError(f"p_facilities must be an integer, got {p!r}", field="p_facilities") from None
    if p_int != p or p_int < 1:
        raise InputError(f"p_facilities must be a positive integer, got {p!r}", field="p_facilities")
    if p_int > n_candidates:
        raise InfeasibleError(
            f"p_facilities={p_int} is larger than the {n_candidates} candidate sites; "
            f"lower p_facilities or add candidates"
        )
    if n_required > p_int:
        raise InfeasibleError(
            f"{n_required} required (existing) stations exceed p_facilities={p_int}; "
            f"raise p_facilities to at least {n_required}"
        )
    return p_int


def check_standard(value: Any, n: int | None = None, name: str = "service_radius", *,
                   allow_inf: bool = False) -> float | np.ndarray:
    """A service standard in minutes: one value for every demand point, or one per demand
    point (each cell's own standard, e.g. by urban zone: :mod:`evsiting.demand.zones`).

    Args:
        value: a number, or an array-like of ``n`` numbers (minutes).
        n: the number of demand points an array must have (None = not checked here).
        name: the argument named in errors.
        allow_inf: ``inf`` (no standard) is allowed.

    Returns:
        float, or a float64 array (n,).

    Raises:
        InputError: not a number, NaN, negative, infinite (unless allowed), wrong length.
    """
    if np.ndim(value) == 0:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a number of minutes, got {value!r}", field=name) from None
        arr = np.array([v])
    else:
        try:
            arr = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be numbers of minutes", field=name) from None
        if n is not None and arr.shape[0] != n:
            raise InputError(f"{name} has {arr.shape[0]} values for {n} demand points", field=name)
    if np.isnan(arr).any() or (arr < 0).any() or (not allow_inf and not np.isfinite(arr).all()):
        raise InputError(f"{name} must be {'non-negative' if allow_inf else 'finite and non-negative'} (minutes)", field=name)
    return float(arr[0]) if np.ndim(value) == 0 else arr


def standard_text(standard: float | np.ndarray) -> str:
    """``15`` for one standard, ``1.5-15`` for per-point standards (minutes, for messages)."""
    if np.ndim(standard) == 0:
        return f"{float(standard):g}"
    s = np.asarray(standard, dtype=float)
    if not s.size:
        return "0"
    lo, hi = float(s.min()), float(s.max())
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def pair_within(cost: sp.csr_matrix, standard: float | np.ndarray) -> np.ndarray:
    """(nnz,) bool: the stored pair's minutes are within its demand point's standard
    (a scalar, or an ``(n_clients,)`` array: row ``i`` compared with ``standard[i]``)."""
    if np.ndim(standard) == 0:
        return cost.data <= standard
    rows = np.repeat(np.arange(cost.shape[0]), np.diff(cost.indptr))
    return cost.data <= np.asarray(standard, dtype=np.float64)[rows]


def coverage_csr(cost: sp.csr_matrix, radius: float | np.ndarray) -> sp.csr_matrix:
    """Boolean-structure CSR (int8 ones) of the pairs with ``cost <= radius`` minutes
    (``radius`` one value or one per client, see :func:`pair_within`)."""
    keep = pair_within(cost, radius)
    rows = np.repeat(np.arange(cost.shape[0]), np.diff(cost.indptr))
    c = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.int8), (rows[keep], cost.indices[keep])), shape=cost.shape
    )
    c.sort_indices()
    return c


def row_keys(m: sp.csr_matrix, with_data: bool = False) -> list[bytes]:
    """One hashable key per CSR row (its sorted column indices, optionally its values)."""
    ind, ptr = m.indices, m.indptr
    if with_data:
        dat = m.data
        return [ind[ptr[i]:ptr[i + 1]].tobytes() + b"|" + dat[ptr[i]:ptr[i + 1]].tobytes()
                for i in range(m.shape[0])]
    return [ind[ptr[i]:ptr[i + 1]].tobytes() for i in range(m.shape[0])]


def merge_identical_rows(m: sp.csr_matrix, with_data: bool = False,
                         labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Group identical CSR rows (same columns; same values too with ``with_data``; same
    ``labels`` entry too when given, e.g. a per-row flag the matrix does not hold).

    Returns:
        (representatives, group_of_row): sorted row indices of the first row of each group,
        and for every row the position of its group in ``representatives``.
    """
    keys = row_keys(m, with_data)
    if labels is not None:
        lab = np.asarray(labels)
        keys = [k + b"|" + lab[i].tobytes() for i, k in enumerate(keys)]
    first: dict[bytes, int] = {}
    group = np.empty(len(keys), dtype=np.int64)
    reps: list[int] = []
    for i, k in enumerate(keys):
        g = first.get(k)
        if g is None:
            g = len(reps)
            first[k] = g
            reps.append(i)
        group[i] = g
    return np.asarray(reps, dtype=np.int64), group


def nearest_assignment(cost: sp.csr_matrix, selected: np.ndarray, radius: float | np.ndarray = math.inf) -> np.ndarray:
    """For each client, the nearest selected candidate within ``radius`` (one value or one per
    client; ties: lowest index), or -1."""
    n = cost.shape[0]
    out = np.full(n, -1, dtype=np.int64)
    if len(selected) == 0:
        return out
    sub = cost[:, selected].tocoo()
    keep = sub.data <= (radius if np.ndim(radius) == 0 else np.asarray(radius, dtype=np.float64)[sub.row])
    r, c, d = sub.row[keep], np.asarray(selected)[sub.col[keep]], sub.data[keep]
    if r.size == 0:
        return out
    order = np.lexsort((c, d, r))
    r, c = r[order], c[order]
    first = np.ones(r.size, dtype=bool)
    first[1:] = r[1:] != r[:-1]
    out[r[first]] = c[first]
    return out


def assigned_costs(cost: sp.csr_matrix, assignment: np.ndarray) -> np.ndarray:
    """Cost of each client to its assigned candidate (nan where unassigned)."""
    out = np.full(cost.shape[0], np.nan)
    ok = assignment >= 0
    if ok.any():
        rows = np.flatnonzero(ok)
        out[rows] = np.asarray(cost[rows, assignment[rows]]).reshape(-1)
    return out


# --------------------------------------------------------------------------------------------
# Solver runner
# --------------------------------------------------------------------------------------------
def available_solvers() -> list[str]:
    """Names (as accepted by ``solve``) of the solvers usable on this machine."""
    out = []
    try:
        if _cbc(msg=False).available():
            out.append("cbc")
    except Exception:  # pragma: no cover - depends on the install
        pass
    try:
        if pulp.HiGHS(msg=False).available():
            out.append("highs")
    except Exception:  # pragma: no cover
        pass
    return out


def check_solver(solver: str) -> str:
    """Normalise a solver name; raise SolverError listing the available ones if unusable."""
    name = str(solver).lower().replace("pulp_cbc_cmd", "cbc")
    avail = available_solvers()
    if name not in SOLVERS or name not in avail:
        raise SolverError(
            f"solver {solver!r} is not available; available solvers: {', '.join(avail) or 'none'} "
            f"(install CBC via pulp or HiGHS via highspy)"
        )
    return name


def check_limits(time_limit: Any, mip_gap: Any) -> tuple[float | None, float | None]:
    """Validate ``time_limit`` (seconds > 0) and ``mip_gap`` (relative, >= 0)."""
    if time_limit is not None:
        time_limit = float(time_limit)
        if not time_limit > 0:
            raise InputError("time_limit must be positive seconds", field="time_limit")
    if mip_gap is not None:
        mip_gap = float(mip_gap)
        if not mip_gap >= 0:
            raise InputError("mip_gap must be a non-negative fraction", field="mip_gap")
    return time_limit, mip_gap


@dataclass
class SolveOutcome:
    """What the solver reported: proven optimality, bound (objective sense), wall seconds."""

    proven: bool
    bound: float
    seconds: float
    has_solution: bool
    timed_out: bool


_CBC_BOUND = re.compile(r"^(Lower|Upper) bound:\s*([-+0-9.eE]+|inf|-inf)", re.MULTILINE)


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1 (C-level prints) for the duration of the block."""
    import sys

    try:
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):
        pass
    try:  # the process's own stdout (fd 1): in Jupyter sys.stdout's fileno() is a copy, not what C writes to
        fd = sys.__stdout__.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _highs_with_start(start: dict | None, **opts: Any) -> pulp.LpSolver:
    """pulp's HiGHS API solver, handing ``start`` (variable -> value) to HiGHS as a MIP start."""
    import highspy

    class _HiGHSStart(pulp.HiGHS):  # type: ignore[misc, valid-type]
        def createAndConfigureSolver(self, lp: pulp.LpProblem) -> None:
            with _quiet_stdout():  # highspy.Highs() prints a banner before output_flag is off
                super().createAndConfigureSolver(lp)

        def callSolver(self, lp: pulp.LpProblem) -> None:
            if start:
                h = lp.solverModel
                vals = [0.0] * h.getNumCol()
                for v, val in start.items():
                    vals[v.index] = float(val)
                sol = highspy.HighsSolution()
                sol.col_value = vals
                sol.value_valid = True
                h.setSolution(sol)
            lp.solverModel.run()

    return _HiGHSStart(**opts)


def run_solver(prob: pulp.LpProblem, solver: str, time_limit: float | None,
               mip_gap: float | None, threads: int | None = None,
               *, start: dict | None = None, warm_start: bool = False,
               gap_abs: float | None = None) -> SolveOutcome:
    """Solve a pulp problem and read status and bound from the solver itself.

    CBC: status from pulp (``prob.sol_status``), bound parsed from CBC's log ("Lower bound:"
    or "Upper bound:"). HiGHS: ``prob.solverModel.getModelStatus()`` and
    ``getInfo().mip_dual_bound`` (negated back for maximisation, since pulp minimises -obj).

    ``start`` ({variable: value}) is passed as a MIP start; ``warm_start=True`` passes the
    initial values already set on the variables (CBC only). ``gap_abs`` is an absolute gap
    at which the solver may stop (e.g. 0.999 for an objective known to be integral: an
    incumbent within less than 1 of the bound is then proven optimal).

    Raises:
        SolverError: the solver failed or stopped without any feasible solution.
        InfeasibleError: the solver proved the (reduced) model infeasible (generic message;
            callers check planner-level causes before solving).
    """
    sense = prob.sense
    t0 = time.perf_counter()
    if time_limit is not None:  # a spent budget must stay a limit: HiGHS takes <= 0 as none
        time_limit = max(float(time_limit), 0.01)
    if solver == "cbc":
        # pulp's model/solution files and CBC's log go to a private folder removed on any exit
        # (error, Ctrl-C, SIGTERM), and an interrupted CBC process is stopped with us.
        work = tempfile.mkdtemp(prefix="evsiting-cbc-")
        log = os.path.join(work, "cbc.log")
        try:
            # CBC's fixed default seeds and, unless ``threads`` is given, one thread: with no time
            # limit reached the same model gives the same solution
            opts: dict[str, Any] = dict(msg=False, timeLimit=time_limit, logPath=log)
            if start:
                for v, val in start.items():
                    v.setInitialValue(float(val), check=False)
            if start or warm_start:  # warm_start: initial values were set by the caller
                opts["warmStart"] = True
            if mip_gap is not None:
                opts["gapRel"] = mip_gap
            if gap_abs is not None:
                opts["gapAbs"] = gap_abs
            if threads:
                opts["threads"] = threads
            for attempt in range(2):  # one retry: a CBC process killed from outside
                cmd = _cbc(**opts)
                cmd.tmpDir = work
                try:
                    prob.solve(cmd)
                    break
                except pulp.PulpSolverError as exc:
                    if attempt:
                        raise SolverError(f"CBC failed: {exc}") from exc
                except (KeyboardInterrupt, SystemExit):
                    stop_solver_processes(work)  # only this solve's CBC: other threads may run their own
                    raise
            with open(log) as fh:
                text = fh.read()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        secs = time.perf_counter() - t0
        timed_out = "Stopped on time" in text or "Result - Stopped" in text
        # Infeasible only when proven: CBC stopped on time without a solution is not a proof.
        if "Result - Problem proven infeasible" in text or "Result - Linear relaxation infeasible" in text \
                or (prob.status == pulp.LpStatusInfeasible and not timed_out):
            raise InfeasibleError("the model has no feasible solution")
        has_sol = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        proven = prob.sol_status == pulp.LpSolutionOptimal and not timed_out
        mt = _CBC_BOUND.findall(text)
        bound = float(mt[-1][1]) if mt else math.nan
        if proven and mip_gap is None and gap_abs is None:
            bound = math.nan  # filled with the objective by the caller
        return SolveOutcome(proven, bound, secs, has_sol, timed_out)
    if solver == "highs":
        import highspy

        # a fixed seed: with no time limit reached, the same model gives the same solution
        opts = dict(msg=False, timeLimit=time_limit, gapRel=0.0 if mip_gap is None else mip_gap, random_seed=0)
        if gap_abs is not None:
            opts["gapAbs"] = gap_abs
        if threads:
            opts["threads"] = threads
        try:
            prob.solve(_highs_with_start(start, **opts))
        except pulp.PulpSolverError as exc:
            raise SolverError(f"HiGHS failed: {exc}") from exc
        secs = time.perf_counter() - t0
        h = prob.solverModel
        st = h.getModelStatus()
        info = h.getInfo()
        S = highspy.HighsModelStatus
        if st in (S.kInfeasible, S.kUnboundedOrInfeasible):
            raise InfeasibleError("the model has no feasible solution")
        has_sol = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible) and \
            info.primal_solution_status == 2
        proven = st == S.kOptimal
        bound = float(info.mip_dual_bound) if info.mip_node_count >= 0 else math.nan
        if not math.isfinite(bound) and proven:
            bound = float(info.objective_function_value)
        if sense == pulp.LpMaximize:
            bound = -bound
        return SolveOutcome(proven, bound, secs, has_sol, st == S.kTimeLimit)
    raise SolverError(f"unknown solver {solver!r}; available solvers: {', '.join(available_solvers())}")


def finish_status(outcome: SolveOutcome, objective: float, maximize: bool,
                  mip_gap: float | None, integral: bool = False) -> tuple[str, float, float, str]:
    """Turn a solver outcome and the re-evaluated objective into (status, bound, gap, message).

    The bound is clipped to the valid side of the objective; with ``integral`` objectives the
    bound is rounded towards the objective (floor for max, ceil for min).
    """
    bound = outcome.bound
    if not math.isfinite(bound):
        bound = objective if outcome.proven else (math.inf if maximize else -math.inf)
    if integral and math.isfinite(bound):
        bound = math.floor(bound + 1e-6) if maximize else math.ceil(bound - 1e-6)
    bound = max(bound, objective) if maximize else min(bound, objective)
    diff = abs(bound - objective)
    gap = diff / max(abs(objective), 1e-10) if math.isfinite(diff) else math.inf
    proven = outcome.proven and (diff <= 1e-6 or gap <= 1e-9)
    if proven:
        return "optimal", objective, 0.0, ""
    if outcome.timed_out:
        msg = f"time limit reached; best solution kept, relative gap {gap:.4g}"
    elif outcome.proven:
        msg = f"stopped at the requested mip_gap={mip_gap}; relative gap {gap:.4g}"
    else:
        msg = f"solver stopped without proving optimality; relative gap {gap:.4g}"
    return "feasible", float(bound), float(gap), msg


def var_values(vars_: Sequence[pulp.LpVariable]) -> np.ndarray:
    """Values of pulp variables as a float array (None -> 0)."""
    return np.array([v.varValue if v.varValue is not None else 0.0 for v in vars_], dtype=np.float64)


def binary_vars(prob: pulp.LpProblem, prefix: str, n: int) -> list[pulp.LpVariable]:
    """``n`` binary pulp variables of ``prob`` named ``{prefix}{k}``."""
    add = prob.add_variable
    return [add(f"{prefix}{k}", 0, 1, cat=pulp.LpBinary) for k in range(n)]


def continuous_vars(prob: pulp.LpProblem, prefix: str, n: int, low: float = 0.0,
                    up: float | None = None) -> list[pulp.LpVariable]:
    """``n`` continuous pulp variables of ``prob`` named ``{prefix}{k}`` with bounds."""
    add = prob.add_variable
    return [add(f"{prefix}{k}", low, up) for k in range(n)]


def stop_solver_processes(folder: str | None = None, timeout: float = 5.0) -> list[int]:
    """Terminate this process's CBC children (CBC runs as a child process; pulp does not stop
    it when the wait for it is interrupted), only those working in ``folder`` when given, then
    kill those still alive after ``timeout`` seconds. Returns the process ids stopped."""
    import psutil

    kids = [c for c in psutil.Process().children(recursive=True) if _is_solver(c, folder)]
    for c in kids:
        with contextlib.suppress(psutil.Error):
            c.terminate()
    _gone, alive = psutil.wait_procs(kids, timeout=timeout)
    for c in alive:
        with contextlib.suppress(psutil.Error):
            c.kill()
    return [c.pid for c in kids]


def _is_solver(proc: Any, folder: str | None) -> bool:
    import psutil

    try:
        return "cbc" in proc.name().lower() and (folder is None or any(folder in a for a in proc.cmdline()))
    except psutil.Error:
        return False


def _cbc(**kw: Any) -> pulp.LpSolver:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(**kw)


def add_csr_rows(prob: pulp.LpProblem, mat: sp.csr_matrix, cols: Sequence[pulp.LpVariable],
                 extra: Sequence[tuple[pulp.LpVariable, float]] | None, sense: int, *, rhs: np.ndarray,
                 prefix: str) -> None:
    """Add one constraint per CSR row: ``sum_j mat[i,j] * cols[j] (+ extra[i]) <sense> rhs[i]``.

    Built from tuples (pulp's fast path); no loop over zero entries.
    """
    ind, ptr, dat = mat.indices, mat.indptr, mat.data.astype(np.float64)
    add = prob.addConstraint
    for i in range(mat.shape[0]):
        a, b = ptr[i], ptr[i + 1]
        terms = [(cols[j], c) for j, c in zip(ind[a:b].tolist(), dat[a:b].tolist())]
        if extra is not None:
            terms.append(extra[i])
        add(pulp.LpConstraint(pulp.LpAffineExpression(terms), sense=sense, rhs=float(rhs[i]),
                              name=f"{prefix}{i}"))


def from_geodataframe_args(demand_gdf: Any, candidates_gdf: Any, cost: Any, weights_col: str | None,
                           required_col: str | None) -> tuple[Any, np.ndarray | None, np.ndarray | None]:
    """Extract (cost, weights, required) from GeoDataFrames for the ``from_geodataframe`` constructors."""
    n, m = len(demand_gdf), len(candidates_gdf)
    shape = cost.shape
    if tuple(shape) != (n, m):
        raise InputError(f"cost matrix shape {tuple(shape)} does not match {n} demand points x "
                         f"{m} candidates", field="cost")
    weights = None
    if weights_col is not None:
        if weights_col not in demand_gdf.columns:
            raise InputError(f"demand has no column '{weights_col}'", field=weights_col)
        weights = demand_gdf[weights_col].to_numpy(dtype=np.float64)
    required = None
    if required_col is not None:
        if required_col not in candidates_gdf.columns:
            raise InputError(f"candidates have no column '{required_col}'", field=required_col)
        required = np.flatnonzero(candidates_gdf[required_col].fillna(False).to_numpy(dtype=bool))
    return cost, weights, required


def subset_pairs(m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(a, b)`` of distinct columns of ``m`` with rowset(a) a subset of rowset(b).

    Identical columns give both orders. Empty columns are not reported.
    """
    cc = sp.csc_matrix(m, dtype=np.int32)
    sizes = np.diff(cc.indptr)
    inter = (cc.T @ cc).tocoo()
    a, b, v = inter.row, inter.col, inter.data
    sel = (a != b) & (v == sizes[a])
    return a[sel], b[sel]


class _Model:
    """Base of the model classes: data attachment, validation helpers and the solve entry point."""

    name = "model"

    def __init__(self) -> None:
        self.cost: sp.csr_matrix | None = None
        self.weights: np.ndarray | None = None
        self.required: np.ndarray = np.zeros(0, dtype=np.int64)
        self.weights_given = False

    def _attach(self, cost: Any, weights: Any, required: Any) -> None:
        self.cost = as_cost_csr(cost)
        self.weights_given = weights is not None
        self.weights = check_weights(weights, self.cost.shape[0])
        self.required = check_required(required, self.cost.shape[1])

    @property
    def n_clients(self) -> int:
        """Number of demand points (rows of the cost matrix)."""
        return 0 if self.cost is None else int(self.cost.shape[0])

    @property
    def n_candidates(self) -> int:
        """Number of candidate sites (columns of the cost matrix)."""
        return 0 if self.cost is None else int(self.cost.shape[1])

    def _require_data(self) -> None:
        if self.cost is None:
            raise InputError(f"{self.name}: no data; build it with {self.name}.from_cost_matrix(...) "
                             f"or {self.name}.from_geodataframe(...)")

    def _begin_solve(self, solver: str, time_limit: Any, mip_gap: Any) -> tuple[str, float | None, float | None, float]:
        """The checks every ``solve`` starts with: data attached, solver available, limits valid.

        Returns:
            ``(solver, time_limit_s, mip_gap, t0)``: the checked solver name and limits and the
            start time (``time.perf_counter()`` seconds) of the solve.

        Raises:
            InputError: no data attached, or a bad time limit / gap. SolverError: solver not
                available.
        """
        self._require_data()
        solver = check_solver(solver)
        time_limit, mip_gap = check_limits(time_limit, mip_gap)
        return solver, time_limit, mip_gap, time.perf_counter()
