"""The commands' runs: run, plan, sweep, batch, compare, back-cast, roll-up and corridors, each built on the stages."""
