"""Exact facility-location models for EV charger siting.

One class per model, in the style of PySAL spopt: build with ``from_cost_matrix(...)`` or
``from_geodataframe(...)``, then ``solve(solver="cbc" | "highs", time_limit=None, mip_gap=None)``
which returns a :class:`LocationResult` in the original client/candidate indices.

- :class:`LSCP` fewest stations covering all demand within a radius (minutes);
- :class:`MCLP` at most p stations maximising covered demand;
- :class:`PMedian` p stations minimising total weighted travel minutes;
- :class:`PCenter` p stations minimising the largest travel time;
- :class:`ChargerSiting` site opening plus integer DC/AC ports, capacities (kWh/day) and a
  budget (CNY).

Infeasible inputs raise :class:`evsiting.core.errors.InfeasibleError` with a reason a planner can act
on; ``status`` is ``"optimal"`` (proven) or ``"feasible"`` (stopped early, incumbent kept).
"""

from evsiting.models._core import LocationResult, available_solvers
from evsiting.models.coverage import LSCP, MCLP
from evsiting.models.median import PCenter, PMedian
from evsiting.models.siting import ChargerSiting, SitingResult

__all__ = [
    "LSCP", "MCLP", "PMedian", "PCenter", "ChargerSiting", "LocationResult", "SitingResult",
    "available_solvers", "MultiPeriodSiting", "CoverageRule", "BuildoutResult",
]
from evsiting.models.multiperiod import BuildoutResult, CoverageRule, MultiPeriodSiting  # noqa: E402  (issue 9)
