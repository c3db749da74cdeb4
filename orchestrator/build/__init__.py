"""dbt: invoking it, the one build-and-test gate, and what a run reports (summary, metrics)."""
