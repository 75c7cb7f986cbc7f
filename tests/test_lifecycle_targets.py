"""A refreshed sandbox must not reach production: the partner-target check can fail, and
when it does no write of the run is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alma_p2p.alma.models import Partner
from alma_p2p.profile import load_profiles
from alma_p2p.standin import StandinApp
from alma_p2p.targets import allowed, refusals, targets
from tests.suite_runner import REPO, demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin

TARGETS = "test_every_partner_sends_its_requests_to_a_sandbox_the_profile_allows[demo-university]"
TWICE = "test_a_patron_cannot_place_the_same_request_twice[demo-university]"
FIELD = "profile_details.iso_details.ill_server"


def written(app: StandinApp) -> list[str]:
    """What the run wrote (preflight's self-tests create nothing)."""
    return [
        f"{r.method} {r.path}"
        for r in app.request_log
        if r.method in {"POST", "PUT", "DELETE"} and not r.path.endswith("/operation/test")
    ]


def _partner(world: dict[str, Any], code: str) -> dict[str, Any]:
    return record_of(institution(world, "01DEMO_STMARYS")["partners"], "code", code)


def _run(world: dict[str, Any], tmp_path: Path):  # type: ignore[no-untyped-def]
    return run_live(world, tmp_path, "--institution", "demo-university", "-k", "sandbox or twice")


def test_a_partner_pointing_at_production_fails_the_check_and_refuses_every_write(tmp_path):
    world = demo_world()
    _partner(world, "DEMO_LENDER")["ill_server"] = "riverbend.alma.example.edu"

    run = _run(world, tmp_path)

    assert run.outcome_of(TARGETS) == "failed"
    assert run.outcome_of(TWICE) == "failed"
    assert (
        f"partner DEMO_LENDER sends to riverbend.alma.example.edu ({FIELD}), which is not "
        "among the profile's allowed targets (*-psb.*" in run.output
    )
    assert "refused every write of the run at demo-university" in run.output
    assert "Fulfillment > Resource Sharing > Partners > DEMO_LENDER" in run.output
    assert not written(run.app)


def test_a_partner_without_a_server_is_cannot_tell_and_refuses_every_write(tmp_path):
    world = demo_world()
    _partner(world, "DEMO_COLLEGE")["ill_server"] = None

    run = _run(world, tmp_path)

    assert run.outcome_of(TARGETS) == "skipped"
    assert run.outcome_of(TWICE) == "skipped"
    assert f"partner DEMO_COLLEGE shows no server in {FIELD}" in run.output
    assert not written(run.app)
    report = (tmp_path / "reports" / "readiness.md").read_text()
    assert "Every partner sends its requests to a sandbox the profile allows" in report


def test_the_demo_sandbox_passes_the_check_and_writes(tmp_path):
    run = _run(demo_world(), tmp_path)

    assert run.outcome_of(TARGETS) == "passed"
    assert run.outcome_of(TWICE) == "passed"


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("stmarys-psb.alma.exlibrisgroup.com", True),
        ("https://STMARYS-PSB.alma.exlibrisgroup.com/view", True),
        ("stmarys.alma.exlibrisgroup.com", False),
        ("psb.example.org", False),
    ],
)
def test_allowed_hosts_match_the_profiles_patterns(host: str, ok: bool) -> None:
    assert allowed(host, ["*-psb.*"]) is ok


def test_a_partner_missing_from_alma_is_not_a_target() -> None:
    profile = load_profiles(REPO / "fixtures" / "institutions")["demo-university"]
    lender = Partner.model_validate(
        {
            "partner_details": {
                "code": "DEMO_LENDER",
                "profile_details": {
                    "profile_type": "ISO_18626",
                    "iso_18626_details": {"ill_server": "riverbend-psb.alma.example.edu"},
                },
            }
        }
    )
    found = targets(profile, {"DEMO_LENDER": lender})
    assert [t.describe() for t in found] == [
        "DEMO_LENDER: profile_details.iso_18626_details.ill_server=riverbend-psb.alma.example.edu",
        "DEMO_COLLEGE: not a partner in Alma, so no request can reach it",
    ]
    assert refusals(profile, found) == []


def test_a_partner_beyond_the_first_page_is_checked_too(tmp_path):
    world = demo_world()
    partners = institution(world, "01DEMO_STMARYS")["partners"]
    lender = _partner(world, "DEMO_LENDER")
    partners.remove(lender)
    partners.extend(
        {"code": f"FILLER{i:03}", "name": f"Filler {i}", "ill_server": "x-psb.example.org"}
        for i in range(100)
    )
    partners.append({**lender, "ill_server": "riverbend.alma.example.edu"})

    run = _run(world, tmp_path)

    assert run.outcome_of(TWICE) == "failed"
    assert "partner DEMO_LENDER sends to riverbend.alma.example.edu" in run.output
    assert not written(run.app)
