"""Stage 1, study: the study area's inputs, read and checked, and a record of every file read.

The records (config path, resolved path, SHA-256, declared CRS and reading notes of user
files) are the manifest's ``data_files``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import geopandas as gpd

from evsiting.candidates import generate as cand
from evsiting.study.areas import Prefecture, Prefectures, read_polygons, study_counties
from evsiting.config.inputs import ResolvedInputs, resolve_inputs
from evsiting.config.schema import BuildingWeightsConfig, NetworkConfig, PointFile, RunConfig
from ..demand import cells as dcells
from ..demand import zones as dzones
from evsiting.core.errors import InputError
from evsiting.config.checks import config_parameters
from evsiting.io.points import conventional_columns, dropped_warning, read_points
from evsiting.config.params import Parameters
from evsiting.core.settings import sha256


def file_record(value: str, path: Path, **notes) -> dict:
    """``{path, resolved, sha256}`` of a file read (``value`` as written in the config; sha256
    None when absent) plus ``notes`` (e.g. ``declared_crs``)."""
    return {"path": value, "resolved": str(path), "sha256": sha256(path) if path.exists() else None, **notes}


@dataclass(frozen=True)
class Study:
    """The study area's inputs: parameters (config overrides applied), the prefecture table and
    the chosen prefectures, counties (all 88 and the study's, WGS84), the county census, the
    county seats (WGS84), the user candidate files (one WGS84 GeoDataFrame each), building
    footprints (or None) with their record ``buildings_info``, ``files``: the record of
    every file read, and ``inputs``: the config's resolved paths, which the later stages read."""

    params: Parameters
    prefectures: Prefectures
    chosen: list[Prefecture]
    counties_all: gpd.GeoDataFrame
    counties: gpd.GeoDataFrame
    census: dcells.CensusTables
    seats: gpd.GeoDataFrame
    user_sites: list[gpd.GeoDataFrame]
    buildings: gpd.GeoDataFrame | None
    buildings_info: dict
    files: list[dict]
    inputs: ResolvedInputs
    #: census city-proper populations and town points of the urban zones (None: not read)
    zone_inputs: dzones.ZoneInputs | None = None

    def run_name(self, cfg: RunConfig, prefecture: str | None) -> str:
        """``<name>`` or ``<name>-<prefecture slug>``."""
        return cfg.name if prefecture is None else f"{cfg.name}-{self.chosen[0].slug}"


def load_study(cfg: RunConfig, prefecture: str | None = None, progress: Callable[[str], None] = lambda msg: None, *,
               inputs: ResolvedInputs | None = None, params: Parameters | None = None) -> Study:
    """Read the data-in stage shared by every command. User candidate files and building
    footprints are read here too, before the long stages, so a bad file fails in seconds.

    Args:
        inputs: the config's paths, checked (:attr:`evsiting.stages.context.RunContext.inputs`);
            None: resolved here (:func:`~evsiting.config.inputs.resolve_inputs`).
        params: its parameters, overrides applied (``RunContext.params``); None: read here
            (:func:`~evsiting.config.checks.config_parameters`).

    Raises:
        InputError: bad parameter overrides, unknown prefecture, missing or malformed files.
    """
    d, r = cfg.data, inputs if inputs is not None else resolve_inputs(cfg)
    params = params if params is not None else config_parameters(cfg, r)
    prefs = Prefectures.from_csv(r.prefecture_population)
    chosen = prefs.select(cfg.prefectures, prefecture)
    counties_all = study_counties(read_polygons(r.counties, ("district_adcode", "district_name", "city_adcode")), None)
    counties = counties_all[counties_all["prefecture_adcode"].isin([p.adcode for p in chosen])].reset_index(drop=True)
    census = dcells.read_census(r.county_population, r.urbanisation, r.household_cars)
    sf = d.county_seats
    seats = read_points(r.county_seats, crs=sf.crs, lon_column=sf.lon_column, lat_column=sf.lat_column, id_column=sf.id_column)
    user_sites, notes = read_candidate_files(cfg.candidates.files, r.candidate_files, counties, counties_all, progress)
    buildings, bw_info = read_building_weights(cfg.demand.building_weights, params, counties, network=cfg.network, inputs=r)
    files = [file_record(v, p) for v, p in ((d.counties, r.counties), (d.prefecture_population, r.prefecture_population),
                                            (d.county_population, r.county_population), (d.urbanisation, r.urbanisation),
                                            (d.household_cars, r.household_cars))]
    files.append(file_record(sf.path, r.county_seats, declared_crs=sf.crs))
    files.append(file_record(d.parameters, r.parameters))
    files += [file_record(f.path, p, **notes[f.path]) for f, p in zip(cfg.candidates.files, r.candidate_files)]
    zone_inputs = dzones.read_zone_inputs(r.city_proper, r.places)
    files += [file_record(v, p) for v, p in ((d.city_proper, r.city_proper), (d.places, r.places)) if v is not None]
    return Study(params, prefs, chosen, counties_all, counties, census, seats, user_sites, buildings, bw_info, files, r, zone_inputs)


def read_candidate_files(files: list[PointFile], paths: tuple[Path, ...], counties: gpd.GeoDataFrame,
                         counties_all: gpd.GeoDataFrame,
                         progress: Callable[[str], None] = lambda msg: None) -> tuple[list[gpd.GeoDataFrame], dict]:
    """Candidate sites from the config's ``candidates.files`` (planner CSV/GeoJSON lists)
    ``files``, read from their resolved ``paths`` (one each, in order).

    Each file is read with its declared CRS (GCJ-02/BD-09 converted to WGS84); rows with empty
    coordinates are dropped with a warning; sites in other prefectures of the province are
    skipped with a warning (a province-wide list serves every prefecture run), sites outside
    the province are an error. ``existing: true`` marks the file's sites ``required``; ``dc_ports_column`` /
    ``ac_ports_column`` give the ports installed at each (columns ``existing_dc``/``existing_ac``:
    the capacitated model counts them as capacity at no cost); their
    ``source`` is the file's path as written in the config.

    A file that names no ``id_column``/``name_column`` uses its conventional ``id``/``name``
    columns when it has them (:func:`evsiting.io.points.conventional_columns`).

    Returns:
        (one GeoDataFrame of sites per file (EPSG:4326), notes per file path for the manifest:
        ``declared_crs``, ``dropped_empty_rows``, ``id_column``, ``name_column`` (used),
        ``skipped_outside_study_area``, ``warnings`` (the lines given to ``progress``)).

    Raises:
        InputError: unreadable file, missing column, bad coordinates (file and field named).
    """
    user_sites, notes = [], {}
    for pf, path in zip(files, paths):
        pts = read_points(path, crs=pf.crs, lon_column=pf.lon_column, lat_column=pf.lat_column, id_column=pf.id_column)
        id_col, name_col, said = conventional_columns(pts, pf.id_column, pf.name_column, pf.path)
        if (msg := dropped_warning(pts, pf.path)) is not None:
            said.append(msg)
        notes[pf.path] = {"declared_crs": pts.attrs["declared_crs"], "dropped_empty_rows": pts.attrs["dropped_empty"],
                          "id_column": id_col, "name_column": name_col}
        sites_f = cand.from_points(pts, counties, str(path), id_col, name_col, region=counties_all,
                                   port_columns={"dc_ports_column": pf.dc_ports_column, "ac_ports_column": pf.ac_ports_column,
                                                 "max_kw_column": pf.max_kw_column})
        sites_f["required"] = pf.existing
        sites_f["source"] = pf.path  # as written in the config: the same output on every machine
        if (msg := cand.skipped_warning(sites_f, pf.path)) is not None:
            said.append(msg)
        # in the manifest and summary as in the config; the commands print them once, at the end
        # (a run through its summary's warnings, plan and sweep after their tables)
        notes[pf.path]["skipped_outside_study_area"] = sites_f.attrs["skipped_outside"]
        notes[pf.path]["warnings"] = said
        user_sites.append(sites_f)
    return user_sites, notes


def read_building_weights(bw: BuildingWeightsConfig | None, params: Parameters, counties: gpd.GeoDataFrame, *,
                          network: NetworkConfig | None, inputs: ResolvedInputs) -> tuple[gpd.GeoDataFrame | None, dict]:
    """Building footprints of ``demand.building_weights`` (``bw``) inside the study counties
    (the file at ``inputs.building_weights``, or the ``network`` section's PBF), and the
    manifest record (``used``; when used: ``source``, ``path``, ``resolved``, ``sha256``,
    ``crs``, ``share`` and its ``share_source``, ``footprints`` meeting the study area).

    Raises:
        InputError: no network PBF for ``source: network``, missing/unreadable file, no
            building polygon in the study area, share outside 0..1.
    """
    from ..demand.buildings import building_share, read_buildings

    if bw is None:
        return None, {"used": False}
    share, share_source = building_share(params, bw.share)
    if bw.source == "network":
        ncfg = network
        if ncfg is None or ncfg.source == "overpass":
            raise InputError("source 'network' needs a network section with source 'file' (an .osm.pbf) or 'geofabrik'",
                             source="config", field="demand.building_weights.source")
        if ncfg.source == "geofabrik":
            from ..network.sources import download_extract

            path, shown = download_extract(ncfg.geofabrik_url, inputs.cache_dir), ncfg.geofabrik_url
        else:
            path, shown = inputs.network, ncfg.path
        if not path.name.lower().endswith(".pbf"):
            raise InputError("building weights from the network need an .osm.pbf network file", source=path, field="network.path")
    else:
        path, shown = inputs.building_weights, bw.path
    buildings = read_buildings(path, bw.crs, counties.geometry.union_all())
    info = {"used": True, "source": bw.source, "path": shown, "resolved": str(path), "sha256": sha256(path), "crs": bw.crs,
            "share": share, "share_source": share_source, "footprints": len(buildings)}
    return buildings, info
