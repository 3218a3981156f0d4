"""Candidate sites: from demand cells, planners' files and OSM features."""
