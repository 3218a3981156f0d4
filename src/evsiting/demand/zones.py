"""Urban zones of the demand cells: ``core``, ``urban``, ``town``, ``rural`` (issue #20).

Chinese charging plans set the service standard by zone (``../shared/reference/
service_standards.md``: Beijing's downtown 0.9 km and plain areas 3 km, Hangzhou's core 900 m
and main city 2 km, townships within 10-20 minutes in the China Southern Grid area). This
module classifies every demand cell from data, in four steps:

1. **Density and contiguity (Degree of Urbanisation, EU / UN Statistical Commission 2020).**
   Each cell's residents (``population``: the county's 2020 census population spread by the
   same weights as its vehicles, :func:`evsiting.demand.cells.build_demand_cells`) over its
   area give its density. Cells of at least ``degurba_centre_density`` (1,500 inh/km²) that
   touch (same or neighbouring H3 hexagon) form clusters; a cluster of at least
   ``degurba_centre_population`` (50,000) is an *urban centre*. Cells of at least
   ``degurba_cluster_density`` (300 inh/km²) form clusters the same way; one of at least
   ``degurba_cluster_population`` (5,000) is an *urban cluster*. The thresholds are rows of
   ``data/parameters.csv``. DEGURBA uses 1 km² squares; here the cells are H3 hexagons of the
   demand grid's base resolution (5.2 km² at resolution 7), so densities are averages over
   larger cells.
2. **City proper (城区, census 2020).** ``core`` = urban-centre cells of a city for which the
   census gives a city-proper population (the 6 prefecture-level cities, whose districts (区,
   not 特区) form the city, and the 9 county-level cities), densest first, until the city's
   城区 population is reached.
3. **Census urban share.** ``urban`` = the other urban-centre cells and no more of them than
   the county's census urban population (less its core residents), densest first. Beijing's
   and Hangzhou's "main city" standard.
4. **Towns.** ``town`` = urban-cluster cells not taken above, and cells holding a county seat
   or a populated place that is the seat of an administrative division (GeoNames feature codes
   PPLA..PPLA4, mostly township seats; a partial list: 168 of Guizhou's 1,145 townships) or a
   place of at least ``degurba_cluster_population`` people. ``rural`` = the rest.

The classification only labels cells, so population and vehicles are conserved by
construction (each county's residents stay in its cells).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd

from evsiting.core.errors import InputError
from evsiting.config.params import Parameters
from evsiting.core.settings import PROJECTED_CRS, WGS84

#: Zones from densest to sparsest (the order of outputs and of the service standards).
ZONES: tuple[str, ...] = ("core", "urban", "town", "rural")

#: GeoNames feature codes of the seats of administrative divisions (first to fourth order).
SEAT_CODES = ("PPLA", "PPLA2", "PPLA3", "PPLA4", "PPLC")


@dataclass(frozen=True)
class ZoneInputs:
    """Census city-proper figures and town points.

    Attributes:
        city_proper: city key -> 城区 population (persons, census 2020). Key = the prefecture
            adcode for a prefecture-level city, the county adcode for a county-level city.
        city_of: county adcode -> city key, for the counties that make up a city (the
            districts (区, not 特区) of a prefecture-level city; a county-level city itself).
        places: WGS84 points of towns (county-level file rows kept: seats of administrative
            divisions and places of at least 5,000 people), column ``name``.
    """

    city_proper: dict[int, int]
    city_of: dict[int, int]
    places: gpd.GeoDataFrame


def read_zone_inputs(city_proper_csv: Path, places_csv: Path | None, min_place_population: int = 5000) -> ZoneInputs:
    """Read ``guizhou_chengqu_housing_census2020.csv`` and ``guizhou_geonames_cities500.csv``.

    Args:
        city_proper_csv: columns ``adcode, name_zh, level, chengqu_population`` (blank where
            the census gives none).
        places_csv: GeoNames rows (``name, latitude, longitude, feature_code, population``),
            WGS84; None = no town points.
        min_place_population: a place that is no seat counts as a town from this many people.

    Raises:
        InputError: a missing file or column (named), a non-numeric city-proper population.
    """
    if not Path(city_proper_csv).exists():
        raise InputError("file not found", source=city_proper_csv)
    df = pd.read_csv(city_proper_csv)
    need = ("adcode", "name_zh", "level", "chengqu_population")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", source=city_proper_csv)
    cq = pd.to_numeric(df["chengqu_population"], errors="coerce")
    if cq.isna().sum() != df["chengqu_population"].isna().sum() or (cq.dropna() < 0).any():
        raise InputError("chengqu_population must be blank or a non-negative number", source=city_proper_csv, field="chengqu_population")
    df = df.assign(chengqu_population=cq)
    city_proper: dict[int, int] = {}
    city_of: dict[int, int] = {}
    counties = df[df["level"] == "county"]
    for r in df[df["chengqu_population"].notna() & df["level"].isin(["prefecture", "county"])].itertuples(index=False):
        key = int(r.adcode)
        city_proper[key] = int(r.chengqu_population)
        if r.level == "county":
            city_of[key] = key
        else:  # the prefecture's districts (市辖区): adcodes of the prefecture named ...区, not 特区
            prefix = key // 100
            mine = counties[(counties["adcode"] // 100 == prefix) & counties["name_zh"].str.endswith("区")
                            & ~counties["name_zh"].str.endswith("特区")]
            city_of.update({int(a): key for a in mine["adcode"]})
    return ZoneInputs(city_proper, city_of, _read_places(places_csv, min_place_population))


def _read_places(places_csv: Path | None, min_population: int) -> gpd.GeoDataFrame:
    empty = gpd.GeoDataFrame({"name": []}, geometry=gpd.points_from_xy([], []), crs=WGS84)
    if places_csv is None:
        return empty
    if not Path(places_csv).exists():
        raise InputError("file not found", source=places_csv)
    df = pd.read_csv(places_csv)
    need = ("name", "latitude", "longitude", "feature_code", "population")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", source=places_csv)
    keep = df["feature_code"].isin(SEAT_CODES) | (pd.to_numeric(df["population"], errors="coerce").fillna(0) >= min_population)
    df = df[keep]
    return gpd.GeoDataFrame({"name": df["name"].to_numpy()}, geometry=gpd.points_from_xy(df["longitude"], df["latitude"]), crs=WGS84)


def contiguous_clusters(h3_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Label the cells of ``mask`` by contiguity: cells with the same or neighbouring H3
    hexagon (one ring) are in one cluster.

    Args:
        h3_ids: (n,) H3 ids of the cells (pieces of one hexagon in two counties share one).
        mask: (n,) bool, the cells to cluster.

    Returns:
        (n,) int64 cluster label (>= 0) for cells in ``mask``, -1 elsewhere. Deterministic.
    """
    n = len(h3_ids)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    idx = np.flatnonzero(mask)
    by_hex: dict[str, list[int]] = {}
    for i in idx:
        by_hex.setdefault(str(h3_ids[i]), []).append(int(i))
    for hx, members in by_hex.items():
        for nb in h3.grid_disk(hx, 1):
            for j in by_hex.get(nb, ()):
                for i in members:
                    a, b = find(i), find(j)
                    if a != b:
                        parent[max(a, b)] = min(a, b)
    out = np.full(n, -1, dtype=np.int64)
    for i in idx:
        out[i] = find(int(i))
    return out


def degurba(cells: pd.DataFrame, params: Parameters) -> tuple[np.ndarray, np.ndarray]:
    """Urban centres and urban clusters of the Degree of Urbanisation.

    Args:
        cells: ``h3``, ``population`` (persons), ``area_km2``.
        params: ``degurba_centre_density``, ``degurba_centre_population``,
            ``degurba_cluster_density``, ``degurba_cluster_population``.

    Returns:
        (centre, cluster): (n,) bool each; every urban-centre cell is also in an urban cluster.
    """
    pop = cells["population"].to_numpy(dtype=float)
    dens = pop / np.maximum(cells["area_km2"].to_numpy(dtype=float), 1e-9)
    h = cells["h3"].to_numpy()

    def grid(density: float, total: float) -> np.ndarray:
        lab = contiguous_clusters(h, dens >= density)
        ok = lab >= 0
        sums = pd.Series(pop[ok]).groupby(lab[ok]).sum()
        big = set(sums.index[sums.to_numpy() >= total])
        return np.array([lab_i in big for lab_i in lab])

    centre = grid(params.value("degurba_centre_density"), params.value("degurba_centre_population"))
    cluster = grid(params.value("degurba_cluster_density"), params.value("degurba_cluster_population")) | centre
    return centre, cluster


def _densest_up_to(idx: np.ndarray, pop: np.ndarray, dens: np.ndarray, budget: float) -> np.ndarray:
    """Of ``idx``, the densest cells (ties: lower index) whose population stays within
    ``budget``, plus the cell that crosses it (so a budget inside a cell takes that cell)."""
    if budget <= 0 or not idx.size:
        return idx[:0]
    order = idx[np.lexsort((idx, -dens[idx]))]
    before = np.cumsum(pop[order]) - pop[order]
    return order[before < budget]


def classify_zones(cells: pd.DataFrame, census: pd.DataFrame, inputs: ZoneInputs, seats: gpd.GeoDataFrame,
                   params: Parameters) -> np.ndarray:
    """The zone of every demand cell (see the module doc for the rule).

    Args:
        cells: demand cells (one H3 resolution) with ``h3``, ``county_adcode``, ``population``,
            ``area_km2`` and polygon geometry in WGS84.
        census: county table with ``adcode``, ``urban_population`` (persons, census 2020).
        inputs: :func:`read_zone_inputs`.
        seats: county seats, WGS84 points with ``adcode``.
        params: the Degree of Urbanisation thresholds (:func:`degurba`).

    Returns:
        (n,) object array of :data:`ZONES` names.
    """
    n = len(cells)
    zone = np.full(n, "rural", dtype=object)
    if n == 0:
        return zone
    centre, cluster = degurba(cells, params)
    pop = cells["population"].to_numpy(dtype=float)
    dens = pop / np.maximum(cells["area_km2"].to_numpy(dtype=float), 1e-9)
    county = cells["county_adcode"].to_numpy(dtype=np.int64)
    city = np.array([inputs.city_of.get(int(c), -1) for c in county])
    for key in sorted(set(city[city >= 0].tolist())):
        pick = _densest_up_to(np.flatnonzero((city == key) & centre), pop, dens, inputs.city_proper[key])
        zone[pick] = "core"
    urban_pop = census.set_index("adcode")["urban_population"]
    for c in np.unique(county):
        mine = county == c
        left = float(urban_pop.get(int(c), 0.0)) - pop[mine & (zone == "core")].sum()
        zone[_densest_up_to(np.flatnonzero(mine & centre & (zone == "rural")), pop, dens, left)] = "urban"
    zone[cluster & (zone == "rural")] = "town"
    zone[(zone == "rural") & _holds_points(cells, [seats.geometry, inputs.places.geometry])] = "town"
    return zone


def _holds_points(cells: pd.DataFrame, point_sets: list) -> np.ndarray:
    """(n,) bool: the cell's polygon holds one of the points (WGS84)."""
    out = np.zeros(len(cells), dtype=bool)
    geoms = gpd.GeoSeries(cells.geometry.to_numpy(), crs=WGS84)
    for pts in point_sets:
        if pts is None or not len(pts):
            continue
        pts = gpd.GeoSeries(pts, crs=pts.crs).to_crs(WGS84)
        hit, _ = geoms.sindex.query(pts.to_numpy(), predicate="contains")[::-1]
        out[np.unique(hit)] = True
    return out


def zone_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Residents, NEVs, area (km²) and cells per zone and prefecture (rows for zones present)."""
    g = cells.groupby(["prefecture_adcode", "zone"], sort=False).agg(
        population=("population", "sum"), nev_count=("nev_count", "sum"), area_km2=("area_km2", "sum"),
        cells=("demand_id", "size")).reset_index()
    g["zone"] = pd.Categorical(g["zone"], categories=list(ZONES), ordered=True)
    return g.sort_values(["prefecture_adcode", "zone"]).reset_index(drop=True)


#: Parameter of each zone's service standard and its unit (``km``: straight-line radius,
#: ``min``: travel minutes).
STANDARD_PARAMETERS: dict[str, tuple[str, str]] = {
    "core": ("standard_core_km", "km"), "urban": ("standard_urban_km", "km"),
    "town": ("standard_town_km", "km"), "rural": ("standard_rural_min", "min"),
}


def zone_standards(params: Parameters) -> dict[str, tuple[float, str]]:
    """Each zone's service standard: ``{zone: (value, "km" | "min")}`` from the parameters of
    :data:`STANDARD_PARAMETERS`.

    Raises:
        InputError: a standard that is not positive (the parameter table or the config
            override is named).
    """
    out = {}
    for z, (name, unit) in STANDARD_PARAMETERS.items():
        v = float(params.value(name))
        if not v > 0:
            raise InputError(f"the service standard {name} must be positive, got {v:g}", **params.blame(name))
        out[z] = (v, unit)
    return out


def km_to_cutoff_min(km: np.ndarray | float, params: Parameters) -> np.ndarray | float:
    """The travel minutes within which every pair closer than ``km`` (straight line) lies:
    the local-road time of that distance, km x ``circuity_factor`` / ``local_road_speed_kmh``
    x 60 (the local leg of every impedance method is at most that; 1 km -> 2.1 min at 1.4
    and 40 km/h)."""
    return np.asarray(km, dtype=float) * params.value("circuity_factor") / params.value("local_road_speed_kmh") * 60.0


def cell_standards(zone: np.ndarray | None, params: Parameters, single_min: float | None = None) -> pd.DataFrame:
    """Each demand cell's service standard.

    A km standard is a service radius (服务半径), a straight-line distance, as the plans state
    it: a station meets it when the great-circle distance from the cell's demand point is
    within it (:func:`evsiting.stages.s4_travel.cut_to_standards`); a minute standard is met
    when the travel minutes of the run's impedance are within it.

    Args:
        zone: (n,) zone names (:data:`ZONES`); None with ``single_min``.
        params: the standards (:func:`zone_standards`), ``circuity_factor`` and
            ``local_road_speed_kmh`` (:func:`km_to_cutoff_min`).
        single_min: one minute standard for every cell (a one-zone config), or None.

    Returns:
        DataFrame (n,) with ``standard`` (text: ``1 km``, ``15 min``), ``standard_km``
        (radius, NaN for minute standards) and ``standard_min`` (the travel minutes up to
        which the cell's pairs are computed and kept: the minute standard, or
        :func:`km_to_cutoff_min` of the radius).

    Raises:
        InputError: an unknown zone name; a standard that is not positive.
    """
    if single_min is not None:
        n = 0 if zone is None else len(zone)
        return pd.DataFrame({"standard": [f"{single_min:g} min"] * n, "standard_km": np.full(n, np.nan),
                             "standard_min": np.full(n, float(single_min))})
    std = zone_standards(params)
    z = np.asarray(zone, dtype=object)
    bad = sorted(set(z.tolist()) - set(std))
    if bad:
        raise InputError(f"unknown zone(s) {bad}; expected one of {', '.join(ZONES)}", field="zone")
    val = np.array([std[x][0] for x in z], dtype=float)
    is_km = np.array([std[x][1] == "km" for x in z], dtype=bool)
    return pd.DataFrame({"standard": [f"{std[x][0]:g} {std[x][1]}" for x in z],
                         "standard_km": np.where(is_km, val, np.nan),
                         "standard_min": np.where(is_km, km_to_cutoff_min(val, params), val)})


#: Zones whose km standard needs cells finer than H3 resolution 7 (1.2 km edge): a 1 or 2 km
#: radius cannot be resolved on 5.2 km² cells.
FINE_ZONES: tuple[str, ...] = ("core", "urban")


def refine_pieces(cells: gpd.GeoDataFrame, refine: np.ndarray, resolution: int) -> gpd.GeoDataFrame:
    """A multi-resolution partition of the counties: the cells of ``refine`` replaced by the
    H3 hexagons of ``resolution`` cut by them, the others kept.

    Within each county the refined cells are merged and cut by the fine hexagons
    (:func:`evsiting.demand.cells.h3_pieces`), so the fine and kept pieces tile the county
    exactly; a fine piece takes the zone of the coarse cell that holds its representative
    point.

    Args:
        cells: demand cells of one coarse resolution (WGS84) with ``h3``, ``county_adcode``,
            ``area_km2``, ``zone`` and polygon geometry.
        refine: (n,) bool, the cells to refine.
        resolution: the finer H3 resolution (8: 0.74 km² average hexagon).

    Returns:
        GeoDataFrame of pieces (``h3``, ``adcode``, ``area_km2``, ``zone``, geometry; WGS84),
        sorted by (adcode, h3), for :func:`evsiting.demand.cells.build_demand_cells`
        (``pieces=``). Every (h3, adcode) is unique.

    Raises:
        ValueError: ``resolution`` not finer than the cells'.
    """
    from evsiting.demand.cells import h3_pieces

    refine = np.asarray(refine, dtype=bool)
    base = cells.rename(columns={"county_adcode": "adcode"})[["h3", "adcode", "area_km2", "zone", "geometry"]]
    if not refine.any():
        return base.sort_values(["adcode", "h3"]).reset_index(drop=True)
    res0 = max(h3.get_resolution(h) for h in cells["h3"])
    if resolution <= res0:
        raise ValueError(f"fine resolution {resolution} must be finer than the cells' {res0}")
    coarse = base[refine].reset_index(drop=True)
    region = coarse.dissolve(by="adcode", as_index=False)[["adcode", "geometry"]]
    fine = h3_pieces(region, resolution)
    rp = gpd.GeoDataFrame(geometry=fine.geometry.representative_point(), crs=WGS84)
    hit = gpd.sjoin(rp, coarse[["adcode", "zone", "geometry"]], how="left", predicate="intersects")
    hit = hit[hit["adcode"].to_numpy() == fine["adcode"].to_numpy()[hit.index]] if len(hit) else hit
    zone = hit.groupby(level=0)["zone"].first().reindex(range(len(fine)))
    if zone.isna().any():  # a point on a border between two counties' cells: the zone of the nearest
        miss = np.flatnonzero(zone.isna().to_numpy())
        near = gpd.sjoin_nearest(rp.iloc[miss].to_crs(PROJECTED_CRS), coarse[["zone", "geometry"]].to_crs(PROJECTED_CRS))
        zone.iloc[miss] = near.groupby(level=0)["zone"].first().reindex(rp.index[miss]).to_numpy()
    fine["zone"] = zone.to_numpy()
    out = pd.concat([base[~refine], fine[["h3", "adcode", "area_km2", "zone", "geometry"]]], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84).sort_values(["adcode", "h3"]).reset_index(drop=True)
