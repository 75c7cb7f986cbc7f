"""The whole acceptance suite against the demo world with each alternative of each fact on.

The demo world is configured as the profiles expect, so under the assumed facts every
scenario that Alma can prove passes. Switching one fact to an alternative (``facts:`` at the
top of the world, so every institution plays it) must change only the scenarios whose
verdict rests on that fact: those its ``checks`` in ``facts.yaml`` name. This test records
each scenario's verdict (pass, fail, cannot tell, or another skip) and asserts

- every scenario the fact does not name keeps the verdict it has under the assumed facts;
- every scenario it names has the verdict written in ``TODAY`` for that alternative (its
  verdict under the assumed facts when ``TODAY`` does not list it).

``TODAY`` is what the suite does now, not what it should do: a **fail** there is a false
alarm a librarian would get if Alma behaved that way, and its comment names what will fix
it. A run that stops before any scenario (``STOPPED``) is the harness knowing: it says what
no longer fits and runs nothing. When a fix lands, this test fails until ``TODAY`` is
updated, so the table cannot go stale silently.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from alma_p2p.facts import load_register
from tests.suite_runner import demo_world, run_live

pytestmark = [pytest.mark.standin]

Verdicts = dict[str, str]  # test id → pass, fail, cannot tell, skipped (manual …), error


@dataclass(frozen=True)
class Stopped:
    """The run stopped before any scenario; the harness said ``because`` for each one."""

    because: str


def at(scenario: str, *institutions: str, examples: tuple[str, ...] = ()) -> list[str]:
    """The test ids of a scenario (its pytest-bdd function name) at each institution."""
    if examples:
        return [f"{scenario}[{i}-{e}]" for i in institutions for e in examples]
    return [f"{scenario}[{i}]" for i in institutions]


CAMPUS = "test_a_request_from_a_patron_of_each_campus_is_owned_by_that_campuss_library"
NO_RS = "test_a_patron_without_a_resource_sharing_library_is_refused_at_a_multilibrary_institution"
LEND = "test_a_request_for_title_ends"
ROUND_TRIP = "test_a_request_the_lender_rejects_moves_on_along_the_borrowers_rota"
REJECTED_EXAMPLES = (
    "a title whose items are all on loan-is rejected-Reject Request When No Available Items",
    "a title whose only available item is not requestable-is rejected-"
    "Reject Request When No Requestable Items",
    "a title held only electronically-is rejected-Reject Request When Only Electronic Available",
)


def _fails(ids: list[str]) -> dict[str, str]:
    return dict.fromkeys(ids, "fail")


TODAY: dict[tuple[str, str], dict[str, str] | Stopped] = {
    # The harness's General model wants a string; it stops the run and says the contract no
    # longer fits. Fixed when alma_p2p.alma.models.General reads {value, desc} too.
    ("gateway.environment_type_form", "code_table"): Stopped(
        "/conf/general → Alma's answer no longer fits the General contract: environment_type"
    ),
    # Preflight reads every self-test as JSON; it stops the run and names each probe.
    # Fixed when preflight (alma_p2p.plugin.preflight) accepts the XML or text "OK" form.
    ("gateway.probe_body_format", "xml"): Stopped(
        "/users/operation/test → Alma's answer no longer fits the JSON contract: answer is "
        "not JSON (application/xml"
    ),
    ("gateway.probe_body_format", "text"): Stopped(
        "/users/operation/test → Alma's answer no longer fits the JSON contract: answer is "
        "not JSON (text/plain)"
    ),
    # jobs.status_field, borrowing.owner_when_omitted and borrowing.no_partner_holds_outcome
    # no longer change any verdict: the job is judged from its schedule, next_run and runs;
    # the routing requests name their owner; "sent on its own" asks for a title a rota
    # partner holds.
    # The profile expects 401768. Fixed by calibration: the profile's no_rs_library_error
    # set from a sandbox probe.
    ("borrowing.no_rs_library_error", "401607"): _fails(at(NO_RS, "demo-university")),
    # Alma would create the request: the scenario's refusal never comes. Calibration decides
    # whether this is Alma's behaviour; until then it is a fail.
    ("borrowing.no_rs_library_error", "default_rs_library"): _fails(at(NO_RS, "demo-university")),
    # An API that creates the request for a group its rules exclude cannot be told apart
    # from rules that let the group borrow: cannot tell, never a fail.
    ("borrowing.excluded_group_refused", "created"): {
        "test_a_patron_of_a_user_group_that_may_not_borrow_is_refused[demo-university]": (
            "cannot tell"
        )
    },
    # A status code the harness does not know is not a verdict: cannot tell, with what to
    # look at by hand. Calibration (alma-p2p calibrate) records the code the sandbox uses.
    ("lending.reject_status_code", "REJECT"): dict.fromkeys(
        at(LEND, "demo-lender", examples=REJECTED_EXAMPLES) + at(ROUND_TRIP, "demo-university"),
        "cannot tell",
    ),
    ("lending.reject_status_code", "other"): dict.fromkeys(
        at(LEND, "demo-lender", examples=REJECTED_EXAMPLES) + at(ROUND_TRIP, "demo-university"),
        "cannot tell",
    ),
    # A lender that rejects only when a job runs leaves the request waiting past the poll's
    # deadline, and the step fails it: a false fail until the lending steps read a request
    # still waiting at the deadline as cannot tell, or calibration records the timing.
    ("lending.auto_reject_timing", "by_job"): _fails(
        at(LEND, "demo-lender", examples=REJECTED_EXAMPLES) + at(ROUND_TRIP, "demo-university")
    ),
}

ALTERNATIVES = [(f.id, word) for f in load_register() for word in f.switches[1:]]


def scenario_function(check: str) -> str | None:
    """The pytest-bdd function of a check naming a feature's scenario, else None."""
    if not check.startswith("features/") or ": " not in check:
        return None
    title = re.sub(r"\s*\(.*\)$", "", check.split(": ", 1)[1])
    title = re.sub(r"[^a-z0-9 _]", "", title.replace("<", "").replace(">", "").lower())
    return "test_" + "_".join(title.split())


def rests_on(fact_id: str) -> set[str]:
    """The scenario functions whose verdict rests on a fact, from its checks."""
    names = (scenario_function(c) for c in load_register().fact(fact_id).checks)
    return {n for n in names if n}


def verdicts(junit: Path) -> Verdicts:
    """Each scenario's verdict in a run's JUnit XML (cannot tell from its skip message)."""
    out: Verdicts = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        verdict = "pass"
        for child in case:
            if child.tag == "failure":
                verdict = "fail"
            elif child.tag == "error":
                verdict = "error"
            elif child.tag == "skipped":
                message = child.get("message", "")
                verdict = "cannot tell" if "cannot tell:" in message else "skipped"
        out[case.get("name", "")] = verdict
    return out


@pytest.fixture(scope="module")
def assumed(tmp_path_factory: pytest.TempPathFactory) -> Verdicts:
    """Every scenario's verdict under the assumed facts: nothing fails."""
    tmp = tmp_path_factory.mktemp("assumed")
    run = run_live(demo_world(), tmp)
    found = verdicts(tmp / "junit.xml")
    assert found, run.output[-2000:]
    failed = sorted(t for t, v in found.items() if v in ("fail", "error"))
    assert not failed, f"the demo world fails under the assumed facts: {failed}"
    return found


def test_today_lists_only_alternatives_that_exist_and_scenarios_their_facts_name() -> None:
    for (fact_id, word), today in TODAY.items():
        assert (fact_id, word) in ALTERNATIVES, f"{fact_id}: {word} is not an alternative"
        if isinstance(today, dict):
            named = rests_on(fact_id)
            loose = sorted(t for t in today if t.split("[")[0] not in named)
            assert not loose, f"{fact_id} does not name these scenarios in its checks: {loose}"


def test_a_check_names_its_scenario_function() -> None:
    check = (
        "features/borrowing/request_routing.feature: A request from a patron of each campus "
        "is owned by that campus's library"
    )
    assert scenario_function(check) == CAMPUS
    assert (
        scenario_function(
            "features/lending/reject_when_unavailable.feature: A request for <title> <ends> "
            "(example: a title the lender does not hold)"
        )
        == LEND
    )
    assert scenario_function("alma_p2p.standin.rules.locate") is None


@pytest.mark.parametrize(("fact_id", "word"), ALTERNATIVES)
def test_an_alternative_changes_only_the_scenarios_that_rest_on_its_fact(
    fact_id: str, word: str, assumed: Verdicts, tmp_path: Path
) -> None:
    world = demo_world()
    world["facts"] = {fact_id: word}
    run = run_live(world, tmp_path)
    found = verdicts(tmp_path / "junit.xml")
    today = TODAY.get((fact_id, word), {})
    if isinstance(today, Stopped):
        assert not found, f"{fact_id}={word}: expected the run to stop, but it ran {found}"
        assert "nothing was run" in run.output, run.output[-2000:]
        assert today.because in run.output, run.output[-2000:]
        return
    assert found, f"{fact_id}={word}: no scenario ran:\n{run.output[-2000:]}"
    named = rests_on(fact_id)
    changed = {
        test_id: (assumed[test_id], found.get(test_id, "not run"))
        for test_id in assumed
        if test_id.split("[")[0] not in named and found.get(test_id) != assumed[test_id]
    }
    assert not changed, (
        f"{fact_id}={word} changed scenarios that its checks in facts.yaml do not name "
        f"(assumed → now): {changed}"
    )
    resting = {t for t in assumed if t.split("[")[0] in named}
    expected = {t: today.get(t, assumed[t]) for t in resting}
    actual = {t: found.get(t, "not run") for t in resting}
    assert actual == expected, (
        f"{fact_id}={word}: the scenarios resting on it now end otherwise than TODAY says; "
        "update TODAY in tests/test_alternatives.py (and its comment) if a fix landed"
    )
