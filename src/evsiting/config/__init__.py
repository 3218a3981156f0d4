"""Run configuration: the YAML schema, the assumptions table (``data/parameters.csv``) and the checks run before any work."""
