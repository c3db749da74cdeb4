"""Gate 1: profile every value of the source, score it, and the circuit breaker.

    config   the project's sentinels and day/month default; the breaker's thresholds
    forms    what numbers and dates look like (regexes mirroring macros/cleaning/); date formats
    sql      reading the source: tables, declared types, storage classes, the scan query per table
    scan     profile_source: every table and column, keys and references
    orders   the day/month order of each date column and shape, from the export's evidence
    score    the quality score and the circuit breaker
    output   the JSON and HTML reports, run_gate (the run step), the readable summary
    html     the HTML report
"""

from orchestrator.profile.config import Thresholds, iter_columns
from orchestrator.profile.output import print_summary, run_gate, write_html, write_json
from orchestrator.profile.scan import profile_source

__all__ = ["Thresholds", "iter_columns", "print_summary", "profile_source", "run_gate", "write_html", "write_json"]
