"""Where raw data is loaded and dbt builds: a Target protocol and its registry (dev on DuckDB,
canary and prod on PostgreSQL)."""
