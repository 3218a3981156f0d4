"""Integer apportionment that conserves totals exactly (Hamilton / largest remainder)."""

from __future__ import annotations

import numpy as np


def largest_remainder(total: int, weights) -> np.ndarray:
    """Split the integer ``total`` in proportion to ``weights`` into integers summing to it.

    Hamilton's method: floor the quotas, then give one more to the largest remainders (ties
    to the lower index, so the result is deterministic).

    Args:
        total: non-negative integer.
        weights: array (n,) of non-negative weights, not all zero when total > 0.

    Returns:
        int64 array (n,) with sum == total.

    Raises:
        ValueError: negative total or weights, or all-zero weights with total > 0.
    """
    w = np.asarray(weights, dtype=float)
    if total < 0 or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("total and weights must be non-negative and finite")
    if total == 0:
        return np.zeros(len(w), dtype=np.int64)
    s = w.sum()
    if s <= 0:
        raise ValueError("all weights are zero")
    quota = w / s * total
    base = np.floor(quota).astype(np.int64)
    rest = int(total - base.sum())
    if rest:
        order = np.lexsort((np.arange(len(w)), -(quota - base)))
        base[order[:rest]] += 1
    return base
