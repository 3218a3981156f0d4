"""Charger sizing: from daily public charging energy to DC-fast and AC level-2 ports.

ports = ceil(energy_kwh_day x share / (charger power kW x utilisation hours per day)).
Power, utilisation hours and the DC share are parameters (``data/parameters.csv``).
"""

from __future__ import annotations

import numpy as np

from .params import Parameters


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


def size_stations(energy_kwh_day, params: Parameters) -> dict[str, np.ndarray]:
    """DC and AC ports per station for the public energy each station serves.

    Args:
        energy_kwh_day: array (n_stations,) of public charging energy served, kWh/day.
        params: parameters ``dc_energy_share``, ``dc_charger_power_kw``,
            ``dc_utilisation_hours``, ``ac_charger_power_kw``, ``ac_utilisation_hours``.

    Returns:
        dict of arrays (n_stations,): ``ports_dc``, ``ports_ac`` (int), ``power_kw``
        (installed kW = ports x rated power).
    """
    e = np.asarray(energy_kwh_day, dtype=float)
    share = params.value("dc_energy_share")
    p_dc, p_ac = params.value("dc_charger_power_kw"), params.value("ac_charger_power_kw")
    dc = ports_for_energy(e * share, p_dc, params.value("dc_utilisation_hours"))
    ac = ports_for_energy(e * (1.0 - share), p_ac, params.value("ac_utilisation_hours"))
    return {"ports_dc": dc, "ports_ac": ac, "power_kw": dc * p_dc + ac * p_ac}
