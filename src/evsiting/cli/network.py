"""``evsiting network fetch|info``: download a prefecture's drive network, or describe a file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import echo_err, handle_errors

network_app = typer.Typer(help="OSM road networks: fetch a drive network, describe a network file.", no_args_is_help=True)


def _study_polygon(prefecture: str | None):
    """WGS84 polygon of a prefecture (English/pinyin/Chinese/adcode) or of the province."""
    from evsiting.study.areas import Prefectures, read_polygons
    from evsiting.core.settings import data_dir

    if prefecture is None:
        gdf = read_polygons(data_dir() / "guizhou_province.geojson", ())
        return gdf.geometry.union_all(), "guizhou"
    pref = Prefectures.from_csv(data_dir() / "guizhou_census2020_population.csv").resolve(prefecture)
    gdf = read_polygons(data_dir() / "guizhou_prefectures.geojson", ("city_adcode",))
    sel = gdf[gdf["city_adcode"].astype(int) == pref.adcode]
    return sel.geometry.union_all(), pref.slug


def _print_info(info: dict) -> None:
    sp = info.get("speeds", {})
    typer.echo(f"nodes {info['nodes']:,}  edges {info['edges']:,}  crs {info.get('crs')}")
    if "weak_components" in info:
        typer.echo(f"components: {info['weak_components']:,} weakly, {info['strong_components']:,} strongly connected; "
                   f"largest strongly connected: {info['largest_scc_nodes']:,} nodes ({info['largest_scc_share']:.1%})")
    if "largest_scc" in info:
        d = info["largest_scc"]
        typer.echo(f"largest strongly connected component kept: dropped {d['nodes_dropped']:,} nodes, {d['edges_dropped']:,} edges")
    if sp:
        typer.echo(f"speed coverage: {sp['edges_with_maxspeed']:.1%} of edges carry a usable maxspeed; "
                   f"{sp['implicit_mapped']:,} implicit CN values mapped; the rest use data/road_speeds.csv")
        typer.echo(f"{'highway':<18}{'edges':>9}{'maxspeed':>10}")
        for hw, (cnt, share) in sorted(sp["by_highway"].items(), key=lambda kv: -kv[1][0]):
            typer.echo(f"{hw:<18}{cnt:>9,}{share:>10.1%}")


def register(app: typer.Typer) -> None:
    """Add the ``network`` command group to ``app``."""

    @network_app.command("fetch")
    @handle_errors
    def fetch(
        prefecture: Optional[str] = typer.Option(None, "--prefecture", "-p", help="Prefecture (English/pinyin, Chinese or adcode); default the whole province"),
        source: str = typer.Option("overpass", "--source", help="overpass or geofabrik"),
        buffer_m: float = typer.Option(5000.0, "--buffer-m", help="Keep roads this far outside the area (metres)"),
        cache_dir: Path = typer.Option(Path("cache/osm"), "--cache-dir", help="osmnx cache and download folder"),
        out: Optional[Path] = typer.Option(None, "--out", help="GraphML to write (default CACHE_DIR/NAME_drive.graphml)"),
    ) -> None:
        """Download the drive network of a prefecture, prepare it (EPSG:32648, largest strongly
        connected component, speeds, travel times) and save it as GraphML for ``source: file``."""
        import osmnx as ox

        from evsiting.core.errors import InputError
        from ..network.road import prepare_graph
        from ..network.sources import load_graph

        if source not in ("overpass", "geofabrik"):
            raise InputError(f"unknown source '{source}'; expected overpass or geofabrik", field="--source")
        polygon, slug = _study_polygon(prefecture)
        echo_err(f"fetching the {slug} drive network from {source} (buffer {buffer_m:g} m) ...")
        G, info = load_graph(source, polygon, buffer_m, cache_dir=cache_dir)
        net = prepare_graph(G, info=info)
        out = out or cache_dir / f"{slug}_drive.graphml"
        out.parent.mkdir(parents=True, exist_ok=True)
        ox.save_graphml(net.graph, out)
        _print_info(net.info)
        typer.echo(f"written: {out}")

    @network_app.command("info")
    @handle_errors
    def info_cmd(
        file: Path = typer.Argument(..., help=".osm, .osm.bz2, .osm.pbf or .graphml"),
        crs: str = typer.Option("EPSG:32648", "--crs", help="Projected CRS (metres) for the graph; Guizhou: EPSG:32648"),
    ) -> None:
        """Nodes, edges, connected components and speed coverage of a network file."""
        import networkx as nx

        from ..network.road import prepare_graph
        from ..network.sources import graph_from_file

        G = graph_from_file(file)
        sccs = [len(c) for c in nx.strongly_connected_components(G)]
        facts = {
            "weak_components": nx.number_weakly_connected_components(G),
            "strong_components": len(sccs),
            "largest_scc_nodes": max(sccs),
            "largest_scc_share": max(sccs) / G.number_of_nodes(),
        }
        net = prepare_graph(G, crs)
        typer.echo(f"{file}")
        _print_info({**net.info, **facts, "nodes": G.number_of_nodes(), "edges": G.number_of_edges()})

    app.add_typer(network_app, name="network")
