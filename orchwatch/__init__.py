"""orchwatch: a terminal dashboard for an event-driven data pipeline on Google Cloud."""

__version__ = "0.1.0"
