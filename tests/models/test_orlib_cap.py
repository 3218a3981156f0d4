"""OR-Library capacitated warehouse location (cap41 ... cap134) as a special case of
CapacitatedSiting: the reader, and a few instances at their published optima (all 37 are in
benchmarks/bench_orlib_cap.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evsiting.core.errors import InputError
from evsiting.models.orlib import cap_model, cap_optima, read_cap
from evsiting.core.settings import shared_dir

CAP = Path(shared_dir()) / "orlib_cap"


def test_cap_optima_file():
    opt = cap_optima(CAP)
    assert len(opt) == 37
    assert opt["cap41"] == 1040444.375 and opt["cap134"] == 928941.750


@pytest.mark.parametrize("name", ["cap41", "cap71", "cap101", "cap131"])
def test_cap_published_optimum(name):
    inst = read_cap(CAP / f"{name}.txt")
    res = cap_model(inst).solve(mip_gap=0)
    assert res.status == "optimal"
    assert res.objective == pytest.approx(cap_optima(CAP)[name], rel=1e-6)
    # all demand served, split allowed, within each open warehouse's capacity
    load = np.asarray(res.flows.sum(axis=0)).ravel()
    assert np.allclose(res.served, inst.demand)
    assert (load <= inst.capacity * res.stations + 1e-6).all()
    # the objective is fixed cost plus the allocated share of each allocation cost
    share = res.flows.toarray() / inst.demand[:, None]
    total = float(inst.fixed_cost @ res.stations + (share * inst.alloc_cost).sum())
    assert total == pytest.approx(res.objective, rel=1e-9)


def test_read_cap_small(tmp_path):
    f = tmp_path / "capX.txt"
    # 2 warehouses, 3 customers; values wrap across lines as in some OR-Library files
    f.write_text("2 3\n 10 5.\n 10 7.\n 4 8. 40.\n 6 30.\n 6.\n 5 5. 50.\n")
    inst = read_cap(f)
    assert inst.capacity.tolist() == [10, 10] and inst.fixed_cost.tolist() == [5, 7]
    assert inst.demand.tolist() == [4, 6, 5]
    assert inst.unit_cost[1].tolist() == [5.0, 1.0]
    res = cap_model(inst).solve(mip_gap=0)
    # both open (15 > 10): 5+7, customer 0 at w0 (8), customer 1 at w1 (6), customer 2 at w0 (5)
    assert res.status == "optimal" and res.objective == pytest.approx(31.0)
    with pytest.raises(InputError):
        read_cap(tmp_path / "missing.txt")
    f.write_text("2 3\n 10 5.\n")
    with pytest.raises(InputError, match="expected"):
        read_cap(f)
