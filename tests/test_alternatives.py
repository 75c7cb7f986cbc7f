"""The whole acceptance suite against the demo world with each alternative of each fact on.

The demo world is configured as the profiles expect, so under the assumed facts every
scenario that Alma can prove passes. Switching one fact to an alternative (``facts:`` at the
top of the world, so every institution plays it) must change only the scenarios whose
verdict rests on that fact: those its ``checks`` in ``facts.yaml`` name. This test records
each scenario's verdict (pass, fail, cannot tell, or another skip) and asserts

- every scenario the fact does not name keeps the verdict it has under the assumed facts;
- every scenario it names has the verdict written in ``TODAY`` for that alternative (its
  verdict under the assumed facts when ``TODAY`` does not list it);
- ``TODAY`` holds no fail: where Alma behaving otherwise leaves the evidence absent, the
  verdict is cannot tell, never a false alarm;
- once ``alma-p2p calibrate`` has asked the same world (the first live run), every fact the
  steps read from the institution's facts ends as under the assumed facts, but for what
  ``CALIBRATED`` lists with its reason; and a broken world fails with its message.

A run that stops before any scenario (``STOPPED``) is the harness knowing: it says what no
longer fits and runs nothing. When a fix lands, this test fails until ``TODAY`` is updated,
so the table cannot go stale silently.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alma_p2p.facts import CalibratedFacts, load_register
from tests.calibrated import calibrate_world, demo_profiles, profiles_args
from tests.suite_runner import REPO, demo_world, institution, junit_test_id, record_of, run_live

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
SENT_ON_ITS_OWN = "test_a_new_request_is_sent_on_its_own_to_a_partner_of_the_peertopeer_rota"
ROUND_TRIP = "test_a_request_the_lender_rejects_moves_on_along_the_borrowers_rota"
SUPPLIED_TRIP = "test_a_request_the_lender_can_supply_reaches_the_lenders_pickfromshelf_list"
CAMPUS_AT = at(CAMPUS, "demo-university")
SINGLE = at(
    "test_a_request_at_a_singlelibrary_institution_is_owned_by_its_one_library", "demo-college"
)
TEMP_ITEMS = at(
    "test_each_received_requests_temporary_item_is_where_the_temporary_item_rule_puts_it",
    "demo-university",
    "demo-college",
)
REJECTED_EXAMPLES = (
    "a title whose items are all on loan-is rejected-Reject Request When No Available Items",
    "a title whose only available item is not requestable-is rejected-"
    "Reject Request When No Requestable Items",
    "a title held only electronically-is rejected-Reject Request When Only Electronic Available",
)


REJECTS = at(LEND, "demo-lender", examples=REJECTED_EXAMPLES)
EVERYWHERE = ("demo-university", "demo-college", "demo-lender")
JOB = at("test_the_job_is_active_and_runs_every_day_at_the_agreed_time", *EVERYWHERE)
JOB_RUNS = at("test_the_jobs_recent_runs_did_not_fail", *EVERYWHERE)
TRIP = at(ROUND_TRIP, "demo-university")
NOT_HELD_EXAMPLE = (
    "a title the lender does not hold-is not left waiting-Automatically Locate Resource"
)
ACCEPTED_EXAMPLE = "an available, requestable title-is accepted-Automatically Locate Resource"

DESK = "test_the_resource_sharing_desk_serves_the_temporary_locations"
EVERY_INSTITUTION = ("demo-university", "demo-college", "demo-lender")

# Uncalibrated runs: no entry is a fail. Each one is a scenario whose evidence is absent
# until ``alma-p2p calibrate`` records the fact (``CALIBRATED`` shows it then ends right).
TODAY: dict[tuple[str, str], dict[str, str] | Stopped] = {
    # Alma creates the request for its default RS library: without calibration it is not
    # known whether that is Alma's rule or a fault, so the line says what to check by hand.
    ("borrowing.no_rs_library_error", "default_rs_library"): dict.fromkeys(
        at(NO_RS, "demo-university"), "cannot tell"
    ),
    # An API that creates the request for a group its rules exclude cannot be told apart
    # from rules that let the group borrow: cannot tell, never a fail.
    ("borrowing.excluded_group_refused", "created"): {
        "test_a_patron_of_a_user_group_that_may_not_borrow_is_refused[demo-university]": (
            "cannot tell"
        )
    },
    # A reject code the harness does not know is not a verdict until calibration records it.
    ("lending.reject_status_code", "REJECT"): dict.fromkeys([*REJECTS, *TRIP], "cannot tell"),
    ("lending.reject_status_code", "other"): dict.fromkeys([*REJECTS, *TRIP], "cannot tell"),
    # A request still waiting at the deadline may be rejected later by a job.
    ("lending.auto_reject_timing", "by_job"): dict.fromkeys([*REJECTS, *TRIP], "cannot tell"),
    # A location answer without circ_desk (as a real capture has) cannot show the RS desk.
    ("location.circ_desk_fields", "absent"): dict.fromkeys(
        at(DESK, *EVERY_INSTITUTION), "cannot tell"
    ),
    # A sent code the harness does not know: sent or not, it cannot tell until calibrated.
    ("borrowing.request_sent_code", "other"): dict.fromkeys(
        [*at(SENT_ON_ITS_OWN, "demo-university", "demo-college"), *TRIP], "cannot tell"
    ),
    # Alma refusing a request without owner at a single-library institution may be its rule:
    # the other scenarios name the one library instead; this one says what to check.
    ("borrowing.owner_without_rs_library", "refused"): dict.fromkeys(SINGLE, "cannot tell"),
    # A request owned by its pickup library, or refused picked up elsewhere (then picked up
    # at its owner): until calibrated, ownership by the patron's library cannot be told from
    # it (calibrated as refused, the requests are picked up at their owner and pass).
    ("borrowing.pickup_other_library", "owner_is_pickup"): dict.fromkeys(CAMPUS_AT, "cannot tell"),
    ("borrowing.pickup_other_library", "refused"): dict.fromkeys(CAMPUS_AT, "cannot tell"),
    # An accepted request missing from the pick-from-shelf list at a desk of the library may
    # be Alma listing it only once staff print the pick slip.
    ("round_trip.requested_resources_lending", "not_listed"): dict.fromkeys(
        at(SUPPLIED_TRIP, "demo-university"), "cannot tell"
    ),
    # A temporary bib left visible, or an item answer without the flag: whether Alma hides
    # temporary bibs by itself is not known, so the line says where to look by hand.
    ("borrowing.temp_bib_suppressed", "not_suppressed"): dict.fromkeys(TEMP_ITEMS, "cannot tell"),
    ("item.bib_suppress_field", "absent"): dict.fromkeys(TEMP_ITEMS, "cannot tell"),
    # A lender whose locate profile matches by ISBN/OCLC only finds nothing by title: every
    # request the lender should locate is a broken premise, with where to look.
    ("lending.locate_by_title", "identifier"): dict.fromkeys(
        [
            *at(LEND, "demo-lender", examples=REJECTED_EXAMPLES),
            *at(LEND, "demo-lender", examples=(ACCEPTED_EXAMPLE,)),
            *TRIP,
            *at(SUPPLIED_TRIP, "demo-university"),
        ],
        "cannot tell",
    ),
    # A finished request missing from the task list may be Alma listing only active ones.
    ("lending.task_list_includes_completed", "active_only"): dict.fromkeys(
        [*REJECTS, *TRIP, *at(LEND, "demo-lender", examples=(NOT_HELD_EXAMPLE,))], "cannot tell"
    ),
}

# The expiry job's evidence in a form the harness cannot read: a schedule whose description
# gives no time, run codes it does not know, a job name in another language.
JOB_EVIDENCE_UNREAD: dict[tuple[str, str], dict[str, str]] = {
    ("jobs.schedule_desc_time", "coded"): dict.fromkeys(JOB, "cannot tell"),
    ("jobs.run_status_codes", "other"): dict.fromkeys([*JOB, *JOB_RUNS], "cannot tell"),
    ("jobs.name_not_localized", "localized"): dict.fromkeys([*JOB, *JOB_RUNS], "cannot tell"),
    ("jobs.instance_shape", "no_submit_date"): dict.fromkeys([*JOB, *JOB_RUNS], "cannot tell"),
}
TODAY.update(JOB_EVIDENCE_UNREAD)

# Staff roles Alma shows otherwise: scoped to the institution, a desk role without its desk,
# the operator under another name. Not a fail: the line names the role to look at by hand.
STAFF = "test_each_resource_sharing_staff_account_holds_its_roles_at_its_library"
STAFF_EVIDENCE_UNREAD: dict[tuple[str, str], dict[str, str]] = {
    ("staff.role_scope_library", "institution"): dict.fromkeys(
        at(STAFF, "demo-university", "demo-lender"), "cannot tell"
    ),
    ("staff.circ_desk_parameter", "none"): dict.fromkeys(
        at(STAFF, "demo-university", "demo-lender"), "cannot tell"
    ),
    # Only the Twin Cities account holds the operator (the others hold the manager, 215).
    ("staff.fulfillment_operator_role", "localized"): dict.fromkeys(
        at(STAFF, "demo-university"), "cannot tell"
    ),
}
TODAY.update(STAFF_EVIDENCE_UNREAD)

# An Analytics subject area without resource sharing rows: their absence proves nothing.
TERMS = "test_the_loan_borrowing_and_lending_resource_sharing_terms_of_use_exist"
TODAY[("analytics.rs_terms_of_use", "non_rs_only")] = dict.fromkeys(
    at(TERMS, "demo-university"), "cannot tell"
)

# A partner record without expiry_time: the expiry days are a line to check by hand.
WORKFLOW = "test_each_partner_uses_the_agreed_workflow_profiles_and_expiry_time"
for _word in ("absent", "iso_18626"):
    TODAY[("partner.expiry_time_field", _word)] = dict.fromkeys(
        at(WORKFLOW, *EVERYWHERE), "cannot tell"
    )

# Runs after ``alma-p2p calibrate`` against the same world: what differs from the verdict
# under the assumed facts. The one entry is the evidence calibration cannot get: a lender
# that rejects only when a job runs looks, within the probe's minute, like one that never
# rejects, so the fact stays assumed and a request waiting at the deadline stays
# cannot tell (with the job to look for), never a fail.
CALIBRATED: dict[tuple[str, str], dict[str, str]] = {
    ("lending.auto_reject_timing", "by_job"): dict.fromkeys([*REJECTS, *TRIP], "cannot tell"),
    # A lender that rejects at once and whose task list shows only active requests has
    # dropped the request before the borrower's side can find it: the API cannot show the
    # arrival, so the round trip's reject leg is a line to check by hand.
    ("lending.task_list_includes_completed", "active_only"): dict.fromkeys(TRIP, "cannot tell"),
    # Calibrated or not, an Alma whose location answers have no circ_desk cannot show the
    # RS desk: the scenario is a line to check by hand.
    ("location.circ_desk_fields", "absent"): dict.fromkeys(
        at(DESK, *EVERY_INSTITUTION), "cannot tell"
    ),
    # A sandbox that owns a request by its pickup library shows, in the owner, where the
    # request is picked up: one picked up elsewhere is owned there, one picked up at the
    # patron's library would be owned there either way. No request the API can place proves
    # ownership by the patron's campus: a line to check the patron records by hand. (Refused,
    # calibrated, the requests are picked up at their owner and pass: Alma then accepts the
    # patron's library as owner only if the patron's record has it, 401608 otherwise.)
    ("borrowing.pickup_other_library", "owner_is_pickup"): dict.fromkeys(CAMPUS_AT, "cannot tell"),
    # Calibration records a refusal (with its code), but a request Alma creates for the
    # excluded patron cannot tell an API that ignores the Borrowing RS rules from rules that
    # let the group borrow (NOT_RECORDED): it stays cannot tell, as before.
    ("borrowing.excluded_group_refused", "created"): {
        "test_a_patron_of_a_user_group_that_may_not_borrow_is_refused[demo-university]": (
            "cannot tell"
        )
    },
}

# Calibration records the job's schedule form and its code table, but neither gives the time
# or says which unknown code means success; it cannot find a job named otherwise at all. The
# lines say what calibration saw and what to check by hand.
CALIBRATED.update(JOB_EVIDENCE_UNREAD)
# Calibration records how Alma shows staff roles, but not which library an institution-wide
# role serves, which desks a role without parameters covers, or which code is the operator.
CALIBRATED.update(STAFF_EVIDENCE_UNREAD)
# Calibration reads the profile's report and records a subject area without RS rows, but a
# report cannot show what its subject area lacks: the scenario stays cannot tell.
CALIBRATED[("analytics.rs_terms_of_use", "non_rs_only")] = dict.fromkeys(
    at(TERMS, "demo-university"), "cannot tell"
)
# Calibration learns that Alma does not give the expiry time; it cannot give it either.
for _word in ("absent", "iso_18626"):
    CALIBRATED[("partner.expiry_time_field", _word)] = dict.fromkeys(
        at(WORKFLOW, *EVERYWHERE), "cannot tell"
    )

# Alternatives a calibration cannot record (no probe within a minute tells them apart):
# calibration leaves them assumed, visibly, and their CALIBRATED verdicts stay cannot tell.
NOT_RECORDED = {
    # A table of one row given as an object shows only on a table of one row; the probe
    # reads a workflow-steps table of many, so it records the list form.
    ("code_table.row_key", "single"),
    ("jobs.name_not_localized", "localized"),
    ("lending.auto_reject_timing", "by_job"),
    # A request Alma creates for the excluded patron is removed at once and the fact stays
    # assumed: it cannot tell an API that ignores the Borrowing RS rules from rules that let
    # the group borrow (only a refusal is recorded, with its code).
    ("borrowing.excluded_group_refused", "created"),
    # The end of the rota shows only when the lender is its last partner; the demo profile's
    # rota goes on to Demo Valley College, so its calibration leaves the fact assumed (and the
    # scenario never reaches the end of the rota either).
    ("round_trip.end_of_rota_status", "cancelled"),
}

ALTERNATIVES = [(f.id, word) for f in load_register() for word in f.switches[1:]]


def read_by_steps(fact_id: str) -> bool:
    """Whether a step reads the fact from the institution's facts (``alma_facts``)."""
    return any(
        f'"{fact_id}"' in path.read_text()
        for path in (REPO / "src/alma_p2p/suite/steps").glob("*.py")
    )


# The alternatives whose verdicts calibration changes: those of facts the steps read.
CALIBRATABLE = [(fact_id, word) for fact_id, word in ALTERNATIVES if read_by_steps(fact_id)]


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
        out[junit_test_id(case)] = verdict
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


def test_today_and_calibrated_list_no_false_alarm() -> None:
    for table in (TODAY, CALIBRATED):
        for key, today in table.items():
            if isinstance(today, dict):
                alarms = sorted(t for t, v in today.items() if v in ("fail", "error"))
                assert not alarms, f"{key}: a correctly configured world fails {alarms}"
    assert set(CALIBRATED) <= set(CALIBRATABLE)


def test_the_steps_read_the_facts_whose_alternatives_change_verdicts() -> None:
    assert {fact for fact, _ in CALIBRATABLE} >= {
        "borrowing.owner_when_omitted",
        "borrowing.no_rs_library_error",
        "borrowing.pickup_other_library",
        "borrowing.temp_item_place",
        "lending.reject_status_code",
        "lending.auto_reject_timing",
    }


def _switched(calibrated: CalibratedFacts, fact_id: str, word: str) -> str | None:
    """The register value of switch ``word``, when the calibration recorded it."""
    entry = calibrated.facts.get(fact_id)
    if entry is None or entry.status != "calibrated":
        return None
    fact = load_register().fact(fact_id)
    values = {fact.switch: fact.assumed} | {a.switch: a.value for a in fact.alternatives}
    return values[word] if entry.value == values[word] else entry.value


@pytest.mark.parametrize(("fact_id", "word"), CALIBRATABLE)
def test_once_calibrated_a_correct_world_ends_as_under_the_assumed_facts(
    fact_id: str, word: str, assumed: Verdicts, tmp_path: Path
) -> None:
    world = demo_world()
    world["facts"] = {fact_id: word}
    profiles = demo_profiles(tmp_path / "institutions")
    calibration = calibrate_world(world, profiles)
    fact = load_register().fact(fact_id)
    played = next(a.value for a in fact.alternatives if a.switch == word)
    recorded = {name: _switched(c, fact_id, word) for name, c in calibration.items()}
    expected_missing = (fact_id, word) in NOT_RECORDED
    assert (played in recorded.values()) != expected_missing, (
        f"{fact_id}={word}: calibration recorded {recorded}"
    )
    run = run_live(world, tmp_path, *profiles_args(profiles))
    found = verdicts(tmp_path / "junit.xml")
    expected = assumed | CALIBRATED.get((fact_id, word), {})
    differ = {
        t: (expected[t], found.get(t, "not run")) for t in expected if found.get(t) != expected[t]
    }
    assert not differ, (
        f"{fact_id}={word}, calibrated: scenarios end otherwise than under the assumed facts "
        f"(expected → now): {differ}\n{run.output[-3000:]}"
    )


# One alternative of every fact the stand-in plays, all at once: the first alternatives in
# one world, the last in another. A fact with one alternative plays it in both.
# Left out of the combined worlds: a lender that locates nothing by title hides every
# lender-side fact (nothing is located, so no reject code, timing or list can show); its own
# world (test_an_alternative_changes_only_the_scenarios_that_rest_on_its_fact) covers it.
MASKS_OTHERS = {"lending.locate_by_title"}
COMBINED = {
    "first": {
        f.id: f.switches[1] for f in load_register() if f.switches and f.id not in MASKS_OTHERS
    },
    "last": {
        f.id: f.switches[-1] for f in load_register() if f.switches and f.id not in MASKS_OTHERS
    },
}


# Where facts played together end otherwise than each alone: "first" plays active_only with
# a lender that rejects after the first read, so the borrower finds the request while it is
# still active and the round trip's reject leg is proven after all.
# Both play a temporary bib left visible (borrowing.temp_bib_suppressed), which no
# calibration tells from a missing rule, and a pick-from-shelf list without lending requests
# (no probe either): the temporary items and the supplied round trip stay cannot tell. (The
# campus ownership ends as CALIBRATED says for borrowing.pickup_other_library.)
UNPROBED = at(SUPPLIED_TRIP, "demo-university")
COMBINED_OVERRIDES = {
    "first": dict.fromkeys(TRIP, "pass") | dict.fromkeys([*TEMP_ITEMS, *UNPROBED], "cannot tell"),
    "last": dict.fromkeys([*TEMP_ITEMS, *UNPROBED], "cannot tell"),
}


# What a probe cannot tell apart: a world playing the key looks like the value.
LOOKS_LIKE = {
    # They differ only for an inactive job; the demo world's expiry job is active.
    ("jobs.status_field", "next_run_only"): "absent",
    # Played with gateway.general_shape's plain form, the name comes as a plain string.
    ("gateway.general_institution_code", "name"): "plain",
    # At a single-library institution the default RS library is its one library.
    ("borrowing.owner_without_rs_library", "default_library"): "only_library",
}


# Probes that find the expiry job by its English name: a world that names it otherwise
# leaves their facts assumed (the calibration says so), whatever else it plays.
BY_JOB_NAME = {
    "jobs.status_field",
    "jobs.schedule_desc_time",
    "jobs.instances_newest_first",
    "jobs.documented_shape",
    "jobs.instance_shape",
}


def unprobed(played: dict[str, str]) -> set[str]:
    """The facts no probe can record in a world playing ``played`` together."""
    out: set[str] = set()
    if played.get("jobs.name_not_localized") == "localized":
        out |= BY_JOB_NAME
    elif played.get("jobs.instance_shape") == "no_submit_date":
        out.add("jobs.instances_newest_first")  # no dates to compare
    if played.get("item.bib_suppress_field") == "absent":
        out.add("borrowing.temp_bib_suppressed")  # the item answer carries no flag
    return out


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The facts a calibration of the demo world records (the others cannot be asked of it:
    a key without some API area, a daily limit)."""
    profiles = demo_profiles(tmp_path_factory.mktemp("probed") / "institutions")
    calibration = calibrate_world(demo_world(), profiles)
    return {
        fact_id
        for c in calibration.values()
        for fact_id, entry in c.facts.items()
        if entry.status == "calibrated"
    }


@pytest.mark.parametrize("which", sorted(COMBINED))
def test_calibrate_then_run_with_every_fact_played_otherwise(
    which: str, assumed: Verdicts, probed: set[str], tmp_path: Path
) -> None:
    # The first live run on a sandbox that differs from every guess at once.
    world = demo_world()
    world["facts"] = COMBINED[which]
    profiles = demo_profiles(tmp_path / "institutions")
    calibration = calibrate_world(world, profiles)
    for fact_id, word in COMBINED[which].items():
        fact = load_register().fact(fact_id)
        if (
            fact_id not in probed
            or (fact_id, word) in NOT_RECORDED
            or fact_id in unprobed(COMBINED[which])
        ):
            continue
        seen_as = LOOKS_LIKE.get((fact_id, word), word)
        recorded = {name: _switched(c, fact_id, seen_as) for name, c in calibration.items()}
        played = (
            fact.assumed
            if seen_as == fact.switches[0]
            else next(a.value for a in fact.alternatives if a.switch == seen_as)
        )
        assert played in recorded.values(), f"{fact_id}={word}: calibration recorded {recorded}"
    run = run_live(world, tmp_path, *profiles_args(profiles))
    found = verdicts(tmp_path / "junit.xml")
    expected = dict(assumed)
    for key in COMBINED[which].items():
        expected |= CALIBRATED.get(key, {})
    expected |= COMBINED_OVERRIDES.get(which, {})
    differ = {
        t: (expected[t], found.get(t, "not run")) for t in expected if found.get(t) != expected[t]
    }
    assert not differ, (
        f"{which} alternatives, calibrated: scenarios end otherwise than under the assumed "
        f"facts (expected → now): {differ}\n{run.output[-3000:]}"
    )


ALL_ON_LOAN = at(LEND, "demo-lender", examples=REJECTED_EXAMPLES[:1])[0]


@pytest.mark.parametrize(
    "facts",
    [
        {"lending.reject_status_code": "REJECT"},
        {"lending.reject_status_code": "other"},
        {"lending.auto_reject_timing": "after_first_read"},
        {"lending.reject_status_code": "other", "lending.auto_reject_timing": "after_first_read"},
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()),
)
def test_once_calibrated_a_lender_without_its_reject_flag_fails(
    facts: dict[str, str], tmp_path: Path
) -> None:
    world = demo_world()
    world["facts"] = facts
    profiles = demo_profiles(tmp_path / "institutions")
    calibrate_world(world, profiles, "demo-lender")
    river = record_of(institution(world, "01DEMO_LENDER")["libraries"], "code", "RIVER")
    river["lending"] = {"reject_when_no_available": False}

    run = run_live(world, tmp_path, "--institution", "demo-lender", *profiles_args(profiles))

    assert verdicts(tmp_path / "junit.xml")[ALL_ON_LOAN] == "fail", run.output[-3000:]
    assert "RIVER located it and left it waiting for staff" in run.output
    assert "tick 'Reject Request When No Available Items'" in run.output


def test_once_calibrated_as_created_a_refusal_is_a_finding_that_names_the_calibration(
    tmp_path: Path,
) -> None:
    world = demo_world()
    world["facts"] = {"borrowing.no_rs_library_error": "default_rs_library"}
    profiles = demo_profiles(tmp_path / "institutions")
    calibrate_world(world, profiles, "demo-university")
    world["facts"] = {}  # Alma now refuses with 401768

    run = run_live(world, tmp_path, "--institution", "demo-university", *profiles_args(profiles))

    no_rs = at(NO_RS, "demo-university")[0]
    assert verdicts(tmp_path / "junit.xml")[no_rs] == "fail", run.output[-3000:]
    assert "when calibrated on " in run.output
    assert "created such a request for its default RS library" in run.output
    assert "alma-p2p calibrate --institution demo-university" in run.output


def test_a_patron_without_library_who_has_one_is_a_broken_premise(tmp_path: Path) -> None:
    world = demo_world()
    world["facts"] = {"borrowing.no_rs_library_error": "default_rs_library"}
    users = institution(world, "01DEMO_STMARYS")["users"]
    record_of(users, "primary_id", "P2P-TEST-NORS-01")["rs_libraries"] = ["TC"]

    run = run_live(world, tmp_path, "--institution", "demo-university")

    no_rs = at(NO_RS, "demo-university")[0]
    assert verdicts(tmp_path / "junit.xml")[no_rs] == "cannot tell", run.output[-3000:]
    assert "the scenario's premise does not hold" in run.output
    assert "has resource sharing library TC in Alma" in run.output


@pytest.mark.parametrize("word", ["REJECT", "other"])
def test_a_request_rejected_with_the_calibrated_code_is_not_reported_left_in_alma(
    word: str, tmp_path: Path
) -> None:
    world = demo_world()
    world["facts"] = {"lending.reject_status_code": word}
    profiles = demo_profiles(tmp_path / "institutions")
    calibrate_world(world, profiles, "demo-lender")

    run = run_live(world, tmp_path, "--institution", "demo-lender", *profiles_args(profiles))

    assert all(verdicts(tmp_path / "junit.xml")[t] == "pass" for t in REJECTS), run.output
    code = {"REJECT": "REJECT", "other": "LENDER_REJECTED"}[word]
    assert f"still active ({code})" not in run.output
    # Only the control, which a lender leaves waiting for staff, is left for staff.
    assert run.output.count("LEFT IN ALMA") == 1
    assert "still active (REQUEST_CREATED_LEND)" in run.output


def test_once_calibrated_as_listed_a_request_missing_from_the_task_list_fails(
    tmp_path: Path,
) -> None:
    world = demo_world()
    profiles = demo_profiles(tmp_path / "institutions")
    calibrate_world(world, profiles, "demo-lender")
    # The task list no longer shows finished requests (a broken list, as far as the
    # calibration knows).
    world["facts"] = {"lending.task_list_includes_completed": "active_only"}

    run = run_live(world, tmp_path, "--institution", "demo-lender", *profiles_args(profiles))

    found = verdicts(tmp_path / "junit.xml")
    assert all(found[t] == "fail" for t in REJECTS), run.output[-3000:]
    assert "is missing from RIVER's lending task list filtered by status REJECTED" in run.output


def test_until_calibrated_a_request_created_for_a_patron_without_library_is_cannot_tell(
    tmp_path: Path,
) -> None:
    world = demo_world()
    world["facts"] = {"borrowing.no_rs_library_error": "default_rs_library"}

    run = run_live(world, tmp_path, "--institution", "demo-university")

    no_rs = at(NO_RS, "demo-university")[0]
    assert verdicts(tmp_path / "junit.xml")[no_rs] == "cannot tell", run.output[-3000:]
    assert "instead of refusing it with 401768 or 401607" in run.output
    assert "Fulfillment > Resource Sharing > Borrowing Requests, external identifier" in run.output
    assert "alma-p2p calibrate --institution demo-university" in run.output
    # What Alma created is cancelled and removed; nothing is left for staff.
    deleted = [e.path for e in run.app.request_log if e.method == "DELETE"]
    assert any("/users/P2P-TEST-NORS-01/resource-sharing-requests/" in p for p in deleted)
    assert "LEFT IN ALMA" not in run.output


class Renaming(httpx.BaseTransport):
    """Alma spelling a status code otherwise: every answer's ``old`` code reads ``new``."""

    def __init__(self, inner: httpx.BaseTransport, old: str, new: str) -> None:
        self._inner, self._old, self._new = inner, f'"{old}"'.encode(), f'"{new}"'.encode()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        body = response.read().replace(self._old, self._new)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=body)


def test_a_sent_code_alma_spells_otherwise_is_cannot_tell_until_calibrated_then_passes(
    tmp_path: Path,
) -> None:
    def renamed(inner: httpx.BaseTransport) -> httpx.BaseTransport:
        return Renaming(inner, "REQUEST_SENT", "SENT_TO_PARTNER")

    world = demo_world()
    scenario = at(SENT_ON_ITS_OWN, "demo-university")[0]
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    before = run_live(
        world, tmp_path / "before", "--institution", "demo-university", transport=renamed
    )
    assert verdicts(tmp_path / "before" / "junit.xml")[scenario] == "cannot tell", before.output
    assert "SENT_TO_PARTNER after" in before.output

    profiles = demo_profiles(tmp_path / "institutions")
    calibration = calibrate_world(world, profiles, "demo-university", wrapper=renamed)
    entry = calibration["demo-university"].facts["borrowing.request_sent_code"]
    assert (entry.status, entry.seen) == ("calibrated", "SENT_TO_PARTNER")
    after = run_live(
        world,
        tmp_path / "after",
        "--institution",
        "demo-university",
        *profiles_args(profiles),
        transport=renamed,
    )
    assert verdicts(tmp_path / "after" / "junit.xml")[scenario] == "pass", after.output[-3000:]


def test_once_calibrated_as_listed_a_location_answer_without_desks_fails(tmp_path: Path) -> None:
    world = demo_world()
    profiles = demo_profiles(tmp_path / "institutions")
    calibrate_world(world, profiles, "demo-lender")
    # The location answers no longer list desks (a broken answer, as far as the calibration
    # knows): the desk is missing, a finding.
    world["facts"] = {"location.circ_desk_fields": "absent"}

    run = run_live(world, tmp_path, "--institution", "demo-lender", *profiles_args(profiles))

    assert verdicts(tmp_path / "junit.xml")[at(DESK, "demo-lender")[0]] == "fail", run.output
    assert "borrowing location CLSBORR of RIVER has no circulation desk RS_DESK" in run.output


def test_until_calibrated_a_location_answer_without_desks_is_cannot_tell_with_where_to_look(
    tmp_path: Path,
) -> None:
    world = demo_world()
    world["facts"] = {"location.circ_desk_fields": "absent"}

    run = run_live(world, tmp_path, "--institution", "demo-lender")

    assert verdicts(tmp_path / "junit.xml")[at(DESK, "demo-lender")[0]] == "cannot tell"
    assert "lists no circulation desks at all" in run.output
    assert "alma-p2p calibrate --institution demo-lender" in run.output
    assert "Physical Location Circulation Desk List" in run.output


def test_a_single_library_institution_that_refuses_owner_less_requests_is_cannot_tell(
    tmp_path: Path,
) -> None:
    world = demo_world()
    world["facts"] = {"borrowing.owner_without_rs_library": "refused"}

    run = run_live(world, tmp_path, "--institution", "demo-college")

    found = verdicts(tmp_path / "junit.xml")
    assert found[SINGLE[0]] == "cannot tell", run.output[-3000:]
    assert "Alma refused the requests without a library of" in run.output
    assert "place the same request in Primo as this patron" in run.output
    # The scenarios about sending name the one library instead, and still prove sending.
    assert found[at(SENT_ON_ITS_OWN, "demo-college")[0]] == "pass"
