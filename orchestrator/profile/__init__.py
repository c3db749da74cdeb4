"""Gate 1: profile every value of the source (scan, formats, day/month orders), score it, and
the circuit breaker; the JSON and HTML reports."""
