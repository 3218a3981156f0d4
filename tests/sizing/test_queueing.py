"""Erlang-B/C against closed forms and textbook values; smallest port count."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examples import examples

from evsiting.sizing.queueing import erlang_b, erlang_c, mean_wait, min_servers, min_servers_array


def erlang_c_direct(c: int, a: float) -> float:
    """Textbook formula with factorials (fine for small c)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_table_values():
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # issue #4
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=5e-6)  # Erlang-B tables
    for rho in (0.1, 0.5, 0.9):  # M/M/1: P(wait) = rho
        assert erlang_c(1, rho) == pytest.approx(rho)


@pytest.mark.parametrize("c,a", [(1, 0.3), (3, 2.5), (5, 4.0), (10, 7.3), (20, 15.0), (40, 39.0)])
def test_matches_factorial_formula(c, a):
    assert erlang_c(c, a) == pytest.approx(erlang_c_direct(c, a), rel=1e-10)


def test_mean_wait_mm1_and_mm2():
    # M/M/1, lambda = 1/h, service 30 min: Wq = rho / (mu - lambda) = 0.5 / (2 - 1) h = 30 min
    assert mean_wait(1, 1.0, 30.0) == pytest.approx(30.0)
    # M/M/2, load 1 Erlang, service 60 min: Wq = C / (c mu - lambda) = (1/3) / 1 h = 20 min
    assert mean_wait(2, 1.0, 60.0) == pytest.approx(20.0)
    assert mean_wait(2, 2.0, 60.0) == math.inf
    assert erlang_c(3, 5.0) == 1.0


def test_large_c_is_stable():
    p = erlang_c(5000, 4900.0)
    assert 0 < p < 1 and math.isfinite(p)
    c = min_servers(10_000.0, 30.0, 10.0)  # 5,000 Erlangs
    assert 5000 < c < 5200
    assert mean_wait(c, 10_000.0, 30.0) <= 10.0 < mean_wait(c - 1, 10_000.0, 30.0)


def test_smallest_port_count():
    assert min_servers(0.0, 30.0, 10.0) == 0
    # c = 2, load 1 Erlang, service 60 min: wait 20 min; c = 3 waits less
    assert min_servers(1.0, 60.0, 25.0) == 2
    assert min_servers(1.0, 60.0, 15.0) == 3
    with pytest.raises(ValueError):
        min_servers(1.0, 0.0, 10.0)


@settings(max_examples=examples(200), deadline=None)
@given(st.floats(0.01, 500.0), st.floats(5.0, 90.0), st.floats(0.5, 30.0))
def test_min_servers_is_smallest(lam, service, limit):
    c = min_servers(lam, service, limit)
    assert mean_wait(c, lam, service) <= limit
    if c > 1:
        assert mean_wait(c - 1, lam, service) > limit


@settings(max_examples=examples(100), deadline=None)
@given(st.floats(0.0, 300.0), st.floats(0.0, 300.0))
def test_more_arrivals_never_fewer_ports(a, b):
    lo, hi = sorted((a, b))
    assert min_servers(hi, 30.0, 10.0) >= min_servers(lo, 30.0, 10.0)


def test_array_version():
    lam = np.array([[0.0, 1.0], [16.0, 1.0]])
    out = min_servers_array(lam, 30.0, 10.0)
    assert out.shape == (2, 2) and out.dtype == np.int64
    assert out[0, 1] == out[1, 1] == min_servers(1.0, 30.0, 10.0) and out[0, 0] == 0
