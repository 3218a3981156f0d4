"""The commands' runs: run, plan, sweep, batch, compare, back-cast, roll-up, corridors and sensitivity, each built on the stages."""
