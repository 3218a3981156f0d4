"""A feasible plan of the capacitated siting model in one LP: the start every solve path keeps.

:meth:`~evsiting.models.capacitated.CapacitatedSiting.solve` must never end without a plan when
its feasibility step has shown that the sites within reach hold all the energy. Its MIP steps
(HiGHS's incumbent search on the LP's support, the Lagrangian heuristic) may find none within a
short time limit on a loaded machine, so each path first builds one here:

1. choose the stations of each site (``k``: the LP's stations rounded up, or every station a
   site may hold);
2. give each site the most integer ports its stations allow (:func:`max_ports`: DC ports first,
   then AC ports, within the per-station port maxima, a staged plan's per-site caps and the
   per-station power limit);
3. route the energy with those ports fixed (an LP in the flows only: its cost is the
   allocation cost, so each point goes to its nearest open stations);
4. drop what the flows do not use (``trimmed``: ports beyond the load, stations beyond the
   ports, sites without flow).

With ``k`` = every station, step 3 is the feasibility step's max-flow with integer ports; it
can fail only where integer ports hold less than the continuous ones of the feasibility LP (a
fraction of one AC port's energy per saturated site), and then the caller's MIP steps remain.
Notation of :mod:`evsiting.models._cflp` (reduced instance; kWh/day, kW, CNY).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from evsiting.models._cflp import Instance, MatrixCopy, MatrixModel, solve_highs


def max_ports(inst: Instance, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(m,)`` DC and AC ports (integers) that ``k[j]`` stations at each site hold at most:
    DC first (``min(hi_dc k, site cap, floor(P k / pd))``), then AC within the kW left; an
    existing site (one station) keeps at least its installed ports.

    Args:
        inst: the reduced instance; k: ``(m,)`` stations per site (existing sites count 1).
    """
    kst = np.where(inst.new, k, 1).astype(np.float64)
    hd = inst.hi_dc * kst
    ha = inst.hi_ac * kst
    if inst.site_hi_dc is not None:
        hd = np.minimum(hd, inst.site_hi_dc)
    if inst.site_hi_ac is not None:
        ha = np.minimum(ha, inst.site_hi_ac)
    hd = np.floor(np.maximum(hd, inst.lo_dc) + 1e-9)
    ha = np.floor(np.maximum(ha, inst.lo_ac) + 1e-9)
    if inst.station_kw is not None:
        pd, pa = float(inst.dc_port_kw), float(inst.ac_port_kw)
        kw = np.where(np.isfinite(inst.station_kw), inst.station_kw * kst, np.inf)
        if pd > 0:
            hd = np.maximum(np.minimum(hd, np.floor(kw / pd + 1e-9)), inst.lo_dc)
        if pa > 0:
            ha = np.maximum(np.minimum(ha, np.floor(np.maximum(kw - pd * hd, 0.0) / pa + 1e-9)), inst.lo_ac)
    return hd, ha


def flow_plan(inst: Instance, mm: MatrixModel, k: np.ndarray, trimmed: Callable[[np.ndarray], np.ndarray], *,
              time_limit: float | None, w_cost: np.ndarray | None = None) -> np.ndarray | None:
    """A feasible point of ``mm`` with ``k[j]`` stations at each new site (steps 2-4 of the
    module doc), or None when the integer ports of those stations cannot hold all the energy
    (or the LP found nothing in ``time_limit`` seconds).

    Args:
        inst, mm: the reduced instance and its matrix model (min-cost mode).
        k: ``(m,)`` stations per site (within ``max_stations``; existing sites ignored).
        trimmed: drops unused stations and ports of a feasible point (never raises its cost).
        w_cost: ``(pairs,)`` cost per kWh/day of each flow in the routing LP (None = ``mm``'s
            own, the allocation cost).
    """
    b = mm.blocks
    fm = MatrixCopy(mm)
    fm.integer[:] = False
    new_idx = np.flatnonzero(inst.new)
    kn = np.clip(np.round(k[new_idx]), mm.col_lo[b["y"]], mm.col_hi[b["y"]])
    fm.col_lo[b["y"]] = fm.col_hi[b["y"]] = kn
    k_all = np.zeros(inst.new.size)
    k_all[new_idx] = kn
    nd, na = max_ports(inst, k_all)
    nd = np.where(inst.new & (k_all == 0), 0.0, nd)
    na = np.where(inst.new & (k_all == 0), 0.0, na)
    fm.col_lo[b["nd"]] = fm.col_hi[b["nd"]] = nd
    fm.col_lo[b["na"]] = fm.col_hi[b["na"]] = na
    if w_cost is not None:
        fm.c[b["w"]] = w_cost
    out = solve_highs(fm, time_limit=time_limit)
    if out.x is None or out.status not in ("optimal", "gap"):
        return None
    x = out.x.copy()
    x[b["y"]], x[b["nd"]], x[b["na"]] = kn, nd, na
    return trimmed(x)


def start_plan(inst: Instance, mm: MatrixModel, trimmed: Callable[[np.ndarray], np.ndarray],
               left: Callable[[], float | None], k_guess: np.ndarray | None = None,
               *, lp_x: np.ndarray | None = None, gap_target: float | None = None,
               stats: dict | None = None, k_outside: np.ndarray | None = None) -> tuple[np.ndarray | None, float]:
    """The cheapest of :func:`flow_plan` at ``k_guess`` (e.g. the LP's stations rounded up), of
    :func:`flow_plan` at ``k_outside`` (the stations of a plan from outside, e.g. the base plan
    of a sensitivity; where they hold too little, with the stations of ``k_guess`` added;
    ``stats["outside_start"]`` says whether it was feasible and kept) and
    :func:`slope_scaling` (from the LP solution ``lp_x`` when given); ``(None, nan)`` only when none finds a plan (the integer ports of
    every station cannot hold all the energy). With a per-station power limit (min-cost mode)
    that plan is then improved by :func:`evsiting.models._cflp_search.improve_plan` (a local
    search over the stations, then integer ports; with ``gap_target`` and ``lp_x`` it stops
    once close enough to the LP bound); ``stats`` receives its counts.

    Returns:
        ``(x, objective)`` in ``mm``'s columns (min-cost mode).
    """
    best, best_obj = None, math.nan
    k_max = np.where(inst.new, inst.max_stations if inst.max_stations is not None else 1, 0)
    if k_guess is not None:
        best = flow_plan(inst, mm, np.minimum(k_guess, k_max), trimmed, time_limit=left())
        best_obj = math.nan if best is None else float(mm.c @ best + mm.offset)
    if k_outside is not None:
        k_out = np.minimum(np.asarray(k_outside, dtype=np.float64), k_max)
        x = flow_plan(inst, mm, k_out, trimmed, time_limit=left())
        if x is None and k_guess is not None:
            # the outside plan's stations hold too little here (its sites or energy differ):
            # add the stations of k_guess, and let the trim drop the unused
            x = flow_plan(inst, mm, np.maximum(k_out, np.minimum(k_guess, k_max)), trimmed, time_limit=left())
        obj = math.nan if x is None else float(mm.c @ x + mm.offset)
        kept = x is not None and (best is None or obj < best_obj)
        if kept:
            best, best_obj = x, obj
        if stats is not None:
            stats["outside_start"] = "infeasible" if x is None else "kept" if kept else "dearer"
            stats["outside_start_cny"] = None if x is None else round(obj, 2)
    x, obj = slope_scaling(inst, mm, trimmed, left, lp_x=lp_x)
    if x is not None and (best is None or obj < best_obj):
        best, best_obj = x, obj
        if stats is not None and stats.get("outside_start") == "kept":
            stats["outside_start"] = "dearer"
    if best is not None and (inst.station_kw is not None or SEARCH_ALWAYS) and not mm.maximize and inst.new.any():
        from evsiting.models._cflp_search import improve_plan

        lp_bound = float(mm.c @ lp_x + mm.offset) if lp_x is not None else math.nan
        best, best_obj = improve_plan(inst, mm, best, best_obj, trimmed, left, route=flow_plan, lp_bound=lp_bound,
                                      gap_target=gap_target, stats=stats)
    return best, best_obj


#: run the station search of :func:`start_plan` also without a power limit (off: measured only
#: with the limit so far)
SEARCH_ALWAYS = False

#: a site that serves nothing in a round of :func:`slope_scaling` (or in the LP) costs this many
#: times a full station's capital per kWh/day in the next round: Anshun with access cost and the
#: power limit, plans of 401.9 M CNY (factor 1, the classic rule) against 391.3 M (factor 4,
#: rates from the LP; its LP bound 373.3 M), measured 2026-12-07
IDLE_RATE_FACTOR = 4.0
#: share of the time left at its start that :func:`slope_scaling` may spend on further rounds
#: once it has a plan (each round is one routing LP: seconds on a prefecture, more on the province)
SCALING_TIME_SHARE = 0.15


def slope_scaling(inst: Instance, mm: MatrixModel, trimmed: Callable[[np.ndarray], np.ndarray],
                  left: Callable[[], float | None], *, rounds: int = 10,
                  lp_x: np.ndarray | None = None) -> tuple[np.ndarray | None, float]:
    """A feasible plan by dynamic slope scaling (Kim and Pardalos, "A solution approach to the
    fixed charge network flow problem using a dynamic slope scaling procedure", Operations
    Research Letters 24, 1999): route the energy with every station open at its integer port
    maxima, each flow paying its allocation cost plus a per-kWh rate of its site (first a full
    station's capital cost per kWh/day; then the capital cost of the site's trimmed plan per
    kWh/day it served, so lightly used sites grow dear and their energy moves to fuller ones);
    each round's trimmed plan is feasible, the cheapest is kept. With ``lp_x`` (the strong LP's
    solution) the first rates are the LP's capital per kWh/day at each site. A site serving
    nothing costs :data:`IDLE_RATE_FACTOR` full-station rates. ``(None, nan)`` when the
    integer ports of every station cannot hold all the energy (see the module doc).

    Returns:
        ``(x, objective)`` in ``mm``'s columns (min-cost mode).
    """
    b = mm.blocks
    P = inst.pairs
    m = P.shape[1]
    pcol = P.indices.astype(np.int64)
    k_max = np.where(inst.new, inst.max_stations if inst.max_stations is not None else 1, 0).astype(np.float64)
    one = np.where(inst.new, 1.0, 0.0)
    hd1, ha1 = max_ports(inst, one)
    full = inst.cap_dc * hd1 + inst.cap_ac * ha1
    capital1 = np.where(inst.new, inst.F + inst.cd * hd1 + inst.ca * ha1, 0.0)
    r_full = np.divide(capital1, full, out=np.zeros(m), where=full > 0)
    rate = r_full
    travel = mm.c[b["w"]]
    best, best_obj, stale = None, math.nan, 0
    ycol = np.full(m, -1, dtype=np.int64)
    ycol[np.flatnonzero(inst.new)] = np.arange(int(inst.new.sum()))

    def site_rates(x, floor_rates):
        load = np.bincount(pcol, weights=np.maximum(x[b["w"]], 0.0), minlength=m)
        y = np.where(inst.new, x[b["y"].start + np.maximum(ycol, 0)], 0.0)
        cap = np.where(inst.new, inst.F * y, 0.0) + inst.cd * (x[b["nd"]] - np.where(inst.new, 0, inst.lo_dc)) \
            + inst.ca * (x[b["na"]] - np.where(inst.new, 0, inst.lo_ac))
        used = load > 1e-6
        return np.where(used, np.divide(cap, load, out=np.zeros(m), where=used), floor_rates)

    if lp_x is not None:
        rate = site_rates(lp_x, IDLE_RATE_FACTOR * r_full)
    import time

    t_start, t0 = time.perf_counter(), left()
    for _ in range(max(rounds, 1)):
        t = left()
        if best is not None and t is not None and (t < 1.0 or time.perf_counter() - t_start > SCALING_TIME_SHARE * t0):
            break  # a plan is kept: the rest of the time belongs to the bound and the MIP steps
        x = flow_plan(inst, mm, k_max, trimmed, time_limit=t, w_cost=travel + rate[pcol])
        if x is None:
            break
        obj = float(mm.c @ x + mm.offset)
        if best is None or obj < best_obj - 1e-9 * abs(obj):
            best, best_obj, stale = x, obj, 0
        else:
            stale += 1
            if stale >= 3:
                break  # the rates have settled
        rate = site_rates(x, IDLE_RATE_FACTOR * r_full)
    return best, best_obj
