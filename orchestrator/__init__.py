"""servicedesk-etl orchestrator: the library behind the `sdrun` command line."""

__version__ = "0.1.0"
