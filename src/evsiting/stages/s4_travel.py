"""Stage 4, travel times: demand x candidate minutes from the one travel-time provider of a
run, built from the config by :func:`travel_provider` (the only place that reads the
``impedance``/``network``/``data.motorways`` settings).

The provider owns its road graph: loaded once for the first matrix (the area the points
span, buffered by ``network.buffer_m``) and reused by later matrices and by the service-area
isochrones, whether or not the run writes its outputs. It owns its expressway network the same
way (built for the first matrix, reused while the motorway file and parameters stay the same);
the network modules keep no state between calls.

:func:`reach_all_cells` computes the matrix of the candidates of stage 3 and runs their gap
fill (:func:`evsiting.candidates.generate.reach_all`: sites for the cells with NEVs that no candidate
reaches within the service standard), with the provider as its matrix function; it reads no
config (the gap-fill settings come with the candidates).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from evsiting.candidates import generate as cand
from evsiting.config.inputs import ResolvedInputs
from evsiting.config.schema import ImpedanceConfig, NetworkConfig
from ..demand.cells import demand_points
from evsiting.core.errors import InputError
from evsiting.network.impedance import travel_time_matrix
from evsiting.config.params import Parameters
from evsiting.core.settings import PROJECTED_CRS, WGS84
from .s3_candidates import Candidates


@dataclass(frozen=True)
class TravelTimes:
    """csr (n_demand, n_candidates) minutes up to ``cutoff_min`` (absent = beyond) and the
    manifest's ``impedance`` record. ``cut``: each row holds only the pairs within its cell's
    own service standard (:func:`cut_to_standards`)."""

    matrix: sp.csr_matrix
    info: dict
    cutoff_min: float
    cut: bool = False


def cut_to_standards(matrix: sp.csr_matrix, cells: pd.DataFrame, sites: gpd.GeoDataFrame,
                     standard_min: float | np.ndarray) -> sp.csr_matrix:
    """``matrix`` with each row cut to its demand cell's own service standard.

    A cell with a km standard (column ``standard_km``, a straight-line radius) keeps the
    candidates whose great-circle distance (WGS84 ellipsoid) from its demand point
    (``lon``/``lat``) is within the radius; any other cell keeps the pairs within its
    ``standard_min`` minutes (the column, else ``standard_min``: one value or (n,)).

    Args:
        matrix: csr (n, m) minutes; cells: (n,) demand cells; sites: (m,) candidate points,
            any CRS.

    Returns:
        csr (n, m) minutes, a subset of the stored pairs (values unchanged).
    """
    m = sp.csr_matrix(matrix)
    n = m.shape[0]
    std = cells["standard_min"].to_numpy(dtype=float) if "standard_min" in cells.columns else np.broadcast_to(np.asarray(standard_min, dtype=float), (n,))
    km = cells["standard_km"].to_numpy(dtype=float) if "standard_km" in cells.columns else np.full(n, np.nan)
    rows = np.repeat(np.arange(n), np.diff(m.indptr))
    keep = m.data <= std[rows]
    by_km = ~np.isnan(km[rows])
    if by_km.any():
        from ..network.great_circle import _GEOD

        ll = sites.geometry.to_crs(WGS84)
        r, c = rows[by_km], m.indices[by_km]
        lon, lat = cells["lon"].to_numpy(dtype=float), cells["lat"].to_numpy(dtype=float)
        _, _, dist_m = _GEOD.inv(lon[r], lat[r], ll.x.to_numpy()[c], ll.y.to_numpy()[c])
        keep[by_km] = np.asarray(dist_m) <= km[r] * 1000.0
    out = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    out.sort_indices()
    return out


@dataclass
class TravelProvider:
    """Travel times by ``method`` (``great_circle``, ``expressway``, ``network``).

    Attributes:
        motorways: motorway lines file (expressway).
        network: the ``network`` settings as plain values (source, path, buffer_m, cache_dir,
            geofabrik_url; network method only).
        snap_limit_m: farthest snap to the road graph, metres.
    """

    method: str
    motorways: Path | None = None
    network: dict | None = None
    snap_limit_m: float = 1000.0
    _graph: object = field(default=None, repr=False)
    _networks: object = field(default=None, repr=False)  # ExpresswayNetworks, made on first use

    def graph(self, points: list) -> object | None:
        """The prepared road graph (network method; loaded on first use for the convex hull
        of ``points`` (WGS84), kept for this provider), else None."""
        if self.method != "network":
            return None
        if self._graph is None:
            import shapely

            from ..network.road import prepare_graph
            from ..network.sources import load_graph

            n = self.network
            area = shapely.MultiPoint(points).convex_hull
            G, info = load_graph(n["source"], area, n["buffer_m"], n["path"], n["cache_dir"], url=n["geofabrik_url"])
            self._graph = prepare_graph(G, PROJECTED_CRS, info=info)
        return self._graph

    def times(self, demand: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, params: Parameters, cutoff_min: float) -> TravelTimes:
        """Minutes from each demand point to each candidate within ``cutoff_min``.

        Raises:
            InputError: missing or unreadable motorway/network file.
        """
        opts: dict = {}
        if self.method == "expressway":
            if self._networks is None:
                from ..network.expressway import ExpresswayNetworks

                self._networks = ExpresswayNetworks()
            opts.update(motorways=self.motorways, networks=self._networks)
        elif self.method == "network":
            pts = list(demand.geometry.to_crs(WGS84)) + list(candidates.geometry.to_crs(WGS84))
            opts.update(graph=self.graph(pts), snap_limit_m=self.snap_limit_m)
        matrix, info = travel_time_matrix(demand, candidates, self.method, params, cutoff_min, **opts)
        return TravelTimes(matrix, info, cutoff_min)


def travel_provider(impedance: ImpedanceConfig, ncfg: NetworkConfig | None, inputs: ResolvedInputs) -> TravelProvider:
    """The run's provider: road travel times whenever the config names a network (``ncfg``,
    issue #3), else ``impedance.method``; the motorway and network files and the cache folder
    come resolved in ``inputs``.

    Raises:
        InputError: ``impedance.method: network`` without a ``network`` section.
    """
    method = "network" if ncfg is not None else impedance.method
    if method == "network" and ncfg is None:
        raise InputError("impedance 'network' needs a 'network' section", source="config", field="network")
    if ncfg is None:
        return TravelProvider(method, motorways=inputs.motorways)
    network = {"source": ncfg.source, "path": inputs.network, "buffer_m": ncfg.buffer_m,
               "cache_dir": inputs.cache_dir, "geofabrik_url": ncfg.geofabrik_url}
    return TravelProvider(method, inputs.motorways, network, ncfg.snap_limit_m)


@dataclass(frozen=True)
class Reached:
    """The candidates after the gap fill (stage 3's sites first, in their order, then the
    gap-fill sites), their travel times and what the gap fill found (the summary's
    ``candidates`` entry: :func:`evsiting.candidates.generate.reach_summary`)."""

    candidates: Candidates
    travel: TravelTimes
    reach: cand.Reach


def cell_standard_min(cells: pd.DataFrame, standard_min: float | np.ndarray) -> float | np.ndarray:
    """Each cell's standard in minutes (column ``standard_min``, see
    :func:`evsiting.stages.s2_demand.with_standards`), else ``standard_min``."""
    return cells["standard_min"].to_numpy(dtype=float) if "standard_min" in cells.columns else standard_min


def reach_all_cells(provider: TravelProvider, cells: gpd.GeoDataFrame, cands: Candidates, params: Parameters,
                    cutoff_min: float, *, standard_min: float | np.ndarray, cut: bool = True) -> Reached:
    """Travel times from the demand points of ``cells`` to the candidates up to ``cutoff_min``
    and the gap fill of ``cands.gap_fill`` over the cells no candidate reaches within their
    standard (``cells["standard_min"]`` when present, else ``standard_min``; the provider
    computes the gap-fill sites' columns too; the manifest's record counts the pairs of the
    final matrix, per call in ``matrix_calls``). With ``cut`` (models that serve a cell only
    within its standard) each row keeps only the pairs within its cell's own standard
    (:func:`cut_to_standards`); without it (p-median, p-center) every pair up to ``cutoff_min``.

    Raises:
        InputError: as :meth:`TravelProvider.times`.
    """
    pts = demand_points(cells)
    infos: list[dict] = []
    standard = cell_standard_min(cells, standard_min)

    def matrix_fn(sites: gpd.GeoDataFrame) -> sp.csr_matrix:
        t = provider.times(pts, sites, params, cutoff_min)
        infos.append(t.info)
        return cut_to_standards(t.matrix, cells, sites, standard) if cut else t.matrix

    g = cands.gap_fill
    r = cand.reach_all(cells, cands.sites, matrix_fn, standard, g.fill, target_ceiling=g.target_ceiling, max_added=g.max_added)
    sites = r.candidates
    out = Candidates(sites, np.flatnonzero(sites["required"].to_numpy()), g)
    return Reached(out, TravelTimes(r.matrix, cand.merged_info(infos, r.matrix), cutoff_min, cut), r)


def add_cell_sites(provider: TravelProvider, cells: gpd.GeoDataFrame, reached: Reached, params: Parameters,
                   rows: np.ndarray, *, source: str = "capacity_fill") -> tuple[Reached, int]:
    """``reached`` with a candidate site of its own for each demand cell in ``rows`` (indices
    into ``cells``) that has none yet (site id ``c-<demand_id>``, at the cell's demand point,
    WGS84), its travel times computed by ``provider`` up to the same cutoff and appended as
    columns (the stage's sites keep their order and indices).

    Returns:
        (the new :class:`Reached`, number of sites added).

    Raises:
        InputError: as :meth:`TravelProvider.times`.
    """
    sites = reached.candidates.sites
    df = cells.iloc[np.unique(np.asarray(rows, dtype=np.int64))]
    df = df[~("c-" + df["demand_id"].astype(str)).isin(sites["site_id"])]
    if df.empty:
        return reached, 0
    new = cand._cell_sites(cells, df, source)
    new["required"] = False
    t = provider.times(demand_points(cells), new, params, reached.travel.cutoff_min)
    if reached.travel.cut:
        t = replace(t, matrix=cut_to_standards(t.matrix, cells, new, cell_standard_min(cells, reached.reach.standard_min)))
    all_sites = gpd.GeoDataFrame(pd.concat([sites, new], ignore_index=True), geometry="geometry", crs=sites.crs)
    all_sites["required"] = all_sites["required"].fillna(False).astype(bool)
    matrix = sp.hstack([reached.travel.matrix, t.matrix], format="csr")
    info = dict(reached.travel.info)
    info["capacity_fill_sites"] = int(info.get("capacity_fill_sites", 0)) + len(new)
    cands = Candidates(all_sites, reached.candidates.required, reached.candidates.gap_fill)
    reach = replace(reached.reach, candidates=all_sites, matrix=matrix)
    return Reached(cands, TravelTimes(matrix, info, reached.travel.cutoff_min, reached.travel.cut), reach), len(new)
