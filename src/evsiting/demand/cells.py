"""Spatial demand: the scenario's NEVs spread over H3 demand cells.

Chain (every step conserves vehicles exactly, using integer largest-remainder apportionment):

1. province NEV total -> the 88 counties by census weights (2020 census; default population x
   share of households owning a car, both by county);
2. county -> demand cells. A demand cell is an H3 hexagon intersected with a county, so the
   cells tile each county exactly. The county's urban share of vehicles (census urbanisation
   rate) goes to cells by area x exp(-d / ``urban_kernel_km``), d = distance from the county
   seat (negative-exponential density, Clark 1951); the rural share goes by area.
3. each cell's daily public charging energy = vehicles x the fleet's public kWh/day per
   vehicle (blended over segments by :func:`evsiting.demand.segments.blended_rates`), split
   into its DC-fast and AC parts.

County seats come from Amap in GCJ-02 and are converted to WGS84 on read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon

from evsiting.core.errors import InputError
from evsiting.config.params import Parameters
from evsiting.core.settings import PROJECTED_CRS, WGS84
from .apportion import largest_remainder
from .buildings import blend_weights, footprint_area


@dataclass(frozen=True)
class CensusTables:
    """County-level 2020 census figures used as weights (indexed by county adcode)."""

    counties: pd.DataFrame  # adcode, name_zh, prefecture_adcode, population, urban_population, car_share


def read_census(county_population: Path, urbanisation: Path, household_cars: Path) -> CensusTables:
    """Read and join the county census tables of ``../shared/data``.

    Returns:
        :class:`CensusTables` with one row per county: ``population`` (persons),
        ``urban_population`` (persons), ``car_share`` (fraction of long-form sample households
        owning a car).

    Raises:
        InputError: missing file or column, a county missing from a table, non-positive
            population.
    """
    def _read(path: Path, cols: tuple[str, ...]) -> pd.DataFrame:
        if not path.exists():
            raise InputError("file not found", source=path)
        df = pd.read_csv(path)
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", source=path)
        return df

    pop = _read(county_population, ("adcode", "name_zh", "prefecture_adcode", "population_2020_census"))
    urb = _read(urbanisation, ("adcode", "level", "urban_population"))
    car = _read(household_cars, ("adcode", "level", "share_households_with_car_pct"))
    urb = urb[urb["level"] == "county"].set_index("adcode")
    car = car[car["level"] == "county"].set_index("adcode")
    df = pop.rename(columns={"population_2020_census": "population"})[["adcode", "name_zh", "prefecture_adcode", "population"]]
    for table, path, col in ((urb, urbanisation, "urban_population"), (car, household_cars, "share_households_with_car_pct")):
        missing = sorted(set(df["adcode"]) - set(table.index))
        if missing:
            raise InputError(f"no row for county adcode(s) {missing[:5]}", source=path, field="adcode")
        df[col] = df["adcode"].map(table[col]).to_numpy()
    if (df["population"] <= 0).any():
        raise InputError("population must be positive", source=county_population, field="population_2020_census")
    df["car_share"] = df.pop("share_households_with_car_pct") / 100.0
    return CensusTables(df.sort_values("adcode").reset_index(drop=True))


def county_weights(census: CensusTables, method: str) -> pd.Series:
    """County weights (indexed by adcode) for spreading the province NEV total.

    Methods: ``population``; ``population_x_car_share`` (persons x share of households with
    a car: an estimate of car-owning population); ``urban_population``.

    Raises:
        ValueError: unknown method.
    """
    c = census.counties.set_index("adcode")
    if method == "population":
        w = c["population"].astype(float)
    elif method == "population_x_car_share":
        w = c["population"] * c["car_share"]
    elif method == "urban_population":
        w = c["urban_population"].astype(float)
    else:
        raise ValueError(f"unknown weight method '{method}'")
    return w.rename("weight")


def allocate_to_counties(nev_total: int, weights: pd.Series) -> pd.Series:
    """Integer NEVs per county (sum == ``nev_total``), proportional to ``weights``."""
    return pd.Series(largest_remainder(int(nev_total), weights.to_numpy()), index=weights.index, name="nev_count")


def _hexagon(cell: str) -> Polygon:
    return Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])


def h3_pieces(counties: gpd.GeoDataFrame, resolution: int) -> gpd.GeoDataFrame:
    """H3 hexagons of ``resolution`` intersected with the counties: a partition of them.

    Args:
        counties: WGS84 polygons with column ``adcode``.
        resolution: H3 resolution (7: about 5.2 km² average cell).

    Returns:
        GeoDataFrame (n_pieces,) in WGS84 with ``h3``, ``adcode`` and polygon geometry, sorted
        by (adcode, h3). Pieces of zero area are dropped.
    """
    edge_m = h3.average_hexagon_edge_length(resolution, unit="m")
    proj = counties.to_crs(PROJECTED_CRS)
    # Buffer by two edge lengths so hexagons whose centre is just outside are included.
    area = gpd.GeoSeries([proj.union_all().buffer(2 * edge_m)], crs=PROJECTED_CRS).to_crs(WGS84).iloc[0]
    cells = sorted(h3.geo_to_cells(area, resolution))
    hexes = np.array([_hexagon(c) for c in cells], dtype=object)
    geoms = counties.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    hi, ci = tree.query(hexes, predicate="intersects")
    inside = shapely.contains_properly(geoms[ci], hexes[hi])
    pieces = np.where(inside, hexes[hi], shapely.intersection(hexes[hi], geoms[ci]))
    out = gpd.GeoDataFrame(
        {"h3": np.asarray(cells)[hi], "adcode": counties["adcode"].to_numpy()[ci]},
        geometry=pieces,
        crs=WGS84,
    )
    # Keep only the areal part of boundary intersections (drop touching lines and points).
    out = out[~out.geometry.is_empty & out.geometry.geom_type.isin(["Polygon", "MultiPolygon", "GeometryCollection"])]
    out["geometry"] = [g if g.geom_type != "GeometryCollection" else shapely.union_all([p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")]) for g in out.geometry]
    out["area_km2"] = out.to_crs(PROJECTED_CRS).area.to_numpy() / 1e6
    out = out[out["area_km2"] > 1e-6]
    return out.sort_values(["adcode", "h3"]).reset_index(drop=True)


def county_shares(area_km2: np.ndarray, seat_dist_m: np.ndarray, urban_frac: float, kernel_m: float) -> np.ndarray:
    """One county's weights of its cells (sum 1): the census urban share by area x
    exp(-d / kernel) around the county seat (Clark 1951), the rural share by area.

    Args:
        area_km2: (k,) cell areas; seat_dist_m: (k,) metres from the demand point to the seat;
        urban_frac: the county's census urban population / population; kernel_m: metres.
    """
    wu = area_km2 * np.exp(-seat_dist_m / kernel_m)
    return urban_frac * wu / wu.sum() + (1.0 - urban_frac) * area_km2 / area_km2.sum()


def build_demand_cells(
    counties: gpd.GeoDataFrame,
    county_nevs: pd.Series,
    census: CensusTables,
    seats: gpd.GeoDataFrame,
    params: Parameters,
    *, resolution: int,
    rates: dict[str, float],
    buildings: gpd.GeoDataFrame | None = None,
    building_share: float = 0.0,
    pieces: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Spread each county's NEVs over its H3 pieces and compute daily public energy.

    Args:
        counties: study-area counties (WGS84) with ``adcode``, ``name_zh``, ``prefecture_adcode``.
        county_nevs: integer NEVs per county adcode (all study counties must be present).
        census: county census (urban population for the urban/rural split).
        seats: county seats in WGS84 with column ``adcode`` (points).
        params: ``urban_kernel_km`` (km).
        resolution: H3 resolution.
        rates: kWh/day per vehicle: ``public_kwh_per_vehicle`` and ``dc_kwh_per_vehicle``
            (from :func:`evsiting.demand.segments.blended_rates`).
        buildings: optional building footprint polygons (any CRS): each county's cell
            weights are blended with the cells' footprint area by ``building_share`` (0..1),
            see :mod:`evsiting.demand.buildings`; None (default) = census weights only.
        pieces: the partition of the counties to use instead of the H3 pieces of
            ``resolution`` (:func:`h3_pieces` columns; e.g. the multi-resolution pieces of
            :func:`evsiting.demand.zones.refine_pieces`); its ``zone`` column, when present,
            is kept.

    Returns:
        GeoDataFrame (n_cells,) in WGS84, polygons, with ``demand_id`` (``<h3>-<adcode>``),
        ``h3``, ``county_adcode``, ``county_name``, ``prefecture_adcode``, ``area_km2``,
        ``nev_count`` (int vehicles), ``energy_kwh_day`` (public, float),
        ``energy_dc_kwh_day`` (its DC-fast part), ``population`` (int residents of the 2020
        census, spread by the same weights as the vehicles; per county it adds up to the
        census population), ``h3_resolution``, ``lon``/``lat`` (a point
        inside the cell, WGS84 degrees, used as the demand point), and with ``buildings``
        ``building_area_m2`` (footprint area in the cell, EPSG:32648). Sorted by demand_id.

    Raises:
        InputError: a study county has no seat point or no NEV figure.
    """
    if pieces is None:
        pieces = h3_pieces(counties, resolution)
    pts = pieces.geometry.representative_point()
    pts_proj = gpd.GeoSeries(pts, crs=WGS84).to_crs(PROJECTED_CRS)
    seats = seats.set_index(seats["adcode"].astype(int))
    seats_proj = seats.geometry.to_crs(PROJECTED_CRS)
    census_c = census.counties.set_index("adcode")
    kernel_m = params.value("urban_kernel_km") * 1000.0
    nev = np.zeros(len(pieces), dtype=np.int64)
    pop = np.zeros(len(pieces), dtype=np.int64)
    b_area = None if buildings is None else footprint_area(pieces, buildings)[0]
    for adcode, idx in pieces.groupby("adcode").indices.items():
        if adcode not in seats_proj.index:
            raise InputError(f"no county seat for county {adcode}", field="adcode")
        if adcode not in county_nevs.index:
            raise InputError(f"no NEV figure for county {adcode}", field="adcode")
        d = pts_proj.iloc[idx].distance(seats_proj.loc[adcode]).to_numpy()
        row = census_c.loc[adcode]
        share = county_shares(pieces["area_km2"].to_numpy()[idx], d, float(row["urban_population"]) / float(row["population"]), kernel_m)
        if b_area is not None:
            share = blend_weights(share, b_area[idx], building_share)
        nev[idx] = largest_remainder(int(county_nevs.loc[adcode]), share)
        pop[idx] = largest_remainder(int(row["population"]), share)
    names = counties.set_index("adcode")
    out = gpd.GeoDataFrame(
        {
            "demand_id": pieces["h3"] + "-" + pieces["adcode"].astype(str),
            "h3": pieces["h3"],
            "county_adcode": pieces["adcode"].astype(int),
            "county_name": pieces["adcode"].map(names["name_zh"]),
            "prefecture_adcode": pieces["adcode"].map(names["prefecture_adcode"]).astype(int),
            "area_km2": pieces["area_km2"],
            "nev_count": nev,
            "energy_kwh_day": nev * float(rates["public_kwh_per_vehicle"]),
            "energy_dc_kwh_day": nev * float(rates["dc_kwh_per_vehicle"]),
            "population": pop,
            "h3_resolution": [h3.get_resolution(h) for h in pieces["h3"]],
            "lon": pts.x.to_numpy(),
            "lat": pts.y.to_numpy(),
        },
        geometry=pieces.geometry,
        crs=WGS84,
    )
    if b_area is not None:
        out["building_area_m2"] = b_area
    if "zone" in pieces.columns:
        out["zone"] = pieces["zone"].to_numpy()
    return out.sort_values("demand_id").reset_index(drop=True)


def demand_points(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The demand points (a point inside each cell) as a WGS84 point GeoDataFrame."""
    return gpd.GeoDataFrame(cells.drop(columns="geometry"), geometry=gpd.points_from_xy(cells["lon"], cells["lat"]), crs=WGS84)
