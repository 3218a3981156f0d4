"""How many examples each hypothesis property test draws.

The defaults keep ``make test`` within minutes; ``EVSITING_HYPOTHESIS_EXAMPLES=N`` sets every
property test to N examples (for example 500 for a long local check).
"""

from __future__ import annotations

import os


def examples(default: int) -> int:
    """``default``, or ``EVSITING_HYPOTHESIS_EXAMPLES`` when that is set (a positive integer)."""
    raw = os.environ.get("EVSITING_HYPOTHESIS_EXAMPLES")
    return int(raw) if raw else default
