"""Road networks: OSM drive graphs, edge speeds, snapping, sparse travel-time matrices, and
province-scale expressway travel times.

Modules (one concern each, osmnx style):

- :mod:`.sources`: load a drive graph from Overpass, the Geofabrik extract or a local file;
- :mod:`.speeds`: Chinese default speeds per ``highway`` class and edge travel times;
- :mod:`.snap`: snap points to graph nodes with a snap limit;
- :mod:`.matrix`: bounded compiled Dijkstra and sparse travel-time matrices;
- :mod:`.road`: the ``network`` impedance (prepare a graph: project, largest strongly
  connected component, speeds; snap; matrix in minutes);
- :mod:`.expressway`: the ``expressway`` impedance from OSM motorway lines;
- :mod:`.great_circle`: great-circle travel times (the local legs of every method);
- :mod:`.candidates_osm`: candidate sites from OSM features.

Entry points for the pipeline: ``evsiting.network.impedance.travel_time_matrix(demand, candidates,
method, params, cutoff_min, config=cfg)`` with ``method`` ``expressway`` or ``network``.
"""
