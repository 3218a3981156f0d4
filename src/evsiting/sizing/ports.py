"""Charger sizing: from daily public charging energy to DC-fast and AC level-2 ports.

ports = ceil(energy_kwh_day x share / (charger power kW x utilisation hours per day)).
Power, utilisation hours and the DC share are parameters (``data/parameters.csv``).

Calibration (issue #13; figures and publishers in the ``source`` column of each row, see also
``../shared/reference/charging_statistics.md``):

* ``dc_utilisation_hours`` = ``ac_utilisation_hours`` = 1.33 h/day: the full-power-equivalent
  hours of China's public network in Dec 2025 (EVCIPA: 9.07 bn kWh in the month; NEA/EVCIPA:
  220 GW of public ports at the end of 2025), i.e. about 62 kWh per public port per day. No
  separate DC and AC figure is published.
* ``dc_charger_power_kw`` = 93 kW, ``ac_charger_power_kw`` = 7 kW: the national 46.5 kW mean
  public port (NEA, end 2025) split at 45.8 % DC ports (EVCIPA, Mar 2025).
* ``dc_energy_share`` (private) 0.90, taxi 0.95, logistics 0.90: the 2026 mix then draws 0.92 of
  its public energy from DC, DC's share of the national public rated power.

Port capacity is therefore 93 x 1.33 = 124 kWh/day per DC port and 7 x 1.33 = 9.3 kWh/day
per AC port. For Guizhou's 2026 base demand (700,000 NEVs, 4.60 GWh/day public, 92 % DC) the
rule gives about 9.6 NEVs and 63 kWh/day per public port, 47 % DC ports and 48 kW per port,
against 9.3 NEVs, 62 kWh/day, 45.8 % and 46.5 kW in China (end 2025).

Peak-hour check of DC sites (issue #4, :func:`dc_peak_ports`): the day's DC sessions
(DC energy / ``dc_session_kwh``) x ``dc_peak_hour_share`` arrive in the busiest hour, each
occupies a port for ``dc_session_kwh / dc_session_power_kw`` hours; the site gets the smallest
port count whose Erlang-C mean wait is at most ``dc_max_mean_wait_min`` (default 10 min).
``size_stations(..., peak_check=True)`` takes the larger of the energy and the peak-hour count.
Bus depots are their own facility class (:func:`size_depots`).
"""

from __future__ import annotations

import numpy as np

from evsiting.config.params import Parameters
from evsiting.sizing.queueing import erlang_c, mean_wait, min_servers_array


def ports_for_energy(energy_kwh_day, power_kw: float, utilisation_h: float) -> np.ndarray:
    """Smallest number of ports that deliver ``energy_kwh_day`` at ``power_kw`` for
    ``utilisation_h`` full-power-equivalent hours a day.

    Args:
        energy_kwh_day: array (n,) of daily energy, kWh/day, >= 0.
        power_kw: port power, kW (> 0).
        utilisation_h: full-power-equivalent hours per port per day (> 0).

    Returns:
        int64 array (n,): 0 where the energy is 0, else ceil(E / (P x h)).

    Raises:
        ValueError: negative energy or non-positive power/hours.
    """
    e = np.asarray(energy_kwh_day, dtype=float)
    if power_kw <= 0 or utilisation_h <= 0:
        raise ValueError("power_kw and utilisation_h must be positive")
    if np.any(e < 0):
        raise ValueError("energy must be non-negative")
    per_port = power_kw * utilisation_h
    # A relative tolerance keeps 960.0000000001 / 480 from becoming 3 ports.
    return np.ceil(e / per_port - 1e-9).astype(np.int64).clip(min=0)


def size_stations(energy_kwh_day, params: Parameters, *, dc_energy_kwh_day=None,
                  peak_check: bool = False) -> dict[str, np.ndarray]:
    """DC and AC ports per station for the public energy each station serves.

    Args:
        energy_kwh_day: array (n_stations,) of public charging energy served, kWh/day.
        params: parameters ``dc_energy_share``, ``dc_charger_power_kw``,
            ``dc_utilisation_hours``, ``ac_charger_power_kw``, ``ac_utilisation_hours``
            (and those of :func:`dc_peak_ports` when ``peak_check``).
        dc_energy_kwh_day: optional array (n_stations,) of the DC part of the energy, kWh/day
            (e.g. summed per segment by :mod:`evsiting.demand.segments`); the AC part is the
            rest. Default: ``energy x dc_energy_share``.
        peak_check: also size DC ports for the peak hour (Erlang-C, mean wait at most
            ``dc_max_mean_wait_min``) and keep the larger count.

    Returns:
        dict of arrays (n_stations,): ``ports_dc``, ``ports_ac`` (int), ``power_kw``
        (installed kW = ports x rated power). With ``peak_check`` also ``ports_dc_energy``,
        ``ports_dc_peak`` (int), ``dc_peak_arrivals_per_h``, ``dc_peak_p_wait`` and
        ``dc_peak_wait_min`` (at the final ``ports_dc``; 0 where there is no DC demand).

    Raises:
        ValueError: negative energy, DC energy above the total, non-positive power or hours.
    """
    e = np.asarray(energy_kwh_day, dtype=float)
    if dc_energy_kwh_day is None:
        e_dc = e * params.value("dc_energy_share")
    else:
        e_dc = np.asarray(dc_energy_kwh_day, dtype=float)
        if e_dc.shape != e.shape or np.any(e_dc < 0) or np.any(e_dc > e * (1 + 1e-12) + 1e-9):
            raise ValueError("dc_energy_kwh_day must have the shape of energy_kwh_day and lie in [0, energy]")
    e_ac = np.clip(e - e_dc, 0.0, None)
    p_dc, p_ac = params.value("dc_charger_power_kw"), params.value("ac_charger_power_kw")
    dc = ports_for_energy(e_dc, p_dc, params.value("dc_utilisation_hours"))
    ac = ports_for_energy(e_ac, p_ac, params.value("ac_utilisation_hours"))
    if not peak_check:
        return {"ports_dc": dc, "ports_ac": ac, "power_kw": dc * p_dc + ac * p_ac}
    peak = dc_peak_ports(e_dc, params)
    ports = np.maximum(dc, peak["ports"])
    check = dc_peak_performance(ports, peak["arrivals_per_h"], peak["service_min"])
    return {
        "ports_dc": ports,
        "ports_ac": ac,
        "power_kw": ports * p_dc + ac * p_ac,
        "ports_dc_energy": dc,
        "ports_dc_peak": peak["ports"],
        "dc_peak_arrivals_per_h": peak["arrivals_per_h"],
        "dc_peak_p_wait": check["p_wait"],
        "dc_peak_wait_min": check["wait_min"],
    }


def dc_service_minutes(params: Parameters) -> float:
    """Mean time a vehicle occupies a DC port, minutes = ``dc_session_kwh`` /
    ``dc_session_power_kw`` x 60 (30 min with the defaults).

    Raises:
        ValueError: non-positive session energy or power.
    """
    kwh, kw = params.value("dc_session_kwh"), params.value("dc_session_power_kw")
    if kwh <= 0 or kw <= 0:
        raise ValueError("dc_session_kwh and dc_session_power_kw must be positive")
    return kwh / kw * 60.0


def dc_peak_ports(dc_energy_kwh_day, params: Parameters, max_wait_min: float | None = None) -> dict[str, np.ndarray | float]:
    """Smallest DC port count per site that keeps the peak-hour mean wait within the limit.

    Args:
        dc_energy_kwh_day: array (n,) of DC energy per site, kWh/day (>= 0).
        params: ``dc_session_kwh`` (kWh/session), ``dc_session_power_kw`` (kW),
            ``dc_peak_hour_share`` (fraction of daily sessions in the busiest hour),
            ``dc_max_mean_wait_min`` (minutes).
        max_wait_min: overrides ``dc_max_mean_wait_min``.

    Returns:
        dict: ``ports`` (int64 array (n,), Erlang-C smallest count; 0 without demand),
        ``arrivals_per_h`` (array (n,), vehicles/hour at the peak), ``service_min`` (float).

    Raises:
        ValueError: negative energy; non-positive session energy, power or wait limit; a peak
            share outside (0, 1].
    """
    e = np.asarray(dc_energy_kwh_day, dtype=float)
    if np.any(e < 0):
        raise ValueError("energy must be non-negative")
    share = params.value("dc_peak_hour_share")
    if not 0 < share <= 1:
        raise ValueError("dc_peak_hour_share must be in (0, 1]")
    limit = params.value("dc_max_mean_wait_min") if max_wait_min is None else float(max_wait_min)
    service = dc_service_minutes(params)
    arrivals = e / params.value("dc_session_kwh") * share
    return {"ports": min_servers_array(arrivals, service, limit), "arrivals_per_h": arrivals, "service_min": service}


def dc_peak_performance(ports, arrivals_per_h, service_min: float) -> dict[str, np.ndarray]:
    """Peak-hour probability of waiting and mean wait (minutes) of sites with ``ports`` DC
    ports (int array (n,)) and ``arrivals_per_h`` (array (n,), vehicles/hour).

    Returns:
        dict of arrays (n,): ``p_wait`` (0 without arrivals, 1 when overloaded), ``wait_min``
        (minutes; inf when overloaded or arrivals without ports).
    """
    c = np.asarray(ports, dtype=np.int64)
    lam = np.asarray(arrivals_per_h, dtype=float)
    p = np.zeros(c.shape)
    w = np.zeros(c.shape)
    for i in np.ndindex(c.shape):
        if lam[i] <= 0:
            continue
        if c[i] < 1:
            p[i], w[i] = 1.0, np.inf
            continue
        p[i] = erlang_c(int(c[i]), lam[i] * service_min / 60.0)
        w[i] = mean_wait(int(c[i]), lam[i], service_min)
    return {"p_wait": p, "wait_min": w}


def size_depots(depot_kwh_day, params: Parameters) -> dict[str, np.ndarray]:
    """Bus-depot chargers (a facility class of its own): ports = ceil(energy /
    (``bus_depot_charger_power_kw`` x ``bus_depot_utilisation_hours``)).

    Args:
        depot_kwh_day: array (n_depots,) of bus charging energy, kWh/day.

    Returns:
        dict of arrays (n_depots,): ``ports_depot`` (int), ``power_kw``.
    """
    kw = params.value("bus_depot_charger_power_kw")
    ports = ports_for_energy(depot_kwh_day, kw, params.value("bus_depot_utilisation_hours"))
    return {"ports_depot": ports, "power_kw": ports * kw}
