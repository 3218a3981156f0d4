"""Erlang-C (M/M/c) queueing for the peak hour at a DC fast-charging site.

Vehicles arrive as a Poisson stream (rate lambda per hour), charging times are exponential
(mean 1/mu hours), there are c ports and an unlimited queue. The offered load is
a = lambda / mu Erlangs. For a < c:

* Erlang-B by the stable recursion ``B(0) = 1``, ``B(k) = a B(k-1) / (k + a B(k-1))``
  (no factorials or powers, so it works for thousands of ports);
* probability of waiting ``C(c, a) = c B / (c - a (1 - B))``;
* mean wait in the queue ``Wq = C / (c mu - lambda) = C x service time / (c - a)``.

For a >= c the queue grows without bound: P(wait) = 1 and the mean wait is infinite.
Reference: any queueing text, e.g. Kleinrock (1975), *Queueing Systems* vol. 1, sec. 3.5;
the textbook value C(2, 1) = 1/3 is a test.
"""

from __future__ import annotations

import math

import numpy as np


def erlang_b(c: int, load: float) -> float:
    """Erlang-B blocking probability of ``c`` servers under ``load`` Erlangs.

    Raises:
        ValueError: c < 0 or load < 0.
    """
    if c < 0 or load < 0 or not math.isfinite(load):
        raise ValueError("c and load must be non-negative and finite")
    b = 1.0
    for k in range(1, int(c) + 1):
        b = load * b / (k + load * b)
    return b


def _c_from_b(c: int, load: float, b: float) -> float:
    if load >= c:
        return 1.0
    return c * b / (c - load * (1.0 - b))


def erlang_c(c: int, load: float) -> float:
    """Probability that an arriving vehicle must wait (Erlang-C) with ``c`` ports and
    ``load`` Erlangs (= arrivals per hour x mean charging hours). 1.0 when ``load >= c``.

    Raises:
        ValueError: c < 1 or load < 0.
    """
    if c < 1:
        raise ValueError("c must be at least 1")
    return _c_from_b(int(c), load, erlang_b(c, load))


def mean_wait(c: int, arrivals_per_h: float, service_min: float) -> float:
    """Mean wait in the queue, minutes, of an M/M/c queue.

    Args:
        c: ports (>= 1).
        arrivals_per_h: arrival rate, vehicles/hour (>= 0).
        service_min: mean charging (port occupation) time, minutes (> 0).

    Returns:
        Mean wait before a port frees, minutes; ``inf`` when the load reaches ``c``.

    Raises:
        ValueError: c < 1, negative arrivals or non-positive service time.
    """
    if service_min <= 0:
        raise ValueError("service_min must be positive")
    if arrivals_per_h < 0:
        raise ValueError("arrivals_per_h must be non-negative")
    load = arrivals_per_h * service_min / 60.0
    if load >= c:
        return math.inf
    return erlang_c(c, load) * service_min / (c - load)


def min_servers(arrivals_per_h: float, service_min: float, max_wait_min: float) -> int:
    """Smallest number of ports whose peak-hour mean wait is at most ``max_wait_min``.

    Walks c upwards from the smallest stable count (floor(load) + 1), updating Erlang-B by
    one recursion step per port, so the cost is O(c) and there is no overflow for large c.

    Args:
        arrivals_per_h: peak-hour arrivals, vehicles/hour (>= 0; 0 gives 0 ports).
        service_min: mean charging time, minutes (> 0).
        max_wait_min: largest acceptable mean wait, minutes (> 0).

    Returns:
        int >= 0.

    Raises:
        ValueError: negative arrivals, non-positive service time or wait limit.
    """
    if service_min <= 0 or max_wait_min <= 0:
        raise ValueError("service_min and max_wait_min must be positive")
    if arrivals_per_h < 0 or not math.isfinite(arrivals_per_h):
        raise ValueError("arrivals_per_h must be non-negative and finite")
    if arrivals_per_h == 0:
        return 0
    load = arrivals_per_h * service_min / 60.0
    b = 1.0
    c = 0
    while True:
        c += 1
        b = load * b / (c + load * b)
        if c > load:
            wait = _c_from_b(c, load, b) * service_min / (c - load)
            if wait <= max_wait_min:
                return c


def min_servers_array(arrivals_per_h, service_min: float, max_wait_min: float) -> np.ndarray:
    """:func:`min_servers` for each element of ``arrivals_per_h`` (array (n,), vehicles/hour).

    Returns:
        int64 array (n,).
    """
    a = np.asarray(arrivals_per_h, dtype=float)
    # Many stations share a load (e.g. zero or identical cells): compute each distinct once.
    uniq, inv = np.unique(a.ravel(), return_inverse=True)
    vals = np.array([min_servers(x, service_min, max_wait_min) for x in uniq], dtype=np.int64)
    return vals[inv].reshape(a.shape)
