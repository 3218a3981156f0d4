"""CapacitatedSiting when the sites within reach cannot hold a point's energy: the energy is
capped at what they can hold, and the capped point keeps its DC share."""

from __future__ import annotations

import numpy as np
import pytest

from evsiting.models.capacitated import CapacitatedSiting


def test_capped_point_keeps_its_dc_share():
    # one site, at most 1 DC port (120 kWh/day) and 1 AC port (40): of 300 kWh/day (half DC)
    # it holds 160 (80 DC + 80 AC would need 2 AC ports: 120 DC-capable + 40 AC, DC part 80)
    mdl = CapacitatedSiting.from_cost_matrix(
        np.array([[5.0]]), [300.0], [150.0], 15.0, dc_port_kwh_day=120, ac_port_kwh_day=40,
        max_dc_ports=1, max_ac_ports=1, site_cost_cny=1000, dc_port_cost_cny=100, ac_port_cost_cny=10)
    red = mdl.reduce()
    assert red.instance.E == pytest.approx([160.0])
    assert red.instance.D == pytest.approx([80.0])  # 150/300 of 160, not min(150, 160)
    assert red.short == pytest.approx([140.0])
    res = mdl.solve(mip_gap=0)
    assert res.status == "optimal"
    assert res.served == pytest.approx([160.0]) and res.unserved == pytest.approx([140.0])
    assert res.dc_ports.tolist() == [1] and res.ac_ports.tolist() == [1]
    assert res.objective == pytest.approx(1110.0)
