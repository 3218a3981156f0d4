"""Run configuration: YAML files validated by pydantic models; unknown keys are rejected.

A config may start with ``extends: OTHER.yaml`` (relative to itself): the other file is
read first and this one's keys are merged over it, section by section; a ``model:`` block
merges over the other file's model block when it has the same ``type`` (``model: {type:
capacitated, power_limit: false}`` keeps the inherited zone standards; setting
``service_standard_min`` drops the inherited ``zone_standards``, and back) and replaces it
whole when its type differs (``mclp`` when left out). An inherited
relative ``output_dir`` keeps pointing where the file that set it meant (it is relative to
that file).
"""

from __future__ import annotations

import re

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from evsiting.core.errors import InputError
from evsiting.core.settings import resolve_path
from evsiting.core.solvers import SolverName


def _admits_bool(annotation: Any) -> bool:
    """True when ``annotation`` (a field type) accepts ``bool`` values."""
    if annotation is bool:
        return True
    return any(_admits_bool(a) for a in get_args(annotation))


class Strict(BaseModel):
    """Base model: unknown keys are an error, values are validated on assignment, numbers must
    be finite (no ``.inf``/``.nan``), and ``true``/``false`` is refused where a number or a
    text is expected (pydantic would read ``true`` as 1)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, v: Any, info) -> Any:
        if isinstance(v, bool):
            field = cls.model_fields.get(info.field_name)
            if field is not None and not _admits_bool(field.annotation):
                raise ValueError(f"expected a number or a text, got the boolean {str(v).lower()}")
        return v


class PointFile(Strict):
    """A user file of points (CSV with lon/lat columns, or GeoJSON/GeoPackage).

    ``crs`` is the coordinate system the file is in: any ``EPSG:n`` code, ``gcj02`` (Amap,
    Tencent) or ``bd09`` (Baidu). Points are converted to WGS84 on read.
    """

    path: str
    crs: str = "EPSG:4326"
    id_column: str | None = None
    name_column: str | None = None
    lon_column: str = "lon"
    lat_column: str = "lat"
    #: The file lists existing stations: required facilities, always open (candidate files only).
    existing: bool = False
    #: Columns with the DC fast / AC level-2 ports installed at each site (existing stations):
    #: the capacitated model counts them as capacity at no cost and adds ports only where needed.
    dc_ports_column: str | None = None
    ac_ports_column: str | None = None
    #: Column with the installed kW a station at the site may hold (a hub with a grid connection
    #: of its own); blank rows take the default limit (parameters station_transformer_kva etc.).
    max_kw_column: str | None = None

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, v: str) -> str:
        from evsiting.core.coords import normalise_crs_name

        try:
            normalise_crs_name(v)
        except InputError as exc:
            raise ValueError(exc.message) from None
        return v


class DataFiles(Strict):
    """Input data. ``data:`` = this repo's data/, ``shared:`` = ../shared/data (see settings)."""

    counties: str = "data:guizhou_counties.geojson"
    prefecture_population: str = "data:guizhou_census2020_population.csv"
    county_population: str = "shared:guizhou_counties_census2020.csv"
    urbanisation: str = "shared:guizhou_urbanisation_census2020.csv"
    household_cars: str = "shared:guizhou_household_cars_census2020.csv"
    county_seats: PointFile = PointFile(path="shared:guizhou_county_seats.csv", crs="gcj02", id_column="adcode", name_column="name_zh")
    motorways: str = "shared:guizhou_motorways_osm.geojson"
    parameters: str = "data:parameters.csv"
    #: census 2020 city-proper (城区) populations: the ``core`` zone (evsiting.demand.zones)
    city_proper: str = "shared:guizhou_chengqu_housing_census2020.csv"
    #: GeoNames populated places: township seats and towns for the ``town`` zone (None: off)
    places: str | None = "shared:guizhou_geonames_cities500.csv"


class BuildingWeightsConfig(Strict):
    """Building footprints as a demand weight inside each county (off unless given;
    :mod:`evsiting.demand.buildings`).

    Each county's NEVs go to its cells in proportion to (1 - share) x census/kernel share +
    share x the cell's building footprint area (m², EPSG:32648) / the county's; the county
    totals stay exact. ``source``: ``network`` (the ``.osm.pbf`` of the ``network`` section:
    its ``file`` or the ``geofabrik`` extract) or ``file`` (``path``: a ``.osm.pbf``, or a
    polygon file such as GeoJSON/GeoPackage in the declared ``crs``: ``EPSG:n``, ``gcj02``,
    ``bd09``). ``share``: 0..1, default the parameter ``demand_building_share``.
    """

    source: Literal["network", "file"] = "file"
    path: str | None = None
    crs: str = "EPSG:4326"
    share: float | None = Field(None, ge=0, le=1)

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, v: str) -> str:
        return PointFile._known_crs(v)

    @model_validator(mode="after")
    def _path_for_file(self):
        if self.source == "file" and not self.path:
            raise ValueError("source 'file' needs 'path'")
        if self.source == "network" and self.path:
            raise ValueError("'path' is for source 'file'; source 'network' reads the network section's file")
        return self


class DemandConfig(Strict):
    """How the scenario's NEV stock is spread over demand points.

    ``nev_total``: vehicles in the province in the scenario year; None (default) takes the
    fleet projection for ``year`` and ``scenario`` (base 2026 = 700,000, Guizhou's target). ``weights``: county weights, from the 2020 census: ``population``,
    ``population_x_car_share`` (population x share of households owning a car) or
    ``urban_population``. ``h3_resolution``: 7 gives cells of about 5.2 km² (H3 average).
    """

    nev_total: int | None = Field(None, gt=0)
    weights: Literal["population", "population_x_car_share", "urban_population"] = "population_x_car_share"
    h3_resolution: int = Field(7, ge=4, le=9)
    #: Finer H3 cells in the zones whose km standard needs them (core and urban:
    #: evsiting.demand.zones.FINE_ZONES): 8 gives about 0.74 km², 9 about 0.1 km². None: one
    #: resolution everywhere. Vehicles and residents stay conserved per county.
    fine_h3_resolution: int | None = Field(None, ge=5, le=10)
    #: Fleet scenario (issue #4): ``low``/``high`` take the ``low``/``high`` column of
    #: ``data/parameters.csv`` for the parameters listed in ``fleet.scenario_parameters``.
    scenario: Literal["low", "base", "high"] = "base"
    #: Building footprints as a weight of the cells inside each county (None: off).
    building_weights: BuildingWeightsConfig | None = None

    @model_validator(mode="after")
    def _finer(self):
        if self.fine_h3_resolution is not None and self.fine_h3_resolution <= self.h3_resolution:
            raise ValueError(f"fine_h3_resolution ({self.fine_h3_resolution}) must be finer (larger) than h3_resolution ({self.h3_resolution})")
        return self


class FleetConfig(Strict):
    """NEV fleet projection (issue #4, ``evsiting.demand.fleet``).

    The province NEV stock grows by NEV sales = logistic NEV share of new-vehicle sales x
    total new-vehicle sales, less retirements; the share curve is fitted so the stock is
    ``fleet_nev_stock_base`` at the end of ``base_year`` and ``fleet_nev_stock_target`` at the
    end of ``target_year``, with the NEV share ``fleet_nev_sales_share_target`` in
    ``target_year`` (parameters). Defaults: Guizhou's 2026 target (700,000 NEVs, 40 % of sales)
    from a 2022 base; the bus rule (over 90 % of new urban buses NEV, Guiyang 100 %) applies
    from ``bus_policy_year`` 2024. ``scenario_parameters``: the parameters whose ``low``/
    ``high`` column the ``low``/``high`` scenario uses.
    """

    base_year: int = Field(2022, ge=2015, le=2030)
    target_year: int = Field(2026, ge=2016, le=2040)
    bus_policy_year: int = Field(2024, ge=2015, le=2040)
    last_year: int = Field(2030, ge=2016, le=2050)
    scenario_parameters: list[str] = [
        "fleet_nev_stock_target",
        "fleet_nev_sales_share_target",
        "fleet_nev_sales_share_max",
        "fleet_new_vehicle_sales_growth",
    ]

    @model_validator(mode="after")
    def _years(self):
        if not self.base_year < self.target_year <= self.last_year:
            raise ValueError("need base_year < target_year <= last_year")
        return self


class CandidatesConfig(Strict):
    """Candidate sites (see :mod:`evsiting.candidates.generate`).

    - ``from_demand_cells``, ``per_county``: the demand points of the ``per_county`` most
      demanded cells of each county (all cells with NEVs when None).
    - ``county_seats``: a candidate at each county seat.
    - ``parent_resolution``: the most demanded cell of each H3 parent cell at this resolution
      (5: about 250 km², 6: 36 km²; coarser than ``demand.h3_resolution``); None: off.
    - ``files``: user lists of sites (and OSM features with ``network.osm_candidates``).
    - ``fill_gaps``: cells with NEVs that no candidate reaches within the service standard get
      candidates of their own, chosen greedily (most unreached NEVs first), until
      ``target_ceiling`` of the NEVs (1 = every cell with NEVs) is within the standard of a
      candidate or ``max_added`` sites were added; cells left unreached are named in
      ``summary.json`` with the reason.
    """

    from_demand_cells: bool = True
    per_county: int | None = Field(30, gt=0)
    county_seats: bool = True
    parent_resolution: int | None = Field(5, ge=0, le=15)
    fill_gaps: bool = True
    target_ceiling: float = Field(1.0, gt=0, le=1)
    max_added: int | None = Field(5000, ge=0)
    files: list[PointFile] = []


class ImpedanceConfig(Strict):
    """Travel-time model. ``great_circle``: distance x circuity / local speed (parameters).
    ``expressway``: min(local roads, local + OSM expressways) using ``data.motorways``.
    ``network``: an OSM drive graph named in the ``network`` section."""

    method: Literal["great_circle", "expressway", "network"] = "great_circle"


class NetworkConfig(Strict):
    """OSM drive network for ``impedance.method: network`` (see evsiting.network).

    ``source``: ``overpass`` (osmnx, cached), ``geofabrik`` (Guizhou extract downloaded once
    into ``cache_dir``) or ``file`` (``path``: .osm, .osm.bz2, .osm.pbf or .graphml).
    ``buffer_m``: roads within this distance outside the study area are kept (metres; 5 km
    is a choice: a detour across a prefecture border within a 15-minute service standard).
    ``snap_limit_m``: points farther than this from any road node are unreachable (metres;
    1 km is a choice: about the edge of an H3 resolution-7 demand cell, 1.2 km).
    ``osm_candidates``: add fuel/parking/charging/mall/services/bus-station candidates from OSM.
    """

    source: Literal["overpass", "geofabrik", "file"] = "file"
    path: str | None = None
    buffer_m: float = Field(5000.0, ge=0, le=200_000)
    snap_limit_m: float = Field(1000.0, gt=0, le=50_000)
    cache_dir: str = "cache/osm"
    geofabrik_url: str = "https://download.geofabrik.de/asia/china/guizhou-latest.osm.pbf"
    osm_candidates: bool = False

    @model_validator(mode="after")
    def _path_for_file(self):
        if self.source == "file" and not self.path:
            raise ValueError("source 'file' needs 'path'")
        return self


class _ModelBlock(Strict):
    """Keys every model block has: ``service_standard_min`` (minutes; the coverage standard of
    the summary and of the service-area layer, and the radius of the covering models)."""

    type: str  # each model block narrows it to its own name
    #: minutes; at most 240 (a standard of hours is not a
    #: charging-access standard, and a typo such as 1,000,000 would silently cover everything)
    service_standard_min: float = Field(15.0, gt=0, le=240)
    #: each demand cell's own standard by its urban zone (core/urban/town: a straight-line
    #: radius in km, rural: minutes; parameters ``standard_core_km``, ``standard_urban_km``,
    #: ``standard_town_km``, ``standard_rural_min``; evsiting.demand.zones) instead of one
    #: ``service_standard_min`` for every cell
    zone_standards: bool = False

    @model_validator(mode="after")
    def _one_standard(self):
        if self.zone_standards and "service_standard_min" in self.model_fields_set:
            raise ValueError("give either 'zone_standards: true' (each cell's standard by its urban zone) or "
                             "'service_standard_min' (one standard for every cell), not both")
        return self


class _StationCount(_ModelBlock):
    """A model with a number of stations: ``p`` stations or one station per
    ``nevs_per_station`` vehicles of the study area (scales with a prefecture)."""

    p: int | None = Field(None, gt=0)
    nevs_per_station: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_size(self):
        if (self.p is None) == (self.nevs_per_station is None):
            raise ValueError("give exactly one of 'p' and 'nevs_per_station'")
        return self


class MCLPConfig(_StationCount):
    """``mclp``: at most p stations covering the most ``weight`` within the service standard."""

    type: Literal["mclp"] = "mclp"
    weight: Literal["nev_count", "energy_kwh_day"] = "nev_count"


class LSCPConfig(_ModelBlock):
    """``lscp``: the fewest stations that put every coverable demand cell (one with a
    candidate within the service standard) within the standard."""

    type: Literal["lscp"] = "lscp"


class PMedianConfig(_StationCount):
    """``pmedian``: p stations minimising the ``weight``-weighted travel minutes to the nearest
    station. ``max_travel_min``: travel times are computed up to this many minutes; cells
    beyond it of every candidate are left out of the model (reported in the summary)."""

    type: Literal["pmedian"] = "pmedian"
    weight: Literal["nev_count", "energy_kwh_day"] = "nev_count"
    max_travel_min: float = Field(60.0, gt=0, le=1440)


class PCenterConfig(_StationCount):
    """``pcenter``: p stations minimising the longest travel time (minutes) from a demand cell
    to its nearest station; ``max_travel_min`` as for ``pmedian``."""

    type: Literal["pcenter"] = "pcenter"
    max_travel_min: float = Field(60.0, gt=0, le=1440)


class CapacitatedConfig(_ModelBlock):
    """``capacitated``: the least capital cost (CNY) of sites and integer DC/AC ports that serve
    all public energy (kWh/day) within the service standard, with per-site port maxima and
    costs from the parameters (``site_max_dc_ports``, ``site_max_ac_ports``, ``site_cost``,
    ``dc_port_cost``, ``ac_port_cost``)."""

    type: Literal["capacitated"] = "capacitated"
    #: CNY per kWh/day served per minute of travel: drivers' access cost in the objective
    #: (total cost = capital + access). None (default) = derived from the parameters
    #: (evsiting.sizing.costs.access_cny_per_kwh_min: value_of_time_cny_per_h / 60 x
    #: access_legs_per_session / dc_session_kwh x 365 x the present value over
    #: access_horizon_years at access_discount_rate; 56 CNY with the defaults); 0 = no access
    #: cost (least capital cost, the earlier default; also parameters: {value_of_time_cny_per_h: 0}).
    allocation_cny_per_kwh_min: float | None = Field(None, ge=0, allow_inf_nan=False)
    #: CNY for new stations and ports; with it the model maximises the energy served and
    #: reports the rest unserved (None = serve all the energy the sites can hold, least cost).
    budget_cny: float | None = Field(None, ge=0, allow_inf_nan=False)
    #: keep each station's installed kW (DC plus AC ports) within its grid connection
    #: (evsiting.sizing.port_rule.station_limits_kw: station_transformer_kva x
    #: station_power_factor / station_simultaneity, 920 kW with the defaults; a candidate file's
    #: max_kw_column for larger hubs). On by default (issue #20); false = stations as large as
    #: the port maxima (30 DC + 50 AC ports, 3.1 MW), the answer before the limit.
    power_limit: bool = True


#: ``model.type`` -> its config block (keys validated per type).
MODEL_CONFIGS: dict[str, type[_ModelBlock]] = {
    "mclp": MCLPConfig, "lscp": LSCPConfig, "pmedian": PMedianConfig,
    "pcenter": PCenterConfig, "capacitated": CapacitatedConfig,
}


def _model_tag(v: Any) -> str:
    """The ``type`` of a model block (``mclp`` when left out)."""
    return v.get("type", "mclp") if isinstance(v, dict) else getattr(v, "type", "mclp")


#: The location model block: one of :data:`MODEL_CONFIGS`, chosen by its ``type``.
ModelConfig = Annotated[
    Union[tuple(Annotated[c, Tag(t)] for t, c in MODEL_CONFIGS.items())],
    Discriminator(_model_tag, custom_error_type="unknown_model_type",
                  custom_error_message="unknown model type; expected one of " + ", ".join(MODEL_CONFIGS)),
]


class SolverConfig(Strict):
    """MIP solver: ``cbc`` (bundled with pulp) or ``highs`` (highspy)."""

    name: SolverName = "cbc"
    time_limit_s: float | None = Field(600, gt=0)
    mip_gap: float | None = Field(None, ge=0, le=1)


class CoverageRuleConfig(Strict):
    """Coverage rule of a staged build-out (issue 9): every place of a class within
    ``radius_min`` (default: the service standard) of a station open by ``year``.

    ``places``: ``county_seats`` (``data.county_seats``, the study area's county seats) or a
    point file (e.g. township seats; ``name_column`` names the places in messages).
    """

    places: Literal["county_seats"] | PointFile = "county_seats"
    label: str | None = None
    year: int = Field(ge=2015, le=2060)
    radius_min: float | None = Field(None, gt=0, le=240)


class RobustConfig(Strict):
    """The robust build-out (``evsiting plan --robust``, :mod:`evsiting.models.robust`).

    ``early_until``: the last year whose stations and ports are chosen once for every
    scenario (the later years are chosen per scenario). ``scenarios``: the adoption scenarios
    (``demand.scenario`` values). ``criterion``: ``expected`` (least weighted mean of the
    scenarios' total costs) or ``worst_case`` (least largest). ``weights``: scenario ->
    weight (None = equal; normalised; used by ``expected``).
    """

    early_until: int = Field(2026, ge=2000, le=2100)
    scenarios: list[Literal["low", "base", "high"]] = Field(["low", "base", "high"], min_length=1)
    criterion: Literal["expected", "worst_case"] = "expected"
    weights: dict[Literal["low", "base", "high"], float] | None = None

    @field_validator("weights")
    @classmethod
    def _weights(cls, v):
        """Non-negative weights, not all zero."""
        if v is not None and (any(w < 0 for w in v.values()) or not any(w > 0 for w in v.values())):
            raise ValueError("weights must be non-negative and not all zero")
        return v


class BuildoutConfig(Strict):
    """Staged build-out plan (``evsiting plan``, :mod:`evsiting.runs.plan`).

    ``objective``: ``min_cost`` (serve ``target_share`` of each year's demand at least
    discounted cost; ``target_share`` None = all demand within the service standard of a
    candidate) or ``max_served`` (most discounted kWh/day served within the budgets).
    ``budget_cny``: CNY per year (one number for every year, or ``{year: CNY}``; None =
    unlimited); ``carry_over``: unspent budget stays available. ``discount_rate``: per year.
    ``target_share``: one share or ``{year: share}``. ``candidates_per_county`` and
    ``h3_resolution``: a smaller instance than the single-year run (None = the run's values).
    ``time_limit_s``/``mip_gap``: of the multi-period solve (the myopic warm start gets the
    same limit per year). ``coverage``: coverage rules.
    """

    years: str = Field("2024:2030", pattern=r"^\d{4}(:\d{4})?$")
    objective: Literal["min_cost", "max_served"] = "min_cost"
    target_share: float | dict[int, float] | None = None
    budget_cny: float | dict[int, float] | None = None
    carry_over: bool = False
    discount_rate: float = Field(0.0, ge=0, le=1)
    candidates_per_county: int | None = Field(5, gt=0)
    h3_resolution: int | None = Field(6, ge=4, le=9)
    time_limit_s: float | None = Field(60, gt=0)
    mip_gap: float | None = Field(None, ge=0, le=1)
    warm_start: bool = True
    coverage: list[CoverageRuleConfig] = []
    #: ``plan --robust``: the shared early years and the criterion
    robust: RobustConfig = RobustConfig()


class CorridorsConfig(Strict):
    """Intercity corridors (``evsiting corridors``, issue #7): gravity OD flows between seats,
    shortest paths on the OSM expressway network (``data.motorways``) and the flow-refuelling
    location model.

    ``level``: ``prefecture`` (9 seats, 36 pairs) or ``county`` (88 seats, 3,828 pairs).
    ``p``: corridor stations to open. ``range_km``/``beta``: override the parameters
    ``corridor_range_km`` and ``corridor_gravity_beta``. ``seat_candidates``: the seats
    themselves may host a station. ``seat_links``: expressway access points each seat is
    linked to by a local road (3 is a choice: enough to reach the main line from a city
    between two interchanges).
    """

    level: Literal["prefecture", "county"] = "prefecture"
    p: int = Field(10, ge=0)
    range_km: float | None = Field(None, gt=0, le=2000)
    beta: float | None = Field(None, ge=0, le=10)
    seat_candidates: bool = True
    seat_links: int = Field(3, ge=1, le=20)
    #: Service areas (e.g. OSM ``highway=services``) as extra candidate sites, snapped to the
    #: expressway within the parameter ``corridor_services_snap_m``.
    services_file: PointFile | None = None


class RunConfig(Strict):
    """A whole run. ``prefectures``: ``all`` or a list of names/adcodes (English, pinyin,
    Chinese or adcode)."""

    name: str
    year: int = Field(2026, ge=2020, le=2040)
    prefectures: Literal["all"] | list[str | int] = "all"
    data: DataFiles = DataFiles()
    demand: DemandConfig = DemandConfig()
    fleet: FleetConfig = FleetConfig()
    candidates: CandidatesConfig = CandidatesConfig()
    impedance: ImpedanceConfig = ImpedanceConfig()
    network: NetworkConfig | None = None
    model: ModelConfig
    solver: SolverConfig = SolverConfig()
    buildout: BuildoutConfig = BuildoutConfig()
    corridors: CorridorsConfig = CorridorsConfig()
    output_dir: str = "outputs"
    parameters: dict[str, float] = {}

    # Folder of the config file, for relative paths (not a config key).
    base_dir: Path | None = Field(None, exclude=True)
    # The config file itself, as named in errors (not a config key).
    source: str = Field("config", exclude=True)

    @field_validator("name")
    @classmethod
    def _one_folder_name(cls, v: str) -> str:
        """The run's folder inside the output folder: one plain name, never a path that climbs
        out of it (``..``, ``a/b``) or a hidden folder (``.x``)."""
        if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", v or ""):
            raise ValueError("a run name is one folder name inside the output folder: letters, digits, '_', '-' and '.', "
                             "not starting with '.', no '/'")
        return v

    @field_validator("prefectures")
    @classmethod
    def _non_empty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("list of prefectures is empty")
        return v

    def path(self, value: str) -> Path:
        """Resolve a path from this config (``data:``/``shared:`` prefixes, else relative to
        the config file)."""
        return resolve_path(value, self.base_dir)


#: Top-level sections whose keys depend on their ``type``: an extending config's block merges
#: over the inherited one when it has the same type (``mclp`` when left out), and replaces it
#: whole when the types differ (:func:`_merge_typed`).
TYPED_SECTIONS = ("model",)
#: Pairs of keys of which a model block gives at most one: a block that sets one drops the
#: other from the block it extends (one standard instead of the zones, ``p`` instead of
#: ``nevs_per_station``, and back).
EXCLUSIVE_KEYS = (("zone_standards", "service_standard_min"), ("p", "nevs_per_station"))


def _merge_typed(base: dict, over: dict) -> dict:
    """An extending ``model:`` block over the inherited one: replaced whole when its ``type``
    differs (``mclp`` when left out, as :func:`_model_tag`), else merged key by key, a key of
    :data:`EXCLUSIVE_KEYS` dropping its inherited partner. So ``model: {type: capacitated,
    power_limit: false}`` on top of ``configs/guizhou.yaml`` keeps its zone standards, and
    ``model: {type: pmedian, p: 20}`` starts a p-median block of its own."""
    if _model_tag(over) != _model_tag(base):
        return over
    out = dict(base)
    for a, b in EXCLUSIVE_KEYS:
        if a in over:
            out.pop(b, None)
        if b in over:
            out.pop(a, None)
    return _deep_merge(out, over)


def _deep_merge(base: dict, over: dict, typed: tuple[str, ...] = ()) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge_typed(out[k], v) if k in typed else _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = (), key: str | None = None, parent: Path | None = None) -> dict[str, Any]:
    """Read one config file (UTF-8 YAML or JSON, checked by :func:`evsiting.config.checks.parse_config_text`)
    and the files it ``extends``, merged.

    Raises:
        InputError: a missing file or a folder (an ``extends`` target is named by its key in
            the extending file), an ``extends`` loop, or what ``parse_config_text`` refuses.
    """
    from evsiting.core.filecheck import check_file_kind, parse_config_text

    if path in seen:
        raise InputError(f"'{path}' extends itself (through {' -> '.join(p.name for p in seen)}); remove the loop",
                         source=parent, field="extends")
    if parent is None:
        check_file_kind(path, what="a config file (YAML)", missing="config file not found")
    else:
        check_file_kind(path, what="a config file (YAML)", source=parent, field=key)
    raw = parse_config_text(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"a config must be a mapping of keys to values, got a {type(raw).__name__}", source=path)
    base_name = raw.pop("extends", None)
    if base_name is not None:
        if not isinstance(base_name, str) or not base_name.strip():
            raise InputError(f"must be the path of another config file, got {base_name!r}", source=path, field="extends")
        base_path = (path.parent / base_name).resolve()
        base = _read_yaml(base_path, seen + (path,), key="extends", parent=path)
        out = base.get("output_dir")
        if "output_dir" not in raw and isinstance(out, str) and out and ":" not in out and not Path(out).is_absolute():
            # an inherited output_dir stays where the file that set it meant it (relative to that
            # file), expressed relative to this one
            raw["output_dir"] = os.path.relpath(base_path.parent / out, path.parent.resolve())
        raw = _deep_merge(base, raw, TYPED_SECTIONS)
    return raw


def _did_you_mean(loc: tuple, model: type[BaseModel] = None) -> str:
    """`` (did you mean 'x'?)`` for an unknown key at ``loc`` when a valid key is close."""
    import difflib

    import typing

    def sub_model(ann):
        """The config model inside an annotation (``X``, ``X | None``, ``list[X]``), or None."""
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return ann
        for arg in typing.get_args(ann):
            found = sub_model(arg)
            if found is not None:
                return found
        return None

    model = model or RunConfig
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of a list: the list's model already taken
            continue
        field = model.model_fields.get(str(part))
        found = sub_model(getattr(field, "annotation", None))
        if found is None:
            return ""
        model = found
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _model_error(err: dict, raw: dict[str, Any]) -> tuple[tuple, str | None]:
    """An error inside the ``model`` block: its location without pydantic's union tag, and a
    message for an unknown ``model.type`` (None: keep pydantic's)."""
    loc = tuple(err["loc"])
    if err["type"] == "unknown_model_type":
        got = _model_tag((raw or {}).get("model") or {})
        close = __import__("difflib").get_close_matches(str(got), list(MODEL_CONFIGS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return ("model", "type"), f"unknown model type {got!r}{hint}; expected one of {', '.join(MODEL_CONFIGS)}"
    if len(loc) > 1 and loc[1] in MODEL_CONFIGS:
        loc = loc[:1] + loc[2:]
    return loc, None


def config_from_dict(raw: dict[str, Any], source: str = "config", base_dir: Path | None = None) -> RunConfig:
    """Validate a config mapping.

    Raises:
        InputError: naming the first invalid field (dotted path) and what is wrong with it.
    """
    pars = raw.get("parameters") if isinstance(raw, dict) else None
    for k, x in (pars.items() if isinstance(pars, dict) else ()):
        if isinstance(x, bool):  # pydantic would take true as 1.0
            raise InputError(f"expected a number, got the boolean {str(x).lower()}", source=source, field=f"parameters.{k}")
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        errs = exc.errors()
        # An unknown key first: a typo ("modle") also makes the real key look missing.
        err = next((e for e in errs if e["type"] == "extra_forbidden"), errs[0])
        loc, msg = tuple(err["loc"]), None
        if loc[:1] == ("model",):
            loc, msg = _model_error(err, raw if isinstance(raw, dict) else {})
        field = ".".join(str(p) for p in loc) or None
        if msg is not None:
            pass
        elif err["type"] == "extra_forbidden":
            in_model = loc[:1] == ("model",) and len(loc) == 2
            block = MODEL_CONFIGS[_model_tag(raw.get("model") or {})] if in_model else None
            msg = "unknown key" + (_did_you_mean(loc[1:], block) if block else _did_you_mean(loc))
        else:
            msg = err["msg"].removeprefix("Value error, ")
            inp = err.get("input")
            if "input" in err and (inp is None or isinstance(inp, (int, float, str))) and not isinstance(inp, bool):
                msg = f"{msg} (got {inp!r})"
            if isinstance(inp, str) and inp.strip().lower() in ("yes", "no", "on", "off", "y", "n"):
                msg += "; yes/no/on/off are text in a config (YAML 1.2): write a number, or true/false"
        raise InputError(msg, source=source, field=field) from None
    cfg.base_dir = base_dir
    cfg.source = source
    return cfg


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config (following ``extends``).

    Raises:
        InputError: missing or malformed file, unknown key, invalid value (the message names
            the file and the dotted field).
    """
    path = Path(path).absolute()
    path = path.resolve() if path.exists() else path
    return config_from_dict(_read_yaml(path), source=str(path), base_dir=path.parent)
