"""PostgreSQL deploys: the canary and prod flows, versions (swap, rollback, prune, leftovers), the
ledger, the checks before a version goes live, and the marts backups."""
