"""The stages of a run, in order (the file names carry it): study -> demand -> candidates ->
travel times -> model (:mod:`.s5_model`) -> sizing (:mod:`.s6_sizing`) -> outputs."""
