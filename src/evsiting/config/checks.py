"""One validation layer, run before any work (:meth:`evsiting.stages.context.RunContext.open`,
:func:`evsiting.runs.batch.run_batch`): everything that can be checked without computing is checked
here, so a bad input ends in seconds with one ``error:`` line naming the user's file and key.

- every file the config names (``extends`` is checked by the loader): it exists, is a file
  (not a folder), and its content is of the kind the key needs, whatever its name says (a
  ``.tsv`` or a CSV without geometry is not building footprints; a GraphML needs node
  coordinates); text tables have unique column names; the user's GeoJSON has numeric
  coordinates (:mod:`evsiting.core.filecheck`);
- parameter overrides: known names, finite numbers within the physical bounds of their unit
  (:func:`check_parameter_overrides`);
- the output folder: creatable and writable, not on a pseudo-filesystem, no dangling link on
  the way, names within the file system's limits (:func:`evsiting.io.points.check_output_folder`);
- command-line numbers (:func:`check_cli_numbers`).

The config text itself (UTF-8, duplicate keys, YAML 1.1 booleans, alias cycles, finite
values, plausible bounds) is checked when it is loaded (:func:`evsiting.config.schema.load_config`).
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Iterable

import numpy as np

from evsiting.config.inputs import ResolvedInputs, resolve_inputs
from evsiting.config.schema import PointFile, RunConfig
from evsiting.core.errors import InputError
from evsiting.core.filecheck import (
    NETWORKS,
    TABLES,
    VECTORS,
    check_file_kind,
    check_geojson_coordinates,
    csv_header,
    expect_kind,
)
from evsiting.io.points import POINT_FILES, check_output_folder
from evsiting.config.params import INTEGER_UNITS, Parameters, load_parameters, physical_bounds

POINTS = POINT_FILES
_SEPARATORS = {"csv": ",", "tsv": "\t", "ssv": ";", "text": ","}


def configured_files(cfg: RunConfig, inputs: ResolvedInputs | None = None) -> list[tuple[str, str, Path, frozenset[str], str]]:
    """The files ``cfg`` uses: (dotted key, value as written, resolved path (from ``inputs``,
    default :func:`~evsiting.config.inputs.resolve_inputs`), allowed kinds, what is expected)."""
    r = inputs if inputs is not None else resolve_inputs(cfg)
    d = cfg.data
    csv_only = frozenset({"csv"})
    out = [
        ("data.counties", d.counties, r.counties, VECTORS, "county polygons: GeoJSON, GeoPackage or Shapefile"),
        ("data.prefecture_population", d.prefecture_population, r.prefecture_population, csv_only, "a comma-separated table (CSV)"),
        ("data.county_population", d.county_population, r.county_population, csv_only, "a comma-separated table (CSV)"),
        ("data.urbanisation", d.urbanisation, r.urbanisation, csv_only, "a comma-separated table (CSV)"),
        ("data.household_cars", d.household_cars, r.household_cars, csv_only, "a comma-separated table (CSV)"),
        ("data.county_seats.path", d.county_seats.path, r.county_seats, TABLES | VECTORS, POINTS),
        ("data.motorways", d.motorways, r.motorways, VECTORS, "expressway lines: GeoJSON, GeoPackage or Shapefile"),
        ("data.parameters", d.parameters, r.parameters, csv_only, "a comma-separated table (CSV)"),
    ]
    out += [(f"candidates.files.{i}.path", f.path, path, TABLES | VECTORS, POINTS)
            for i, (f, path) in enumerate(zip(cfg.candidates.files, r.candidate_files))]
    bw = cfg.demand.building_weights
    if bw is not None and bw.source == "file" and bw.path:
        out.append(("demand.building_weights.path", bw.path, r.building_weights, VECTORS | {"pbf"},
                    "building polygons: GeoJSON, GeoPackage, Shapefile or an .osm.pbf"))
    net = cfg.network
    uses_network = cfg.impedance.method == "network" or (net is not None and net.osm_candidates) or \
        (bw is not None and bw.source == "network")
    if net is not None and net.source == "file" and net.path and uses_network:
        out.append(("network.path", net.path, r.network, NETWORKS, "a road network: .osm, .osm.bz2, .osm.pbf or GraphML"))
    if cfg.corridors.services_file is not None:
        out.append(("corridors.services_file.path", cfg.corridors.services_file.path, r.services_file, TABLES | VECTORS, POINTS))
    for i, (rule, path) in enumerate(zip(cfg.buildout.coverage, r.coverage_places)):
        if isinstance(rule.places, PointFile):
            out.append((f"buildout.coverage.{i}.places.path", rule.places.path, path, TABLES | VECTORS, POINTS))
    return out


def _graphml_has_coordinates(path: Path) -> bool:
    """True when the GraphML declares node attributes ``x`` and ``y`` (its ``<key>`` elements
    come before the graph)."""
    with open(path, "rb") as f:
        head = f.read(1 << 20).decode("utf-8", errors="replace")
    names = set()
    for tag in re.findall(r"<key\b[^>]*>", head):
        if re.search(r'\bfor\s*=\s*["\'](node|all)["\']', tag):
            m = re.search(r'\battr\.name\s*=\s*["\']([^"\']*)["\']', tag)
            if m:
                names.add(m.group(1))
    return {"x", "y"} <= names


def _has_nodes(path: Path, limit: int = 8 << 20) -> bool:
    """True when an OSM XML or GraphML file has a ``<node`` element within its first ``limit``
    bytes (nodes come before ways and edges in both), or is larger than that."""
    with open(path, "rb") as f:
        head = f.read(limit)
    return b"<node" in head or len(head) >= limit


def check_files(cfg: RunConfig, inputs: ResolvedInputs) -> None:
    """Check every file of :func:`configured_files`: present, a file, of the right kind by
    content (a ``.csv`` holding tab-separated text is refused), unique column names in tables,
    numeric coordinates in the user's GeoJSON, nodes in an OSM XML or GraphML, node coordinates
    in a GraphML; a download cache folder (``network.cache_dir``) that is a file.

    Raises:
        InputError: naming the config and the key (missing file, a folder) or the file and the
            key (wrong content).
    """
    for key, _value, path, allowed, expected in configured_files(cfg, inputs):
        check_file_kind(path, what=expected, source=cfg.source, field=key)
        kind = expect_kind(path, allowed, expected, field=key)
        if kind == "tsv" and path.suffix.lower() == ".csv":
            raise InputError("the file is named .csv but its content is tab-separated (one column to a comma-separated "
                             "reader); save it with commas, or name it .tsv", source=path, field=key)
        if kind in TABLES:
            csv_header(path, _SEPARATORS[kind])
        if kind in ("osm", "graphml") and not _has_nodes(path):
            raise InputError(f"the {'OSM XML' if kind == 'osm' else 'GraphML'} file holds no nodes, so no road network; "
                             "expected an OSM extract with roads (.osm, .osm.pbf) or a GraphML saved by osmnx", source=path, field=key)
        if kind == "json" and not key.startswith("data."):  # the user's files (data.* are large and checked)
            check_geojson_coordinates(path)
        if kind == "graphml" and not _graphml_has_coordinates(path):
            raise InputError("the GraphML has no node coordinates (node attributes 'x' and 'y'); save the graph "
                             "with osmnx.save_graphml, or give the .osm/.osm.pbf file", source=path, field=key)
    check_cache_dir(cfg, inputs)


def check_cache_dir(cfg: RunConfig, inputs: ResolvedInputs) -> None:
    """``network.cache_dir`` (download cache of the ``overpass``/``geofabrik`` sources) must be
    a folder or absent with a folder as its nearest existing parent; nothing is created here.

    Raises:
        InputError: naming the path and ``network.cache_dir``.
    """
    net = cfg.network
    if net is None or net.source == "file":
        return
    path = inputs.cache_dir
    for p in [path, *path.parents]:
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                what = "is a file" if p == path else f"lies under '{p}', which is a file"
                raise InputError(f"the download cache folder {what}; give a folder (it is created when the first "
                                 "download succeeds)", source=path, field="network.cache_dir")
            return


def validate_config(cfg: RunConfig) -> tuple[ResolvedInputs, Parameters]:
    """The checks of a loaded config that need its files: its paths resolved once
    (:func:`~evsiting.config.inputs.resolve_inputs`), :func:`check_files`, then the parameter
    overrides against the parameter table (units and physical bounds, :func:`config_parameters`).

    Returns:
        (the config's :class:`~evsiting.config.inputs.ResolvedInputs`, checked; its
        parameters with the overrides applied).

    Raises:
        InputError: the first problem, naming the user's file and the dotted key.
    """
    inputs = resolve_inputs(cfg)
    check_files(cfg, inputs)
    return inputs, config_parameters(cfg, inputs)


def config_parameters(cfg: RunConfig, inputs: ResolvedInputs | None = None, *,
                      label: str = "config parameters") -> Parameters:
    """The one parameter loader of a run: ``data.parameters`` read
    (:func:`~evsiting.config.params.load_parameters`), the config's overrides checked
    (:func:`check_parameter_overrides`) and applied; ``label`` goes into each overridden
    parameter's ``source`` ("override in <label> (default ...)").

    Raises:
        InputError: the table is missing or malformed, or an override is refused (naming the
            config file and ``parameters.<name>``).
    """
    params = load_parameters((inputs if inputs is not None else resolve_inputs(cfg)).parameters)
    check_parameter_overrides(params, cfg.parameters, cfg.source)
    return params.with_overrides(cfg.parameters, label, cfg.source)


#: Longest suffix evsiting adds to a config's name for a folder (``-qiandongnan-sweep-budget``)
#: plus the temporary name of a folder being written (``.NAME.partial-<pid>-<8 chars>``).
FOLDER_NAME_MARGIN = 60


def check_output(base: Path, field: str, run_names: Iterable[str] = ()) -> None:
    """The output folder ``base`` (``--out`` or ``output_dir``) can hold the run folders
    ``run_names``: see :func:`evsiting.io.points.check_output_folder`.

    Raises:
        InputError: naming ``base`` and ``field``.
    """
    check_output_folder(base, field, [f"{n}{'x' * FOLDER_NAME_MARGIN}" for n in run_names])


def check_cli_numbers(time_limit: float | None = None, workers: int | None = None) -> None:
    """``--time-limit`` must be a finite number of seconds above 0, ``--workers`` at least 1.

    Raises:
        InputError: naming the option.
    """
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise InputError(f"must be a finite number of seconds above 0, got {time_limit:g}", field="--time-limit")
    if workers is not None and workers < 1:
        raise InputError(f"must be at least 1 worker process, got {workers}", field="--workers")


DIVISOR_UNITS = frozenset({"km/h", "kW", "h/day", "ratio", "km", "kWh", "years", "min"})


def check_parameter_overrides(params, overrides, source: object = "config") -> None:
    """Refuse config overrides of ``data/parameters.csv`` that name no parameter, are not
    finite numbers, are physically impossible for the parameter's unit, or have an impossible
    sign (a zero speed would make every travel time infinite and the run would silently cover
    nothing), before any work.

    Physical bounds come from the unit (:data:`evsiting.config.params.UNIT_BOUNDS`: a fraction in
    [0, 1], hours a day in [0, 24], ...) or the parameter (:data:`evsiting.config.params.NAME_BOUNDS`:
    circuity >= 1, a peak-hour share above 0); ports are whole numbers. The sign rule comes from
    the parameter's documented range (``low``, or the default when there is no range): a
    non-negative range needs a value >= 0, and a positive one needs a value > 0 when the unit is
    one the model divides by (:data:`DIVISOR_UNITS`: speeds, powers, utilisation hours, ratios,
    distances, session energy, years, minutes); a range reaching below zero (growth rates)
    allows any value within the unit's bounds. Zero stays allowed for shares and costs.

    Args:
        params: the :class:`evsiting.config.params.Parameters` table before overrides.
        overrides: the config's ``parameters`` mapping (name -> value).
        source: the config file, named in the errors.

    Raises:
        InputError: naming ``source``, ``parameters.<name>``, the value, the unit and the
            documented range.
    """

    for name, value in (overrides or {}).items():
        field = f"parameters.{name}"
        names = list(params)
        if name not in names:
            near = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.5)
            raise InputError(f"no parameter named '{name}'" + (f"; did you mean {near}?" if near else "; see data/parameters.csv"), source, field)
        p = params[name]
        if isinstance(value, bool):
            raise InputError(f"must be a number in {p.unit}, got the boolean {str(value).lower()}", source, field)
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InputError(f"must be a number in {p.unit}, got {value!r}", source, field) from None
        if not np.isfinite(v):
            raise InputError(f"must be a finite number in {p.unit}, got {value!r}", source, field)
        floor = p.low if p.low is not None else p.value
        rng = f"documented range {p.low:g}..{p.high:g} {p.unit}" if p.low is not None and p.high is not None else f"default {p.value:g} {p.unit}"
        if floor > 0 and p.unit in DIVISOR_UNITS and v <= 0:
            raise InputError(f"must be positive ({rng}), got {v:g}", source, field)
        if floor >= 0 and v < 0:
            raise InputError(f"must be zero or more ({rng}), got {v:g}", source, field)
        bounds = physical_bounds(p)
        if bounds is not None:
            lo, hi, open_lo = bounds
            if v > hi or v < lo or (open_lo and v <= lo):
                unit = "" if p.unit in ("fraction", "ratio", "exponent") else f" {p.unit}"
                span = f"{'above ' if open_lo else ''}{lo:g}{' and up' if open_lo else ''} to {hi:g}{unit}"
                kind = f"a {p.unit}" if not unit else "a value"
                raise InputError(f"{v:g}{unit} is physically impossible for this parameter: expected {kind} from {span} ({rng})", source, field)
        if p.unit in INTEGER_UNITS and v != int(v):
            raise InputError(f"must be a whole number of {p.unit}, got {v:g}", source, field)
