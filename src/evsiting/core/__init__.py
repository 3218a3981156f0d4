"""Shared machinery: errors, settings and data paths, solver names, Chinese datums, input file checks."""
