"""Reference ratios of EVs to chargers, to judge whether a run's port counts are plausible.

Each reference keeps its source text. The Chinese ratios count **all** charging points, public
and private (home) ones, while a run sizes public ports only: a run's NEVs per public charger
is therefore expected to lie above them (the comparison table says so in ``note``). The NREL
figures are public ports per 1,000 EVs, directly comparable with a run's public DC and AC ports
(U.S. travel and home-charging access differ from Guizhou's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Reference:
    """One published ratio.

    Attributes:
        key: identifier.
        metric: ``nev_per_public_charger`` (NEVs per public charging point),
            ``nev_per_charger`` (NEVs per charging point, public and private),
            ``dc_ports_per_1000`` or ``ac_ports_per_1000`` (public ports per 1,000 EVs).
        value: the ratio.
        label: short description for tables.
        source: where it comes from, and how it was derived.
    """

    key: str
    metric: str
    value: float
    label: str
    source: str


REFERENCES: tuple[Reference, ...] = (
    Reference(
        "china_2024_public", "nev_per_public_charger", 8.8, "China end 2024: NEVs per public charging point",
        "About 31.4 million NEVs (Ministry of Public Security, year-end 2024) and about 3.58 million public "
        "charging points (National Energy Administration, year-end 2024); 31.4 / 3.58 = 8.8. Public points "
        "only, so directly comparable with a run.",
    ),
    Reference(
        "china_2025", "nev_per_charger", 2.2, "China 2025: NEVs per charging point (public + private)",
        "Project planning brief: China's NEV stock per charging point in 2025 is about 2.2 (NEV stock from the Ministry of "
        "Public Security, charging points public and private from the National Energy Administration / China "
        "Charging Alliance). Figure as given in the brief, not re-derived here.",
    ),
    Reference(
        "china_plan_2027", "nev_per_charger", 2.9, "China 2027 plan: EVs per charging facility",
        "NDRC and NEA, 电动汽车充电设施服务能力\u201c三年倍增\u201d行动方案（2025-2027年）(2025): about 28 million "
        "charging facilities by the end of 2027 to serve more than 80 million EVs; 80 / 28 = 2.9.",
    ),
    Reference(
        "nrel_2030_dc", "dc_ports_per_1000", 5.5, "NREL 2030: public DC fast ports per 1,000 EVs",
        "Wood et al. (2023), The 2030 National Charging Network, NREL/TP-5400-85654: 182,000 public DC fast "
        "ports for 33 million light-duty EVs in the U.S. in 2030; 182,000 / 33,000 = 5.5.",
    ),
    Reference(
        "nrel_2030_l2", "ac_ports_per_1000", 32.3, "NREL 2030: public Level-2 ports per 1,000 EVs",
        "Wood et al. (2023), NREL/TP-5400-85654: 1,067,000 public Level-2 ports for 33 million EVs; "
        "1,067,000 / 33,000 = 32.3 (about 30).",
    ),
)

_NOTES = {
    "nev_per_public_charger": "public points only, comparable",
    "nev_per_charger": "reference counts public and private chargers; the run counts public ports only, so a "
                       "higher run value is expected",
    "dc_ports_per_1000": "public DC fast ports; U.S. study, home charging more common than in Guizhou",
    "ac_ports_per_1000": "public AC (Level-2) ports; U.S. study",
}


def run_ratios(nev_stock: float, public_dc_ports: float, public_ac_ports: float) -> dict[str, float]:
    """A run's ratios.

    Args:
        nev_stock: NEVs in the study area, vehicles (> 0).
        public_dc_ports, public_ac_ports: public ports sized by the run (>= 0).

    Returns:
        dict: ``nev_per_public_charger`` and ``nev_per_charger`` (both NEVs per public port
        of the run, inf without ports; two keys because the references differ),
        ``dc_ports_per_1000``, ``ac_ports_per_1000`` (ports per 1,000 NEVs).

    Raises:
        ValueError: non-positive stock or negative ports.
    """
    if not nev_stock > 0:
        raise ValueError("nev_stock must be positive")
    if public_dc_ports < 0 or public_ac_ports < 0:
        raise ValueError("port counts must be non-negative")
    ports = public_dc_ports + public_ac_ports
    per_port = nev_stock / ports if ports > 0 else math.inf
    return {
        "nev_per_public_charger": per_port,
        "nev_per_charger": per_port,
        "dc_ports_per_1000": public_dc_ports / nev_stock * 1000.0,
        "ac_ports_per_1000": public_ac_ports / nev_stock * 1000.0,
    }


def compare_to_references(nev_stock: float, public_dc_ports: float, public_ac_ports: float) -> pd.DataFrame:
    """The run's NEVs per public charger and public ports per 1,000 NEVs next to every
    reference in :data:`REFERENCES`.

    Returns:
        DataFrame, one row per reference: ``reference`` (label), ``metric``, ``run_value``,
        ``reference_value``, ``run_over_reference``, ``note``, ``source``.

    Raises:
        ValueError: as :func:`run_ratios`.
    """
    run = run_ratios(nev_stock, public_dc_ports, public_ac_ports)
    rows = []
    for ref in REFERENCES:
        v = run[ref.metric]
        rows.append({
            "reference": ref.label,
            "metric": ref.metric,
            "run_value": v,
            "reference_value": ref.value,
            "run_over_reference": v / ref.value,
            "note": _NOTES[ref.metric],
            "source": ref.source,
        })
    return pd.DataFrame(rows)
