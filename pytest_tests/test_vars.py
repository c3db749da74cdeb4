"""`--var`: each value is checked against the form of its default in dbt_project.yml before anything
runs (issue 15, case 12). A bad value is exit 2 with the expected form, and no run starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import sdrun

BAD = {
    "a date YAML reads as a date object is fine, a date with a quote is not": (
        "min_valid_timestamp=2005-01-01'", "expected a date or timestamp"),
    "a scalar where a list is expected": ("sentinels=N/A", "expected a list of texts"),
    "a boolean that is not one": ("day_first=maybe", "expected true or false"),
    "a share over 1": ("max_quarantined_share=5", "expected a number from 0 to 1"),
    "a whole number that is text": ("excel_serial_min=lots", "expected a whole number"),
    "a time zone that is not one": ("source_timezone=Mars/Olympus", "expected an IANA time zone name"),
    "a schema name with a quote": ('raw_schema=raw"; drop', "expected a schema name"),
    "a name the project does not declare": ("day_frist=false", "not a variable of the project"),
    "no value at all": ("day_first", "expected NAME=VALUE"),
}


@pytest.mark.parametrize("pair, message", list(BAD.values()), ids=list(BAD))
def test_a_bad_var_is_a_usage_error_naming_the_expected_form(tmp_path: Path, pair: str, message: str) -> None:
    source = tmp_path / "missing.db"  # never opened: the vars are checked first
    r = sdrun("full", "--source", str(source), "--var", pair, home=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert not (tmp_path / "runs").exists()  # no run started


def test_good_vars_pass_in_the_form_dbt_gets(tmp_path: Path) -> None:
    from orchestrator.build.project_vars import parse_vars

    assert parse_vars(["min_valid_timestamp=2005-01-01", "max_valid_timestamp=2030-01-01 12:00:00",
                       'sentinels=["n/a", "-"]', "day_first=false", "max_unmapped_share=1",
                       "source_timezone=Europe/Amsterdam", "excel_serial_min=40000"]) == {
        "min_valid_timestamp": "2005-01-01", "max_valid_timestamp": "2030-01-01 12:00:00",
        "sentinels": ["n/a", "-"], "day_first": False, "max_unmapped_share": 1,
        "source_timezone": "Europe/Amsterdam", "excel_serial_min": 40000,
    }


def test_a_keep_versions_setting_that_is_not_a_number_is_a_usage_error(tmp_path: Path) -> None:
    r = sdrun("full", "--source", str(tmp_path / "x.db"), "--target", "prod", home=tmp_path,
              env={"SDRUN_KEEP_VERSIONS": "abc"})
    assert r.returncode == 2 and "SDRUN_KEEP_VERSIONS='abc': expected a whole number" in r.stderr, r.stderr
