"""evsiting: where Guizhou should build EV chargers, and how many."""

__version__ = "0.1.0"
