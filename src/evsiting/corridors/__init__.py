"""Intercity corridors: gravity OD flows between county or prefecture seats, shortest paths on
the expressway network and the flow-refuelling location model (FRLM).

- :mod:`.frlm`: the FRLM (Kuby & Lim 2005) in the arc-cover path-cover formulation (Capar
  et al. 2013), exact with pulp, and a greedy heuristic.
- :mod:`.flows`: seats and gravity flows ``pop_i x pop_j / d_ij^beta``.
- :mod:`.paths`: the corridor graph (expressways + seat links) and OD paths as stops.
- :mod:`.run`: the ``evsiting corridors`` run writing ``corridor_sites.geojson`` and
  ``corridor_flows.geojson``.
"""

from evsiting.models.frlm import (
    FRLM,
    CorridorPath,
    FRLMResult,
    arc_cover_sets,
    make_path,
    round_trip_feasible,
)

__all__ = ["FRLM", "CorridorPath", "FRLMResult", "arc_cover_sets", "make_path", "round_trip_feasible"]
