"""Province NEV fleet projection by year, scenario and segment (issue #4).

Model (all figures are parameters in ``data/parameters.csv``; years in :class:`FleetConfig`):

* NEV share of new-vehicle sales in year y follows a logistic curve
  ``s(y) = s_max * expit(r * (y - T) + L)`` with ``L = logit(s_T / s_max)``, so that
  ``s(T) = s_T`` exactly (``fleet_nev_sales_share_target`` = 40 % in T = 2026).
* NEV sales ``S(y) = s(y) * M * (1 + g) ** (y - y0)`` (``fleet_new_vehicle_sales``,
  ``fleet_new_vehicle_sales_growth``), stock at the end of year y
  ``N(y) = N(y - 1) * (1 - q) + S(y)`` (``fleet_nev_retirement_rate``), ``N(y0)`` =
  ``fleet_nev_stock_base`` (165,000 at the end of 2022).
* The steepness ``r`` is the one free parameter: it is solved (Brent) so that
  ``N(T) = fleet_nev_stock_target`` (700,000 in 2026). ``N(T)`` falls strictly as ``r`` rises
  (a steeper curve through the same ``s(T)`` sells fewer NEVs before T), so the root is unique
  when it exists; otherwise :class:`InputError` says which anchor cannot be met.

Segments: urban buses follow the replacement schedule (:func:`bus_nev_stock`); the rest of the
stock is split into taxis/ride-hailing, light logistics and private cars by share parameters.
Counts per segment are integers that add up exactly to the (rounded) province total.

Scenarios ``low``/``base``/``high`` take the ``low``/``value``/``high`` column of the parameters
named in ``FleetConfig.scenario_parameters`` (:func:`scenario_parameters`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

from evsiting.config.schema import FleetConfig
from evsiting.core.errors import InputError
from evsiting.config.params import Parameter, Parameters, load_parameters
from evsiting.core.settings import shared_dir
from .apportion import largest_remainder

SCENARIOS = ("low", "base", "high")

#: Segments, in output order. ``bus`` = urban buses (charged at depots).
SEGMENTS = ("private", "taxi", "logistics", "bus")

#: Prefecture adcode of Guiyang, where 100 % of new urban buses are NEVs from 2024.
GUIYANG_ADCODE = 520100

# Bracket for the logistic steepness r (1/year). 1e-6: practically a flat share curve;
# 20: the share jumps from ~0 to s_T within a year.
_R_MIN, _R_MAX = 1e-6, 20.0


def scenario_parameters(params: Parameters, scenario: str, fleet: FleetConfig | None = None) -> Parameters:
    """Parameters of a scenario: ``base`` keeps the values; ``low``/``high`` replace the value
    of each parameter in ``fleet.scenario_parameters`` by its ``low``/``high`` column (when
    that column is empty the value stays).

    Raises:
        InputError: unknown scenario or parameter name.
    """
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario '{scenario}', expected one of {', '.join(SCENARIOS)}", field="scenario")
    fleet = fleet or FleetConfig()
    if scenario == "base":
        return params
    table = {name: params[name] for name in params}
    for name in fleet.scenario_parameters:
        p = params[name]
        v = p.low if scenario == "low" else p.high
        if v is not None:
            table[name] = Parameter(name, v, p.unit, p.low, p.high, f"scenario {scenario} ({p.source})")
    return Parameters(table, params.path, params.overridden)


@dataclass(frozen=True)
class FleetFit:
    """The fitted province projection of one scenario.

    Attributes:
        scenario: ``low``, ``base`` or ``high``.
        r: logistic steepness of the NEV sales share, 1/year.
        years: int array (n,) of calendar years, base year first.
        nev_share: array (n,), NEV share of new-vehicle sales in each year (base year included,
            from the same curve, for information).
        nev_sales: array (n,), NEV sales in each year, vehicles/year (0 in the base year: the
            base stock is given).
        nev_stock: array (n,), NEV stock at the end of each year, vehicles (float).
    """

    scenario: str
    r: float
    years: np.ndarray
    nev_share: np.ndarray
    nev_sales: np.ndarray
    nev_stock: np.ndarray
    anchors: dict = field(default_factory=dict)

    def stock(self, year: int) -> float:
        """NEV stock at the end of ``year``, vehicles.

        Raises:
            InputError: year outside the projected range.
        """
        idx = np.nonzero(self.years == int(year))[0]
        if idx.size == 0:
            raise InputError(f"year {year} outside the projection {self.years[0]}-{self.years[-1]}", field="year")
        return float(self.nev_stock[idx[0]])


def _simulate(r: float, years: np.ndarray, *, y0: int, T: int, n0: float, s_T: float, s_max: float,
              market: float, growth: float, retire: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NEV sales share, sales and stock (vehicles) in ``years`` of the logistic share curve
    with rate ``r`` through ``s_T`` in year ``T`` (ceiling ``s_max``), from ``n0`` NEVs in
    ``y0``, a market of ``market`` new vehicles a year growing by ``growth`` and a retirement
    rate ``retire``."""
    share = s_max * expit(r * (years - T) + logit(s_T / s_max))
    sales = share * market * (1.0 + growth) ** (years - y0)
    sales[0] = 0.0
    stock = np.empty(len(years))
    stock[0] = n0
    for i in range(1, len(years)):
        stock[i] = stock[i - 1] * (1.0 - retire) + sales[i]
    return share, sales, stock


def fit_fleet(params: Parameters, fleet: FleetConfig | None = None, scenario: str = "base",
              last_year: int | None = None) -> FleetFit:
    """Fit the logistic NEV-share curve of one scenario through the anchors and project.

    Args:
        params: the parameter table (base values; the scenario is applied here).
        fleet: anchor years (default :class:`FleetConfig`: 2022 base, 2026 target, to 2030).
        scenario: ``low``, ``base`` or ``high``.
        last_year: last projected year (default ``fleet.last_year``; at least the target year).

    Returns:
        :class:`FleetFit` for years ``base_year..last_year``.

    Raises:
        InputError: unknown scenario; parameters out of range (share target not in (0, s_max),
            non-positive market); the target stock cannot be reached by any share curve
            through the share target (the message gives the reachable range).
    """
    fleet = fleet or FleetConfig()
    p = scenario_parameters(params, scenario, fleet)
    y0, T = fleet.base_year, fleet.target_year
    last = max(int(last_year if last_year is not None else fleet.last_year), T)
    years = np.arange(y0, last + 1)
    n0 = p.value("fleet_nev_stock_base")
    n_T = p.value("fleet_nev_stock_target")
    s_T = p.value("fleet_nev_sales_share_target")
    s_max = p.value("fleet_nev_sales_share_max")
    market = p.value("fleet_new_vehicle_sales")
    growth = p.value("fleet_new_vehicle_sales_growth")
    retire = p.value("fleet_nev_retirement_rate")
    if not 0 < s_max <= 1:
        raise InputError(f"must be in (0, 1], got {s_max:g}", **params.blame("fleet_nev_sales_share_max"))
    if not 0 < s_T < s_max:
        raise InputError(f"must be in (0, fleet_nev_sales_share_max={s_max:g}), got {s_T:g}",
                         **params.blame("fleet_nev_sales_share_target", "fleet_nev_sales_share_max"))
    if market <= 0 or n0 < 0 or not 0 <= retire < 1 or growth <= -1:
        raise InputError("fleet_new_vehicle_sales > 0, fleet_nev_stock_base >= 0, 0 <= retirement < 1 and "
                         "growth > -1 are required",
                         **params.blame("fleet_new_vehicle_sales", "fleet_nev_stock_base", "fleet_nev_retirement_rate",
                                        "fleet_new_vehicle_sales_growth"))
    args = {"y0": y0, "T": T, "n0": n0, "s_T": s_T, "s_max": s_max, "market": market, "growth": growth, "retire": retire}
    iT = T - y0

    def gap(r: float) -> float:
        return _simulate(r, years, **args)[2][iT] - n_T

    hi, lo = gap(_R_MIN) + n_T, gap(_R_MAX) + n_T
    if not lo <= n_T <= hi:
        raise InputError(
            f"scenario {scenario}: a stock of {n_T:,.0f} NEVs in {T} cannot be reached from {n0:,.0f} in {y0} "
            f"with {market:,.0f} new vehicles a year and an NEV sales share of {s_T:.0%} in {T}: "
            f"reachable {lo:,.0f}-{hi:,.0f}. Check fleet_new_vehicle_sales and the anchors",
            **params.blame("fleet_nev_stock_target", "fleet_new_vehicle_sales", "fleet_nev_stock_base",
                           "fleet_nev_sales_share_target"))
    r = brentq(gap, _R_MIN, _R_MAX, xtol=1e-12, rtol=1e-12) if lo < n_T < hi else (_R_MIN if n_T == hi else _R_MAX)
    share, sales, stock = _simulate(r, years, **args)
    anchors = {"base_year": y0, "target_year": T, "stock_base": n0, "stock_target": n_T, "share_target": s_T,
               "share_max": s_max, "new_vehicle_sales": market}
    return FleetFit(scenario, float(r), years, share, sales, stock, anchors)


def bus_nev_stock(years: Sequence[int], params: Parameters, fleet: FleetConfig | None = None,
                  bus_fleet: float | None = None, guiyang: bool = False) -> np.ndarray:
    """NEV urban buses at the end of each year under the replacement schedule.

    Each year ``1 / bus_replacement_years`` of the bus fleet is replaced, drawn from the stock
    in its current NEV/diesel mix; the replacements are NEVs with share
    ``bus_nev_share_new_before_policy`` before ``fleet.bus_policy_year`` and
    ``bus_nev_share_new`` (Guiyang: ``bus_nev_share_new_guiyang``) from then on. The fleet
    grows by ``bus_fleet_growth`` a year (growth buses are new, same NEV share). The NEV share
    at the end of the base year is ``bus_nev_share_base``.

    Args:
        years: increasing calendar years, the first >= ``fleet.base_year``.
        params: parameter table.
        fleet: years (default :class:`FleetConfig`).
        bus_fleet: urban buses in the area in the base year, vehicles (default
            ``bus_fleet_province``).
        guiyang: apply Guiyang's 100 % rule.

    Returns:
        float array (len(years),): NEV buses, vehicles.

    Raises:
        InputError: a year before the base year; a bus share outside [0, 1].
    """
    fleet = fleet or FleetConfig()
    years = np.asarray(list(years), dtype=int)
    if years.size and years.min() < fleet.base_year:
        raise InputError(f"bus projection starts in {fleet.base_year}", field="year")
    size = params.value("bus_fleet_province") if bus_fleet is None else float(bus_fleet)
    life = params.value("bus_replacement_years")
    growth = params.value("bus_fleet_growth")
    share = params.value("bus_nev_share_base")
    before = params.value("bus_nev_share_new_before_policy")
    after = params.value("bus_nev_share_new_guiyang" if guiyang else "bus_nev_share_new")
    for name, v in (("bus_nev_share_base", share), ("bus_nev_share_new_before_policy", before), ("bus_nev_share_new", after)):
        if not 0 <= v <= 1:
            raise InputError(f"must be in [0, 1], got {v:g}", **params.blame(name))
    if life <= 0:
        raise InputError(f"must be positive, got {life:g}", **params.blame("bus_replacement_years"))
    last = int(years.max()) if years.size else fleet.base_year
    out: dict[int, float] = {fleet.base_year: share * size}
    for y in range(fleet.base_year + 1, last + 1):
        new_share = after if y >= fleet.bus_policy_year else before
        replaced = min(1.0, 1.0 / life)
        grown = size * (1.0 + growth)
        added = max(grown - size, 0.0)
        # Retired buses leave in the current mix; replacements and additions enter new.
        nev = share * size * (1.0 - replaced) + new_share * (size * replaced + added)
        size = grown
        share = min(1.0, nev / size) if size > 0 else 0.0
        out[y] = share * size
    return np.array([out[int(y)] for y in years])


def split_segments(total: int, buses: float, params: Parameters) -> dict[str, int]:
    """Integer NEVs per segment that add up to ``total``.

    Buses = ``round(buses)`` (at most ``total``); the rest splits into taxi
    (``seg_taxi_share``), logistics (``seg_logistics_share``) and private (the remainder) by
    largest remainder.

    Raises:
        InputError: segment shares negative or adding up to more than 1.
    """
    b = int(min(round(buses), total))
    taxi, logi = params.value("seg_taxi_share"), params.value("seg_logistics_share")
    if taxi < 0 or logi < 0 or taxi + logi > 1:
        raise InputError("seg_taxi_share and seg_logistics_share must be >= 0 and add up to <= 1",
                         **params.blame("seg_taxi_share", "seg_logistics_share"))
    priv, tx, lg = largest_remainder(total - b, [1.0 - taxi - logi, taxi, logi])
    return {"private": int(priv), "taxi": int(tx), "logistics": int(lg), "bus": b}


#: Census table used to split the bus fleet over prefectures (real data, shared folder).
URBANISATION_FILE = "guizhou_urbanisation_census2020.csv"


def read_urbanisation(path=None) -> pd.DataFrame:
    """The census urbanisation table (default ``shared_dir() / URBANISATION_FILE``).

    Raises:
        InputError: file missing or unreadable.
    """
    path = shared_dir() / URBANISATION_FILE if path is None else path
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise InputError("census urbanisation table not found (needed to split buses over prefectures)",
                         source=path) from None
    except Exception as exc:  # pandas parser errors
        raise InputError(f"cannot read CSV: {exc}", source=path) from None


def project_fleet(scenario: str = "base", years: Iterable[int] | None = None, params: Parameters | None = None,
                  fleet: FleetConfig | None = None, urbanisation: pd.DataFrame | None = None) -> pd.DataFrame:
    """Province NEV stock by year and segment for one scenario.

    The ``bus`` segment is the sum of :func:`bus_fleet_by_prefecture` (Guiyang's 100 % rule
    included), so prefecture bus counts add up to it exactly.

    Args:
        scenario: ``low``, ``base`` or ``high``.
        years: calendar years (default ``fleet.base_year..fleet.last_year``, i.e. 2022-2030);
            each in ``[fleet.base_year, 2050]``.
        params: parameter table (default ``data/parameters.csv``).
        fleet: anchor years (default :class:`FleetConfig`).
        urbanisation: census urbanisation table (default :func:`read_urbanisation`).

    Returns:
        DataFrame, one row per (year, segment) plus a ``total`` row per year, columns
        ``year`` (int), ``scenario`` (str), ``segment`` (``private``, ``taxi``, ``logistics``,
        ``bus``, ``total``), ``nev_stock`` (int, vehicles at the end of the year),
        ``nev_sales_share`` (fraction of new-vehicle sales from the fitted curve, same for every
        segment row of a year), ``nev_sales`` (Int64 NEV sales, vehicles/year: the province's
        on the ``total`` row, each segment's share on its row (:func:`segment_sales`); NA in the
        base year, whose stock is given). Segments add up exactly to the total of their year,
        in stock and in sales.

    Raises:
        InputError: unknown scenario, a year out of range, anchors that cannot be met, census
            table missing.
    """
    params = params if params is not None else load_parameters()
    fleet = fleet or FleetConfig()
    ys = sorted({int(y) for y in years}) if years is not None else list(range(fleet.base_year, fleet.last_year + 1))
    if not ys:
        raise InputError("no years to project", field="year")
    if ys[0] < fleet.base_year or ys[-1] > 2050:
        got = str(ys[0]) if ys[0] == ys[-1] else f"{ys[0]}-{ys[-1]}"
        raise InputError(f"years must lie in {fleet.base_year}-2050, got {got}", field="year")
    fit = fit_fleet(params, fleet, scenario, last_year=max(ys[-1], fleet.last_year))
    p = scenario_parameters(params, scenario, fleet)
    urb = read_urbanisation() if urbanisation is None else urbanisation
    retire = p.value("fleet_nev_retirement_rate")
    split: dict[int, dict[str, int]] = {}

    def segments_of(y: int) -> dict[str, int]:
        if y not in split:
            i = int(np.nonzero(fit.years == y)[0][0])
            b = int(bus_fleet_by_prefecture(urb, p, y, fleet)["nev_buses"].sum())
            split[y] = split_segments(int(round(fit.nev_stock[i])), b, p)
        return split[y]

    rows = []
    for y in ys:
        i = int(np.nonzero(fit.years == y)[0][0])
        seg = segments_of(y)
        total = sum(seg.values())
        if y == fleet.base_year:  # the base stock is given, its sales are not modelled
            sales = {name: None for name in (*SEGMENTS, "total")}
        else:
            sales = segment_sales(seg, segments_of(y - 1), int(round(fit.nev_sales[i])), retire)
        for name in SEGMENTS:
            rows.append((y, scenario, name, seg[name], fit.nev_share[i], sales[name]))
        rows.append((y, scenario, "total", total, fit.nev_share[i], sales["total"]))
    df = pd.DataFrame(rows, columns=["year", "scenario", "segment", "nev_stock", "nev_sales_share", "nev_sales"])
    df["nev_sales"] = pd.array(df["nev_sales"].tolist(), dtype="Int64")
    return df.astype({"year": "int64", "nev_stock": "int64"})


def segment_sales(stock: dict[str, int], stock_before: dict[str, int], total_sales: int, retirement_rate: float) -> dict[str, int]:
    """NEV sales of a year split over the segments, adding up exactly to ``total_sales``.

    Each segment's share is the NEVs it gained: its stock at the end of the year minus what
    is left of its stock a year before after retirement, ``N_s(y) - (1 - q) * N_s(y - 1)``
    (q = ``fleet_nev_retirement_rate``; a negative gain counts as none). Over all segments
    these gains are the province's modelled sales up to rounding, so the split follows the
    projection; the integers come from the largest remainder.

    Args:
        stock, stock_before: vehicles per segment (:data:`SEGMENTS`) at the end of the year
            and of the year before.
        total_sales: province NEV sales of the year (vehicles, >= 0).
        retirement_rate: share of the NEV stock retired a year, 0..1.

    Returns:
        dict segment -> NEV sales (vehicles/year), plus ``total`` = ``total_sales``.

    Raises:
        ValueError: negative ``total_sales``.
    """
    gains = np.array([max(stock[s] - (1.0 - retirement_rate) * stock_before[s], 0.0) for s in SEGMENTS])
    if not gains.sum():
        gains = np.array([float(stock[s]) for s in SEGMENTS])  # no segment grew: split by the stock
    parts = largest_remainder(int(total_sales), gains) if gains.sum() else np.zeros(len(SEGMENTS), dtype=np.int64)
    return {**{s: int(v) for s, v in zip(SEGMENTS, parts)}, "total": int(total_sales)}


def province_nev_total(year: int, scenario: str = "base", params: Parameters | None = None,
                       fleet: FleetConfig | None = None) -> int:
    """Province NEV stock at the end of ``year`` in ``scenario`` (vehicles, integer), the
    ``total`` row of :func:`project_fleet`. For the province run: ``cfg.year``,
    ``cfg.demand.scenario``, ``params`` with the config overrides, ``cfg.fleet``.

    Raises:
        InputError: as :func:`project_fleet`.
    """
    df = project_fleet(scenario, [year], params, fleet)
    return int(df.loc[df["segment"] == "total", "nev_stock"].iloc[0])


def bus_fleet_by_prefecture(urbanisation: pd.DataFrame, params: Parameters, year: int,
                            fleet: FleetConfig | None = None) -> pd.DataFrame:
    """Urban buses and NEV buses per prefecture in ``year``.

    No published table of bus fleets per prefecture exists here, so ``bus_fleet_province``
    (an assumption with low/high) is split over prefectures by urban population (2020
    census), by largest remainder; Guiyang (520100) follows its 100 % rule.

    Args:
        urbanisation: the census table ``guizhou_urbanisation_census2020.csv`` (columns
            ``adcode``, ``level``, ``urban_population``); rows with ``level == "prefecture"``
            are used.
        params: parameter table (already with the scenario applied, if any).
        year: calendar year >= ``fleet.base_year``.

    Returns:
        DataFrame (9 rows) ``adcode``, ``bus_fleet`` (int, vehicles in the base year),
        ``nev_buses`` (int, vehicles at the end of ``year``).

    Raises:
        InputError: missing columns or no prefecture rows.
    """
    need = {"adcode", "level", "urban_population"}
    if not need <= set(urbanisation.columns):
        raise InputError(f"missing column(s) {sorted(need - set(urbanisation.columns))}", field="urbanisation")
    pref = urbanisation[urbanisation["level"] == "prefecture"].reset_index(drop=True)
    if pref.empty:
        raise InputError("no prefecture rows (level == 'prefecture')", field="level")
    fleets = largest_remainder(int(round(params.value("bus_fleet_province"))), pref["urban_population"].to_numpy(float))
    nev = [
        bus_nev_stock([year], params, fleet, bus_fleet=f, guiyang=int(a) == GUIYANG_ADCODE)[0]
        for a, f in zip(pref["adcode"], fleets)
    ]
    return pd.DataFrame({"adcode": pref["adcode"].astype(int), "bus_fleet": fleets,
                         "nev_buses": np.round(nev).astype(np.int64)})
