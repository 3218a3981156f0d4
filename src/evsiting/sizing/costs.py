"""Capital cost of charging stations (CNY), for the sites layer, sweeps and scenario tables.

Cost of a new station = ``site_cost`` + ``ports_dc`` x ``dc_port_cost`` + ``ports_ac`` x
``ac_port_cost`` (parameters in ``data/parameters.csv``, all assumptions with low/high ranges;
the costs of :class:`evsiting.models.CapacitatedSiting`). Land, operation and grid
reinforcement upstream of the station are not included.
"""

from __future__ import annotations

import numpy as np

from evsiting.config.params import Parameters

COST_PARAMETERS = ("site_cost", "dc_port_cost", "ac_port_cost")


def station_cost(ports_dc, ports_ac, params: Parameters) -> np.ndarray:
    """Capital cost per station, CNY.

    Args:
        ports_dc, ports_ac: arrays (n,) of DC fast / AC level-2 ports per station.
        params: uses ``site_cost`` (CNY), ``dc_port_cost`` and ``ac_port_cost`` (CNY/port).

    Returns:
        float array (n,) of CNY.

    Raises:
        InputError: a cost parameter is missing from ``params``.
        ValueError: negative port counts or shapes that differ.
    """
    dc = np.asarray(ports_dc, dtype=float)
    ac = np.asarray(ports_ac, dtype=float)
    if dc.shape != ac.shape:
        raise ValueError("ports_dc and ports_ac must have the same shape")
    if np.any(dc < 0) or np.any(ac < 0):
        raise ValueError("port counts must be non-negative")
    return params.value("site_cost") + dc * params.value("dc_port_cost") + ac * params.value("ac_port_cost")


def total_cost(ports_dc, ports_ac, params: Parameters) -> float:
    """Sum of :func:`station_cost` over stations, CNY (0.0 for no station)."""
    return float(station_cost(ports_dc, ports_ac, params).sum())


#: Parameters of the drivers' access cost (:func:`access_cny_per_kwh_min`).
ACCESS_PARAMETERS = ("value_of_time_cny_per_h", "access_legs_per_session", "dc_session_kwh", "access_horizon_years",
                     "access_discount_rate")


def access_cny_per_kwh_min(params: Parameters) -> float:
    """Drivers' access cost per kWh/day served and minute of one-way travel, CNY: the
    allocation cost of the capacitated model (``allocation_cny_per_kwh_min``).

    Formula: ``value_of_time_cny_per_h`` / 60 (CNY per minute) x ``access_legs_per_session``
    (there and back) / ``dc_session_kwh`` (sessions per kWh) x 365 (days a year) x the present
    value of one CNY a year over ``access_horizon_years`` at ``access_discount_rate``
    ((1 - (1 + r)^-T) / r; T when r = 0). With the defaults 20.6 / 60 x 2 / 30 x 365 x 6.71
    = 56 CNY: serving 100 kWh/day (about 3 sessions a day) 1 minute farther away costs 5,600
    CNY over the stations' life, against 400,000 CNY for a new station (``site_cost``).

    Returns:
        CNY per (kWh/day x minute), >= 0; 0 when the value of time is 0.

    Raises:
        InputError: a missing parameter; ValueError: a negative value, a session of 0 kWh.
    """
    vot, legs, kwh, years, rate = (float(params.value(n)) for n in ACCESS_PARAMETERS)
    if min(vot, legs, years, rate) < 0 or kwh <= 0:
        raise ValueError("access cost parameters must be non-negative and dc_session_kwh positive")
    pv = years if rate == 0 else (1.0 - (1.0 + rate) ** -years) / rate
    return vot / 60.0 * legs / kwh * 365.0 * pv
