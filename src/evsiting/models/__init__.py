"""Exact facility-location models for EV charger siting.

One class per model, in the style of PySAL spopt: build with ``from_cost_matrix(...)`` or
``from_geodataframe(...)``, then ``solve(solver="cbc" | "highs", time_limit=None, mip_gap=None)``
which returns a :class:`LocationResult` in the original client/candidate indices.

- :class:`LSCP` fewest stations covering all demand within a radius (minutes);
- :class:`MCLP` at most p stations maximising covered demand;
- :class:`PMedian` p stations minimising total weighted travel minutes;
- :class:`PCenter` p stations minimising the largest travel time;
- :class:`CapacitatedSiting` (the default of ``evsiting run``) least capital cost (CNY) of
  stations and integer DC/AC ports serving all reachable energy (kWh/day), or the most energy
  within a budget;
- :class:`MultiPeriodSiting` the staged plan: which sites to open and how many ports to add
  each year under yearly budgets and coverage rules (``evsiting plan``; with one year, the
  single-period model with a budget).

Also in the package: :mod:`evsiting.models.frlm` (flow refuelling on corridors) and
:mod:`evsiting.models.nested` (the nested staged plan of capacitated models).

Infeasible inputs raise :class:`evsiting.core.errors.InfeasibleError` with a reason a planner can act
on; ``status`` is ``"optimal"`` (proven) or ``"feasible"`` (stopped early, incumbent kept).
"""

from evsiting.models._core import LocationResult, available_solvers
from evsiting.models.capacitated import CapacitatedResult, CapacitatedSiting
from evsiting.models.coverage import LSCP, MCLP
from evsiting.models.median import PCenter, PMedian
from evsiting.models.multiperiod import BuildoutResult, CoverageRule, MultiPeriodSiting

__all__ = [
    "LSCP", "MCLP", "PMedian", "PCenter", "CapacitatedSiting", "CapacitatedResult", "LocationResult",
    "available_solvers", "MultiPeriodSiting", "CoverageRule", "BuildoutResult",
]
