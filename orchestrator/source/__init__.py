"""The source: its contract (tables, columns, keys, the SHA-256), reading it exactly, its backups,
and the XLSX import into a SQLite source."""
