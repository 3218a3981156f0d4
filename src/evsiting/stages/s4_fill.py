"""Stage 4, the capacity fill of the capacitated model: candidate sites at the demand cells
whose energy the sites within the service standard cannot hold, found with the model's own
feasibility max-flow (:func:`capacity_short`). The gap fill (cells no candidate reaches) is
:func:`evsiting.stages.s4_travel.reach_all_cells`."""

from __future__ import annotations

from typing import Callable

import geopandas as gpd
import numpy as np
import scipy.sparse as sp

from evsiting.config.params import Parameters
from evsiting.stages.s4_travel import add_cell_sites
from evsiting.stages.s5_model import ModelInputs, capacitated_model, standard_of


#: Rounds of :func:`fill_capacity` (each adds sites at the cells still beyond capacity).
CAPACITY_FILL_ROUNDS = 3


def capacity_short(block, inp: ModelInputs, time_limit: float | None = None) -> np.ndarray:
    """(n,) kWh/day of each demand cell that the candidate sites within the service standard
    cannot hold at their station and port maxima (the capacitated model's feasibility max-flow,
    without a budget). All zero when capacity suffices.

    Raises:
        InputError: malformed model inputs (as :func:`capacitated_model`). InfeasibleError:
        required sites that allow no ports. SolverError: the max-flow LP failed.
    """
    free = block.model_copy(update={"budget_cny": None}) if getattr(block, "budget_cny", None) is not None else block
    return capacitated_model(free, inp).reduce(time_limit).short


def fill_capacity(block, provider, cells: gpd.GeoDataFrame, reached, params: Parameters,
                  *, rounds: int = CAPACITY_FILL_ROUNDS, progress: Callable[[str], None] = lambda msg: None):
    """The capacity fill of the capacitated model: while some cells' energy is beyond what the
    candidate sites within the standard hold (:func:`capacity_short`), each such cell gets a
    candidate site of its own (:func:`evsiting.stages.s4_travel.add_cell_sites`, source
    ``capacity_fill``), at most ``rounds`` times. A demand-cell site holds
    ``cell_stations_factor`` x its own cell's needs (:func:`stations_per_site`), so after one
    round a cell is short only where its neighbours' energy also relies on it.

    Args:
        block: the ``capacitated`` model block; cells, params: the run's demand stage;
        provider: the run's travel-time provider; reached: stage 4's :class:`Reached`.

    Returns:
        (the :class:`Reached` with the added sites, sites added). Whatever is still short after
        the last round is the model's own to report (its feasibility step finds it).

    Raises:
        As :func:`capacity_short` and :meth:`TravelProvider.times` (InputError).
    """
    added = 0
    for _round in range(max(rounds, 0)):
        c = reached.candidates
        short = capacity_short(block, ModelInputs(cells, reached.travel.matrix, c.required, params, c.sites))
        rows = np.flatnonzero(short > 1e-6)
        if not rows.size:
            break
        reached, k = add_cell_sites(provider, cells, reached, params, _fill_rows(cells, reached, rows, standard_of(block, cells)))
        progress(f"capacity fill: {k:,} sites at cells beyond the capacity in reach ({short.sum():,.0f} kWh/day)")
        added += k
        if k == 0:
            break
    return reached, added


def _fill_rows(cells: gpd.GeoDataFrame, reached, short_rows: np.ndarray, standard_min: float | np.ndarray) -> np.ndarray:
    """Cells to give a site of their own: the short cells without one, and where a short cell
    has one already (its neighbours draw on it), the cells with energy within the standard of
    that site that have none."""
    ids = reached.candidates.sites["site_id"].astype(str).to_numpy()
    col_of = {sid: j for j, sid in enumerate(ids)}
    own = np.array([col_of.get("c-" + str(d), -1) for d in cells["demand_id"].to_numpy()])
    rows = list(short_rows[own[short_rows] < 0])
    cols = own[short_rows][own[short_rows] >= 0]
    if cols.size:
        csc = sp.csc_matrix(reached.travel.matrix)
        e = cells["energy_kwh_day"].to_numpy(dtype=float)
        for j in cols:
            r = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
            tt = csc.data[csc.indptr[j]:csc.indptr[j + 1]]
            lim = standard_min if np.ndim(standard_min) == 0 else np.asarray(standard_min)[r]
            r = r[(tt <= lim) & (own[r] < 0) & (e[r] > 0)]
            rows.extend(r.tolist())
    return np.unique(np.asarray(rows, dtype=np.int64))
