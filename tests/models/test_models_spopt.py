"""Agreement with PySAL spopt (the reference open library) on generated instances."""

from __future__ import annotations

import warnings

import pulp
import pytest

spopt_locate = pytest.importorskip("spopt.locate")

from evsiting.models import LSCP, MCLP, PCenter, PMedian  # noqa: E402

from models_helpers import spatial_instance  # noqa: E402


def _cbc():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pulp.PULP_CBC_CMD(msg=False)


def _obj(model) -> float:
    return float(pulp.value(model.problem.objective))


@pytest.fixture(scope="module")
def inst():
    return spatial_instance(300, 40, seed=21)


def test_lscp_matches_spopt(inst):
    cost, _w = inst
    ref = spopt_locate.LSCP.from_cost_matrix(cost, service_radius=30.0).solve(_cbc())
    ours = LSCP.from_cost_matrix(cost, service_radius=30.0).solve("cbc")
    assert ours.status == "optimal" and ours.objective == _obj(ref)


def test_mclp_matches_spopt(inst):
    cost, w = inst
    ref = spopt_locate.MCLP.from_cost_matrix(cost, w, service_radius=12.0, p_facilities=7).solve(_cbc())
    ours = MCLP.from_cost_matrix(cost, weights=w, service_radius=12.0, p_facilities=7).solve("highs")
    assert ours.status == "optimal" and ours.objective == pytest.approx(_obj(ref))


def test_pmedian_matches_spopt(inst):
    cost, w = inst
    ref = spopt_locate.PMedian.from_cost_matrix(cost, w, p_facilities=6).solve(_cbc())
    ours = PMedian.from_cost_matrix(cost, weights=w, p_facilities=6).solve("cbc")
    assert ours.status == "optimal" and ours.objective == pytest.approx(_obj(ref))


def test_pcenter_matches_spopt():
    cost, _w = spatial_instance(200, 25, seed=22)
    ref = spopt_locate.PCenter.from_cost_matrix(cost, p_facilities=5).solve(_cbc())
    ours = PCenter.from_cost_matrix(cost, p_facilities=5).solve("cbc")
    assert ours.status == "optimal" and ours.objective == pytest.approx(_obj(ref))
