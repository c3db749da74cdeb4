"""The base layer: errors and exit codes, settings, runs (their log and failpoints), health checks,
progress, atomic writes, DuckDB extensions. Imports nothing else of orchestrator."""
