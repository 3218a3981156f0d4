"""Seats (origins and destinations of intercity trips) and gravity OD flows between them.

Gravity model: ``f_ij = pop_i x pop_j / d_ij ** beta`` for every unordered pair i < j (a
round trip serves both directions), ``d_ij`` the shortest-path distance in km. ``beta`` is the
parameter ``corridor_gravity_beta`` (1.5: the exponent of the gravity flows of the classic
FRLM 25-node test network, Kuby & Lim 2005; see ``data/parameters.csv``).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from evsiting.core.errors import InputError
from evsiting.io.points import read_points


def _read_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A CSV table with at least ``columns``.

    Raises:
        InputError: the file is missing (naming it) or lacks a column (naming it).
    """
    if not path.exists():
        raise InputError("file not found", source=path)
    df = pd.read_csv(path)
    for col in columns:
        if col not in df.columns:
            raise InputError("missing column", source=path, field=col)
    return df


def county_seats(seats_csv: Path, county_population_csv: Path, crs: str = "gcj02") -> gpd.GeoDataFrame:
    """County seats with their 2020 census population.

    Args:
        seats_csv: ``adcode,name_zh,lon,lat`` (``../shared/data/guizhou_county_seats.csv``:
            Amap points, **GCJ-02**, converted to WGS84 on read).
        county_population_csv: ``adcode,prefecture_adcode,population_2020_census``.
        crs: the datum of the seat file.

    Returns:
        GeoDataFrame (88 for Guizhou) in EPSG:4326, sorted by adcode: ``seat_id`` (adcode),
        ``name``, ``prefecture_adcode``, ``population`` (persons).

    Raises:
        InputError: missing file or column, a seat without a population row.
    """
    pts = read_points(seats_csv, crs=crs, id_column="adcode")
    pop = _read_table(county_population_csv, ("adcode", "prefecture_adcode", "population_2020_census"))
    pop = pop.set_index("adcode")
    missing = sorted(set(pts["adcode"].astype(int)) - set(pop.index))
    if missing:
        raise InputError(f"no population for seat(s) {missing[:5]}", source=county_population_csv, field="adcode")
    ids = pts["adcode"].astype(int).to_numpy()
    out = gpd.GeoDataFrame({
        "seat_id": ids,
        "name": pts["name_zh"].astype(str).to_numpy() if "name_zh" in pts.columns else ids.astype(str),
        "prefecture_adcode": pop.loc[ids, "prefecture_adcode"].astype(int).to_numpy(),
        "population": pop.loc[ids, "population_2020_census"].astype(np.int64).to_numpy(),
    }, geometry=pts.geometry.values, crs=pts.crs)
    return out.sort_values("seat_id").reset_index(drop=True)


def prefecture_seats(counties: gpd.GeoDataFrame, prefecture_population_csv: Path) -> gpd.GeoDataFrame:
    """One node per prefecture: the seat of its most populous county-level division, with the
    prefecture's 2020 census population.

    The seat file holds county seats only, so the prefecture government's own location is
    approximated by the seat of its most populous division (for Guiyang 云岩区, a few km from
    the city government in 观山湖区): a proxy, recorded in the run summary.

    Args:
        counties: :func:`county_seats` output.
        prefecture_population_csv: ``adcode,name_zh,name_en,population_2020_census``.

    Returns:
        GeoDataFrame (9) in EPSG:4326 sorted by adcode: ``seat_id`` (prefecture adcode),
        ``name`` (English), ``prefecture_adcode``, ``population``, ``seat_county``.

    Raises:
        InputError: missing file or column, a prefecture without counties.
    """
    pref = _read_table(prefecture_population_csv, ("adcode", "name_en", "population_2020_census"))
    rows = []
    for r in pref.sort_values("adcode").itertuples():
        mine = counties[counties["prefecture_adcode"] == int(r.adcode)]
        if mine.empty:
            raise InputError(f"no county seats in prefecture {r.adcode}", source=prefecture_population_csv, field="adcode")
        top = mine.sort_values(["population", "seat_id"], ascending=[False, True]).iloc[0]
        rows.append({"seat_id": int(r.adcode), "name": str(r.name_en), "prefecture_adcode": int(r.adcode),
                     "population": int(r.population_2020_census), "seat_county": int(top["seat_id"]), "geometry": top.geometry})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=counties.crs)


def gravity_flows(population: np.ndarray, dist_km: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gravity flows for every pair i < j with a finite positive distance.

    Args:
        population: (S,) persons.
        dist_km: (S, S) shortest-path distances, km (inf = unreachable).
        beta: distance-decay exponent (>= 0).

    Returns:
        (i, j, flow): pair indices (i < j, row-major order) and ``pop_i pop_j / d_ij^beta``
        (persons² / km^beta; only relative values matter). Pairs with an infinite or zero
        distance get flow 0.

    Raises:
        InputError: negative beta or population, shapes disagree.
    """
    population = np.asarray(population, dtype=float)
    dist_km = np.asarray(dist_km, dtype=float)
    S = len(population)
    if dist_km.shape != (S, S):
        raise InputError(f"distance matrix {dist_km.shape} for {S} seats", field="dist_km")
    if not beta >= 0:
        raise InputError("must be >= 0", field="corridors.beta")
    if (population < 0).any():
        raise InputError("populations must be >= 0", field="population")
    i, j = np.triu_indices(S, k=1)
    d = dist_km[i, j]
    ok = np.isfinite(d) & (d > 0)
    flow = np.zeros(len(i))
    flow[ok] = population[i[ok]] * population[j[ok]] / d[ok] ** beta
    return i, j, flow
