"""Intercity corridors: FRLM (ACPC) against brute force on a synthetic network, monotonicity
in p, exact vs greedy, the all-open coverage rule, and the run on the real Guizhou expressways."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from evsiting.corridors.frlm import FRLM, arc_cover_sets, make_path, round_trip_feasible
from evsiting.errors import InputError


def synthetic_network(seed: int, n_nodes: int = 9, n_paths: int = 14):
    """A SYNTHETIC test fixture (not real data): nodes on a line-and-branch layout with random
    gaps; paths are random contiguous node sequences along a random order of the line."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.uniform(20, 90, n_nodes))  # km along a trunk
    paths, flows = [], []
    for _ in range(n_paths):
        a, b = sorted(rng.choice(n_nodes, 2, replace=False))
        nodes = np.arange(a, b + 1)
        if rng.random() < 0.5:
            nodes = nodes[::-1]
        pos = np.abs(x[nodes] - x[nodes[0]])
        cand = nodes.copy()
        if rng.random() < 0.3:  # an origin that cannot host a station
            cand[0] = -1
        paths.append(make_path(pos, cand))
        flows.append(float(rng.integers(1, 100)))
    return paths, np.array(flows), n_nodes


def brute_force(paths, flows, n, p, range_km):
    best = 0.0
    for combo in itertools.combinations(range(n), p):
        s = set(combo)
        best = max(best, sum(f for pth, f in zip(paths, flows) if round_trip_feasible(pth, s, range_km)))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_matches_brute_force_and_is_monotone_and_beats_greedy(seed):
    paths, flows, n = synthetic_network(seed)
    model = FRLM(paths, flows, n, range_km=160.0)
    prev = -1.0
    for p in range(0, 5):
        exact = model.solve(p)
        assert exact.status == "optimal"
        assert exact.covered_flow == pytest.approx(brute_force(paths, flows, n, p, 160.0))
        assert len(exact.selected) == p
        assert exact.covered_flow >= prev - 1e-9
        prev = exact.covered_flow
        greedy = model.greedy(p)
        assert len(greedy.selected) == p
        assert exact.covered_flow >= greedy.covered_flow - 1e-9


def test_arc_cover_view_equals_the_direct_check_for_random_station_sets():
    paths, flows, n = synthetic_network(7, n_nodes=10, n_paths=30)
    model = FRLM(paths, flows, n, range_km=140.0)
    rng = np.random.default_rng(3)
    for _ in range(50):
        mask = rng.random(n) < rng.uniform(0.1, 0.9)
        assert np.array_equal(model.covered_by_arcs(mask), model.refuelable(mask))


def test_round_trip_convention_by_hand():
    # O --100-- A --100-- D ; stations possible at A only; range 200
    path = make_path([0, 100, 200], [-1, 0, -1])
    # A is passed twice on the cycle; the end legs are driven out and back: A->D->A and A->O->A, 200 km each
    assert round_trip_feasible(path, {0}, 200.0)
    assert not round_trip_feasible(path, {0}, 199.0)
    assert not round_trip_feasible(path, set(), 1000.0)  # no station on the way
    # stations at both ends: O-A-D legs of 100 each, gaps of 200 through A when A closed
    path2 = make_path([0, 100, 200], [0, 1, 2])
    assert round_trip_feasible(path2, {0, 2}, 200.0)
    assert not round_trip_feasible(path2, {0, 2}, 199.0)
    # only the origin open: the whole cycle (400 km) on one tank
    assert round_trip_feasible(path2, {0}, 400.0) and not round_trip_feasible(path2, {0}, 399.0)
    # arc-cover sets: 4 arcs, an arc longer than the range has no cover
    assert all(len(k) == 0 for k in arc_cover_sets(make_path([0, 300], [0, 1]), 250.0))


def test_all_nodes_open_covers_every_pair_whose_longest_leg_is_within_half_the_range():
    for seed in range(5):
        paths, flows, n = synthetic_network(seed, n_nodes=10, n_paths=40)
        R = 120.0
        model = FRLM(paths, flows, n, range_km=R)
        res = model.solve(n)  # every candidate open
        for pth, ok in zip(paths, res.refuelable):
            legs = np.diff(pth.pos_km)
            if legs.max() <= R / 2:
                assert ok
            # the exact rule: interior legs <= R, end legs without a station <= R/2
            lim = np.full(len(legs), R)
            if pth.cand[0] < 0:
                lim[0] = R / 2
            if pth.cand[-1] < 0:
                lim[-1] = min(lim[-1], R / 2)
            assert ok == bool((legs <= lim + 1e-9).all())


def test_bad_inputs_are_input_errors():
    paths, flows, n = synthetic_network(0)
    with pytest.raises(InputError):
        FRLM(paths, flows[:-1], n, 100.0)
    with pytest.raises(InputError):
        FRLM(paths, flows, n, -1.0)
    with pytest.raises(InputError):
        FRLM(paths, flows, n, 100.0).solve(n + 1)
    with pytest.raises(InputError):
        make_path([0, 5, 3], [0, 1, 2])
