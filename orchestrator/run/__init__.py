"""A run: the one run skeleton, the steps every target shares, the preflight checks, the dev flow."""
