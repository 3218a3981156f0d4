"""The tables a planner hands on, from a run's layers: one row per station (``stations.csv``,
``stations.geojson``), one per county (``counties.csv``) and the access figures per urban zone
and prefecture (``summary.json`` ``zones``; issue #20 item 6, issue #23).

Stations of one site. A demand-cell site stands for its H3 cell (a few km² of car parks) and
may hold several stations. Each gets its own position by one deterministic rule: a site with
one station stays at the site's point; a site with n > 1 stations puts them at the centres of
the n H3 child cells two resolutions finer (49 children, about 0.1 km² each at resolution 9
under a resolution-7 site) nearest the site's point (ties: the lower H3 index), three
resolutions finer when n > 49. Its DC and AC ports are split as evenly as whole ports allow,
the first stations taking one more port where they do not divide (installed kW follows the
ports).

Access. A cell's access is its nearest built station by travel time (``nearest_open_min``,
minutes, and ``nearest_open_crow_km``, straight-line km; :func:`evsiting.stages.s6_sizing.nearest_open`),
NEV-weighted. A cell is within its standard when its model station is (``covered``) or its
nearest built station is within the cell's own ``standard_min`` (a per-cell column, when the
demand cells carry one by urban zone) or else the run's service standard. The zone of a cell is
its ``zone`` column (core, urban, town, rural) or ``all`` when the cells have none; a station's
zone is that of the demand cell it stands in (the nearest cell when it stands in none).
"""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd

from evsiting.core.settings import PROJECTED_CRS, WGS84

#: Zones in report order; others follow sorted, ``all`` when the cells carry no ``zone``.
ZONE_ORDER = ("core", "urban", "town", "rural")

#: Columns of ``stations.csv`` (and properties of ``stations.geojson``).
STATION_COLUMNS = ["station_id", "site_id", "station_of_site", "stations_at_site", "name", "status", "prefecture", "county",
                   "adcode", "prefecture_adcode", "ports_dc", "ports_ac", "ports_dc_existing", "ports_ac_existing", "power_kw", "lon", "lat",
                   "position_rule"]

#: Columns of ``counties.csv``.
COUNTY_COLUMNS = ["prefecture", "county", "adcode", "nev_count", "energy_kwh_day", "stations", "stations_existing", "ports_dc",
                  "ports_ac", "power_kw", "cost_cny", "nev_within_standard_share", "access_min_mean", "access_min_p95",
                  "nev_per_public_port"]


def split_ports(total: int, n: int) -> np.ndarray:
    """``total`` whole ports over ``n`` stations as evenly as possible (the first
    ``total mod n`` stations get one more). Returns int array (n,)."""
    q, r = divmod(int(total), max(int(n), 1))
    return np.array([q + 1 if k < r else q for k in range(max(int(n), 1))], dtype=np.int64)


def spread_points(lon: float, lat: float, n: int, resolution: int) -> tuple[list[tuple[float, float]], str]:
    """Positions (lon, lat WGS84 degrees) of the ``n`` stations of a site at (``lon``, ``lat``)
    whose H3 cell has ``resolution`` (see the module doc), and the rule's name."""
    if n <= 1:
        return [(lon, lat)], "site point"
    step = 2 if n <= 49 else 3
    parent = h3.latlng_to_cell(lat, lon, resolution)
    kids = sorted(h3.cell_to_children(parent, resolution + step))
    ll = np.array([h3.cell_to_latlng(k) for k in kids])  # (lat, lon)
    d2 = (ll[:, 0] - lat) ** 2 + ((ll[:, 1] - lon) * np.cos(np.radians(lat))) ** 2
    order = np.lexsort((np.arange(len(kids)), d2))[:n]
    return [(float(ll[k, 1]), float(ll[k, 0])) for k in order], f"H3 res-{resolution + step} child centres"


def _is_existing(sites: pd.DataFrame) -> np.ndarray:
    req = (sites["facility_type"] == "required").to_numpy() if "facility_type" in sites.columns else np.zeros(len(sites), bool)
    if "ports_dc_existing" in sites.columns:
        req = req | ((sites["ports_dc_existing"].fillna(0) + sites["ports_ac_existing"].fillna(0)) > 0).to_numpy()
    return req


def stations_layer(sites: gpd.GeoDataFrame, h3_resolution: int, params) -> gpd.GeoDataFrame:
    """One row per station of the open sites of a ``sites`` layer, each at its own position.

    Args:
        sites: the run's sites layer (:func:`evsiting.report.layers.sites_layer`; rows with
            ``facility_type`` chosen or required are used), WGS84 points.
        h3_resolution: the demand cells' H3 resolution (a site's cell).
        params: ``dc_charger_power_kw``, ``ac_charger_power_kw`` (kW per port).

    Returns:
        WGS84 point GeoDataFrame with :data:`STATION_COLUMNS` plus ``facility_type`` and
        ``ports_total`` (for the sites style), in site order; ``station_id`` is
        ``<site_id>`` for a one-station site and ``<site_id>/<k>`` (k = 1..n) otherwise;
        ``status`` is ``existing`` (a required site, or installed ports) or ``new``.
    """
    op = sites[sites["facility_type"].isin(["chosen", "required"])] if "facility_type" in sites.columns else sites
    op = op.to_crs(WGS84)
    existing = _is_existing(op)
    kw_dc, kw_ac = params.value("dc_charger_power_kw"), params.value("ac_charger_power_kw")
    rows, geoms = [], []
    for (_, s), ex in zip(op.iterrows(), existing):
        n = int(s.get("stations") or 1)
        pts, rule = spread_points(float(s.geometry.x), float(s.geometry.y), n, h3_resolution)
        dc, ac = split_ports(s["ports_dc"], n), split_ports(s["ports_ac"], n)
        ex_dc = split_ports(s.get("ports_dc_existing") or 0, n)
        ex_ac = split_ports(s.get("ports_ac_existing") or 0, n)
        for k, (x, y) in enumerate(pts):
            rows.append({"station_id": str(s["site_id"]) if n == 1 else f"{s['site_id']}/{k + 1}", "site_id": str(s["site_id"]),
                         "station_of_site": k + 1, "stations_at_site": n,
                         "name": s.get("name") if n == 1 else f"{s.get('name')} ({k + 1}/{n})",
                         "status": "existing" if ex else "new", "prefecture": s.get("prefecture"), "county": s.get("county"),
                         "adcode": int(s["adcode"]), "prefecture_adcode": int(s["prefecture_adcode"]), "ports_dc": int(dc[k]), "ports_ac": int(ac[k]),
                         "ports_dc_existing": int(ex_dc[k]), "ports_ac_existing": int(ex_ac[k]),
                         "power_kw": float(dc[k] * kw_dc + ac[k] * kw_ac), "lon": round(x, 7), "lat": round(y, 7),
                         "position_rule": rule, "facility_type": s["facility_type"], "ports_total": int(dc[k] + ac[k])})
            geoms.append((x, y))
    df = pd.DataFrame(rows, columns=STATION_COLUMNS + ["facility_type", "ports_total"])
    xy = np.array(geoms, dtype=float).reshape(-1, 2)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=WGS84)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float | None:
    """The smallest value whose cumulative weight reaches ``q`` of the total (None when the
    weights sum to 0)."""
    v, w = np.asarray(values, float), np.asarray(weights, float)
    ok = np.isfinite(v) & (w > 0)
    if not ok.any():
        return None
    order = np.argsort(v[ok], kind="stable")
    cw = np.cumsum(w[ok][order])
    return float(v[ok][order][np.searchsorted(cw, q * cw[-1] - 1e-9 * cw[-1])])


def within_standard(cells: pd.DataFrame, standard_min: float) -> np.ndarray:
    """Bool (n,): the cell's model station is within the standard (``covered``), or its nearest
    built station is within the cell's ``standard_min`` column (else ``standard_min``)."""
    std = cells["standard_min"].to_numpy(float) if "standard_min" in cells.columns else np.full(len(cells), float(standard_min))
    near = cells["nearest_open_min"].to_numpy(float) if "nearest_open_min" in cells.columns else np.full(len(cells), np.nan)
    cov = cells["covered"].fillna(False).astype(bool).to_numpy() if "covered" in cells.columns else np.zeros(len(cells), bool)
    return cov | (np.isfinite(near) & (near <= std + 1e-9))


def _zones(cells: pd.DataFrame) -> np.ndarray:
    return cells["zone"].fillna("unknown").astype(str).to_numpy() if "zone" in cells.columns else np.full(len(cells), "all", dtype=object)


def station_zones(stations: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> np.ndarray:
    """The zone of each station: that of the demand cell it stands in (nearest cell otherwise)."""
    if not len(stations):
        return np.empty(0, dtype=object)
    zones = _zones(cells)
    c = gpd.GeoDataFrame({"_z": zones}, geometry=cells.geometry.to_numpy(), crs=cells.crs).to_crs(PROJECTED_CRS)
    s = gpd.GeoDataFrame({"_i": np.arange(len(stations))}, geometry=stations.geometry.to_numpy(), crs=stations.crs).to_crs(PROJECTED_CRS)
    j = gpd.sjoin_nearest(s, c, how="left").sort_values(["_i", "index_right"]).drop_duplicates("_i")
    return j["_z"].to_numpy()


def _access_block(c: pd.DataFrame, st: pd.DataFrame, standard_min: float) -> dict:
    nev = c["nev_count"].to_numpy(float)
    near_min = c["nearest_open_min"].to_numpy(float) if "nearest_open_min" in c.columns else np.full(len(c), np.nan)
    near_km = c["nearest_open_crow_km"].to_numpy(float) if "nearest_open_crow_km" in c.columns else np.full(len(c), np.nan)
    reach = np.isfinite(near_min)
    ports = (st["ports_dc"] + st["ports_ac"]).to_numpy(float)

    def mean(v):
        w = nev[reach]
        return round(float(np.average(v[reach], weights=w)), 3) if w.sum() > 0 else None

    def p95(v):
        x = weighted_quantile(v[reach], nev[reach], 0.95)
        return None if x is None else round(x, 3)

    within = within_standard(c, standard_min)
    total = float(nev.sum())
    return {"nev_count": int(round(total)), "stations": int(len(st)),
            "ports_per_station_median": float(np.median(ports)) if len(ports) else None,
            "ports_per_station_min": int(ports.min()) if len(ports) else None,
            "ports_per_station_max": int(ports.max()) if len(ports) else None,
            "access_min_mean": mean(near_min), "access_min_p95": p95(near_min),
            "access_crow_km_mean": mean(near_km), "access_crow_km_p95": p95(near_km),
            "nev_without_station_in_reach": int(round(float(nev[~reach].sum()))),
            "nev_within_standard_share": round(float(nev[within].sum()) / total, 6) if total > 0 else None}


def access_by_zone(cells: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, prefectures: dict[int, str],
                   standard_min: float) -> list[dict]:
    """Per urban zone and prefecture, and per zone over the study area (``prefecture`` =
    ``all``): stations, ports per station (median, min, max), NEV-weighted access to the
    nearest built station (mean and 95th percentile, minutes and straight-line km) and the
    share of NEVs within their zone's standard (:func:`within_standard`).

    Args:
        cells: demand cells with ``prefecture_adcode``, ``nev_count``, ``nearest_open_min``,
            ``nearest_open_crow_km``, ``covered`` and optionally ``zone``, ``standard_min``;
            polygon or point geometry.
        stations: :func:`stations_layer` (one row per station).
        prefectures: adcode -> name, in output order.
        standard_min: the run's service standard, minutes (cells without their own).

    Returns:
        list of dicts with ``prefecture``, ``prefecture_adcode`` (None for ``all``), ``zone``
        and the figures of :func:`_access_block`; zones in :data:`ZONE_ORDER`.
    """
    cz = _zones(cells)
    sz = station_zones(stations, cells)
    s_adc = stations["prefecture_adcode"].to_numpy() if len(stations) else np.empty(0, dtype=np.int64)
    names = sorted(set(cz), key=lambda z: (ZONE_ORDER.index(z) if z in ZONE_ORDER else len(ZONE_ORDER), z))
    c_adc = cells["prefecture_adcode"].to_numpy()
    out = []
    groups = [(a, n) for a, n in prefectures.items()] + ([(None, "all")] if len(prefectures) > 1 else [])
    for adcode, pname in groups:
        for z in names:
            cm = (cz == z) & ((c_adc == adcode) if adcode is not None else True)
            sm = (sz == z) & ((s_adc == adcode) if adcode is not None else True)
            if not cm.any() and not sm.any():
                continue
            out.append({"prefecture": pname, "prefecture_adcode": adcode, "zone": z,
                        **_access_block(cells[cm], stations[sm], standard_min)})
    return out


def county_table(cells: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, standard_min: float,
                 prefectures: dict[int, str]) -> pd.DataFrame:
    """One row per county of the study area (:data:`COUNTY_COLUMNS`), in adcode order: NEVs,
    public energy, stations (of which existing), ports, kW, capital cost (CNY), share of NEVs
    within the standard and NEV-weighted access minutes to the nearest built station.
    ``prefectures``: adcode -> name."""
    op = sites[sites["facility_type"].isin(["chosen", "required"])] if "facility_type" in sites.columns else sites
    rows = []
    for adcode, c in cells.groupby("county_adcode", sort=True):
        s = op[op["adcode"] == adcode]
        st = stations[stations["adcode"] == adcode]
        a = _access_block(c, st, standard_min)
        ports = int(s["ports_dc"].sum() + s["ports_ac"].sum())
        rows.append({"prefecture": prefectures.get(int(c["prefecture_adcode"].iloc[0])), "county": c["county_name"].iloc[0], "adcode": int(adcode),
                     "nev_count": a["nev_count"], "energy_kwh_day": round(float(c["energy_kwh_day"].sum()), 3),
                     "stations": int(len(st)), "stations_existing": int((st["status"] == "existing").sum()),
                     "ports_dc": int(s["ports_dc"].sum()), "ports_ac": int(s["ports_ac"].sum()),
                     "power_kw": round(float(s["power_kw"].sum()), 3), "cost_cny": round(float(s["cost_cny"].sum()), 2),
                     "nev_within_standard_share": a["nev_within_standard_share"], "access_min_mean": a["access_min_mean"],
                     "access_min_p95": a["access_min_p95"],
                     "nev_per_public_port": round(a["nev_count"] / ports, 3) if ports else None})
    return pd.DataFrame(rows, columns=COUNTY_COLUMNS)


def stations_by_urban_population(prefectures: list[dict], census_counties: pd.DataFrame | None = None) -> dict | None:
    """Do stations per prefecture follow its urban population, not only its NEVs? Adds
    ``urban_population`` (persons, census 2020: the counties' urban population),
    ``urban_population_share`` and ``station_share`` (fractions of the study's) to each row of
    ``prefectures`` (``summarise``'s rows, in place) and returns the study-wide record
    ``stations_by_urban_population``: Pearson's r over the prefectures of stations with urban
    population (``r_urban_population``) and with NEVs (``r_nev``), the largest gap between a
    prefecture's station share and its urban population share (``max_share_gap``, a fraction,
    with its ``max_share_gap_prefecture``), and ``stations_per_10k_urban`` (study-wide).

    Args:
        prefectures: list of dicts with ``adcode``, ``name_en``, ``stations``, ``nev_count``.
        census_counties: :class:`evsiting.demand.cells.CensusTables` ``counties``: columns
            ``prefecture_adcode`` and ``urban_population`` (persons); None: the rows carry
            ``urban_population`` already (a province roll-up of prefecture runs).

    Returns:
        the record, or None with fewer than 3 prefectures (no correlation to speak of).
    """
    if census_counties is not None:
        urban = census_counties.groupby("prefecture_adcode")["urban_population"].sum()
        for r in prefectures:
            r["urban_population"] = int(urban.get(r["adcode"], 0))
    elif not all("urban_population" in r for r in prefectures):
        return None  # summaries written before the field existed
    if len(prefectures) < 3:
        return None
    st = np.array([r["stations"] for r in prefectures], dtype=float)
    up = np.array([r["urban_population"] for r in prefectures], dtype=float)
    nev = np.array([r["nev_count"] for r in prefectures], dtype=float)
    st_share, up_share = st / max(st.sum(), 1.0), up / max(up.sum(), 1.0)
    for r, a, b in zip(prefectures, st_share, up_share):
        r["station_share"], r["urban_population_share"] = round(float(a), 4), round(float(b), 4)
    gap = st_share - up_share
    worst = int(np.argmax(np.abs(gap)))

    def r_of(a: np.ndarray, b: np.ndarray) -> float | None:
        return None if a.std() == 0 or b.std() == 0 else round(float(np.corrcoef(a, b)[0, 1]), 4)

    return {"r_urban_population": r_of(st, up), "r_nev": r_of(st, nev),
            "max_share_gap": round(float(gap[worst]), 4), "max_share_gap_prefecture": prefectures[worst]["name_en"],
            "stations_per_10k_urban": round(float(st.sum() / max(up.sum(), 1.0) * 1e4), 3)}


def urban_population_sentence(rec: dict) -> str:
    """The console's and the report's sentence on :func:`stations_by_urban_population`'s record
    (plain text; the report escapes it)."""
    return (f"stations per prefecture against the census urban population: Pearson r = {rec['r_urban_population']} "
            f"(against NEVs r = {rec['r_nev']}); {rec['stations_per_10k_urban']:.2f} stations per 10,000 urban residents; "
            f"the largest gap between a prefecture's share of the stations and its share of the urban residents: "
            f"{rec['max_share_gap_prefecture']} {100 * rec['max_share_gap']:+.1f} points")
