"""The MIP solvers evsiting accepts, named once: the config's ``solver.name``, the ``--solver``
options of the commands and the models' ``solve(solver=...)`` all check against
:data:`SOLVERS` (re-exported by :mod:`evsiting.models._core`).

A module of its own, free of imports, so that the config and the command line can name the
solvers without loading the models.
"""

from __future__ import annotations

from typing import Literal, get_args

#: A solver name: ``cbc`` (bundled with pulp) or ``highs`` (highspy).
SolverName = Literal["cbc", "highs"]

#: Solver names accepted by ``solve(solver=...)``, the config and ``--solver``.
SOLVERS: tuple[str, ...] = get_args(SolverName)
