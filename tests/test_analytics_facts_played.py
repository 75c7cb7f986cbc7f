"""Analytics in worlds that play its open facts otherwise: a subject area without resource
sharing rows is cannot tell, not a missing setting; a missing report ends the same whether
Alma answers 400 or 404. A report that lacks a row it does show still fails.

The facts: analytics.rs_terms_of_use, analytics.unknown_report_code (src/alma_p2p/facts.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.suite_runner import REPO, demo_world, institution, run_live

pytestmark = pytest.mark.standin

TERMS = "test_the_loan_borrowing_and_lending_resource_sharing_terms_of_use_exist[demo-university]"


def playing(**facts: str) -> dict[str, Any]:
    world = demo_world()
    world["facts"] = {f"analytics.{k}": v for k, v in facts.items()}
    return world


def report_rows(world: dict[str, Any]) -> list[list[str]]:
    reports = institution(world, "01DEMO_STMARYS")["analytics_reports"]
    rows: list[list[str]] = next(iter(reports.values()))["rows"]
    return rows


def test_a_report_without_any_resource_sharing_row_is_cannot_tell(tmp_path):
    run = run_live(
        playing(rs_terms_of_use="non_rs_only"), tmp_path, "--institution", "demo-university"
    )

    assert run.outcome_of(TERMS) == "skipped", run.output[-3000:]
    assert "shows no resource sharing row at all" in run.output
    assert "look by hand for Terms Of Use Type = Borrowing Resource Sharing" in run.output


def test_without_resource_sharing_rows_a_missing_loan_row_still_fails(tmp_path):
    world = playing(rs_terms_of_use="non_rs_only")
    rows = report_rows(world)
    rows[:] = [r for r in rows if r[1] != "P2P Loan"]

    run = run_live(world, tmp_path, "--institution", "demo-university")

    assert run.outcome_of(TERMS) == "failed", run.output[-3000:]
    assert "no row with Terms Of Use Type = Loan, Terms Of Use Name = P2P Loan" in run.output


def _profiles_naming_a_missing_report(tmp_path: Path) -> str:
    dest = tmp_path / "profiles"
    dest.mkdir(parents=True)
    source = REPO / "fixtures" / "institutions" / "demo-university" / "profile.yaml"
    data = yaml.safe_load(source.read_text())
    data["analytics"]["terms_of_use"]["report"] = "/shared/no/such/report"
    (dest / "demo-university").mkdir()
    (dest / "demo-university" / "profile.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return f"--profiles-dir={dest}"


@pytest.mark.parametrize("word", ["code_60101", "not_found"])
def test_a_missing_report_is_never_a_pass_whatever_alma_answers(word, tmp_path):
    profiles = _profiles_naming_a_missing_report(tmp_path)
    run = run_live(
        playing(unknown_report_code=word), tmp_path, "--institution", "demo-university", profiles
    )

    assert run.outcome_of(TERMS) in ("failed", "error"), run.output[-3000:]
    assert "/shared/no/such/report" in run.output
