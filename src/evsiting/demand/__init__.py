"""Demand: NEV fleet projection, segments, and its spatial allocation to demand points."""
