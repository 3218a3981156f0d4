"""Readers and writers: user point files in, GeoJSON/JSON/CSV run folders out (atomically)."""
