"""The per-station power limit (issue #20 item 5): the limit from the parameters, hubs from a
candidate file, a cell site's stations within it, and its wiring to the capacitated model (on
by default, off with ``power_limit: false``)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from evsiting.config.schema import config_from_dict
from evsiting.models.capacitated import CapacitatedSiting
from evsiting.config.params import load_parameters
from evsiting.sizing.port_rule import port_capacities, station_limits_kw, station_power_limit_kw, stations_per_site
from evsiting.stages.s5_model import ModelInputs, capacitated_model


def test_limit_is_the_transformer_rating_at_its_power_factor_and_simultaneity():
    p = load_parameters()
    assert station_power_limit_kw(p) == pytest.approx(800 * 0.92 / 0.8)
    # a typical car station fits: 9 DC ports of 93 kW and 11 AC points of 7 kW
    assert 9 * 93 + 11 * 7 <= station_power_limit_kw(p) < 30 * 93


def test_hub_column_and_existing_ports_raise_a_sites_limit():
    p = load_parameters()
    sites = gpd.GeoDataFrame({"site_id": ["a", "b", "c"], "max_station_kw": [np.nan, 3000.0, np.nan],
                              "existing_dc": [0, 0, 12], "existing_ac": [0, 0, 0]},
                             geometry=gpd.points_from_xy([0, 1, 2], [0, 0, 0]), crs="EPSG:4326")
    lim = station_limits_kw(sites, 3, p)
    np.testing.assert_allclose(lim, [920.0, 3000.0, 12 * 93.0])


def test_the_limit_reaches_the_model(monkeypatch):
    seen = {}
    original = CapacitatedSiting.from_cost_matrix.__func__

    def with_power(cls, cost, energy_kwh_day, dc_energy_kwh_day=None, service_standard_min=15.0, *,
                   dc_port_kw=None, ac_port_kw=None, max_station_kw=None, **kw):
        seen.update(dc_port_kw=dc_port_kw, ac_port_kw=ac_port_kw, max_station_kw=max_station_kw)
        return original(cls, cost, energy_kwh_day, dc_energy_kwh_day, service_standard_min, dc_port_kw=dc_port_kw,
                        ac_port_kw=ac_port_kw, max_station_kw=max_station_kw, **kw)

    cells = pd.DataFrame({"nev_count": [10, 20], "energy_kwh_day": [100.0, 200.0], "energy_dc_kwh_day": [90.0, 180.0]})
    block = config_from_dict({"name": "t", "model": {"type": "capacitated", "power_limit": True}}).model
    inp = ModelInputs(cells, sp.csr_matrix(np.array([[1.0, 2.0], [2.0, 1.0]])), np.zeros(0, dtype=np.int64), load_parameters())
    monkeypatch.setattr(CapacitatedSiting, "from_cost_matrix", classmethod(with_power))
    capacitated_model(block, inp)
    assert seen["dc_port_kw"] == 93 and seen["ac_port_kw"] == 7
    np.testing.assert_allclose(seen["max_station_kw"], [920.0, 920.0])
    seen.clear()  # the default: on
    capacitated_model(config_from_dict({"name": "t", "model": {"type": "capacitated"}}).model, inp)
    np.testing.assert_allclose(seen["max_station_kw"], [920.0, 920.0])
    seen.clear()  # model.power_limit: false: no limit reaches the model
    capacitated_model(config_from_dict({"name": "t", "model": {"type": "capacitated", "power_limit": False}}).model, inp)
    assert seen["max_station_kw"] is None and seen["dc_port_kw"] is None


def test_a_cell_site_holds_the_same_energy_in_stations_within_the_limit():
    p = load_parameters()
    cap_dc, cap_ac = port_capacities(p)
    full = 30 * cap_dc + 50 * cap_ac  # one station at the port maxima: 4,176 kWh/day
    limited = station_power_limit_kw(p) * p.value("dc_utilisation_hours")  # one station at 920 kW: 1,224 kWh/day
    # synthetic cells: a small one (one full station's worth), a large one, and a point site
    cells = pd.DataFrame({"demand_id": ["a", "b"], "energy_kwh_day": [100.0, 5 * full]})
    sites = pd.DataFrame({"site_id": ["c-a", "c-b", "u-point"]})
    k = stations_per_site(sites, cells, p)
    k_lim = stations_per_site(sites, cells, p, power_limit=True)
    np.testing.assert_array_equal(k, [1, 10, 1])  # cell_stations_factor 2 x own needs, at least 1
    assert list(k_lim) == [4, 35, 1]  # the same energy; a point stays one station
    assert (k_lim * limited >= k * full - 1e-6)[:2].all()


def test_a_candidate_file_names_its_hubs(tmp_path, shared):
    from evsiting.config.schema import PointFile, load_config
    from evsiting.core.errors import InputError
    from evsiting.core.settings import configs_dir
    from evsiting.stages.s1_study import load_study

    csv = tmp_path / "synthetic_hubs.csv"  # synthetic sites in Anshun
    csv.write_text("id,lon,lat,kw\nhub,105.947,26.253,2500\nplain,105.93,26.24,\n", encoding="utf-8")
    cfg = load_config(configs_dir() / "prefectures" / "anshun.yaml")
    cfg.candidates.files = [PointFile(path=str(csv), id_column="id", max_kw_column="kw")]
    sites = load_study(cfg).user_sites[0].set_index("site_id")
    assert sites.loc["u-hub", "max_station_kw"] == 2500 and np.isnan(sites.loc["u-plain", "max_station_kw"])
    np.testing.assert_allclose(station_limits_kw(sites.reset_index(), 2, load_parameters()), [2500.0, 920.0])
    csv.write_text("id,lon,lat,kw\nhub,105.947,26.253,lots\n", encoding="utf-8")
    with pytest.raises(InputError, match="'kw' must hold positive numbers of kW"):
        load_study(cfg)
