"""Staged build-out 2024-2030 (issue 9): the plan run over years.

The multi-period model is :class:`evsiting.models.buildout.MultiPeriodSiting`; this package
turns a run config into yearly demand, candidates and travel times, solves the plan and writes
``buildout.geojson``, ``buildout.csv`` and ``buildout.png``.
"""

from evsiting.buildout.plan import PlanResult, chart_png, parse_years, plan

__all__ = ["plan", "PlanResult", "parse_years", "chart_png"]
