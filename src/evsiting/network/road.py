"""The ``network`` impedance: travel times on an OSM drive graph."""

from __future__ import annotations

from ..errors import InputError


def network_matrix(demand, candidates, params, cutoff_min, **options):
    """Placeholder until the drive-graph impedance lands.

    Raises:
        InputError: always.
    """
    raise InputError("the 'network' impedance is not available yet", source="config", field="impedance.method")
