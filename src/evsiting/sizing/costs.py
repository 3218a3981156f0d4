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
