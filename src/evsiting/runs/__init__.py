"""Commands made of many runs of the pipeline (issue #22 moves run, plan, sweep and batch here);
today: :mod:`evsiting.runs.sensitivity`."""
