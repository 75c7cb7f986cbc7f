"""Steps about lending requests arriving at the institution from a P2P partner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pytest
from pytest_bdd import parsers, then, when

from alma_p2p import payloads
from alma_p2p.alma import AlmaAPIError, AlmaClient
from alma_p2p.alma.models import RsRequest
from alma_p2p.facts import Facts
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import broken_premise, cannot_tell
from alma_p2p.payloads import TestData
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.profile import Lending, LendingCase, Profile
from alma_p2p.writes import WriteSession

RS_LIBRARY = BY_ID["rs_library"]

# Statuses Alma shows while it is still locating (alma-api.md §4.4).
IN_PROGRESS = frozenset({"LOCATE_IN_PROCESS", None})
# Statuses a lending request does not leave by itself, besides the reject code (which is
# the institution's calibrated fact). UNVERIFIED(lending.final_status_codes)
ENDED = frozenset({"LOCATE_FAILED", "CANCELLED", "EXPIRED"})
# The located, waiting status of the control (captures/lending_requests_list_created.json).
WAITING = "REQUEST_CREATED_LEND"
# How the profile names a rejected request, whatever code Alma uses for it.
REJECTED = "REJECTED"
CONTROL = "available"
# The cases whose premise is read from the items' state before the request is sent.
PREMISES = frozenset({"all_on_loan", "not_requestable"})
LENDING_REQUESTS = "Fulfillment > Resource Sharing > Lending Requests"
MONITOR_JOBS = "Admin > Manage Jobs and Sets > Monitor Jobs"
REJECT_CODE = "lending.reject_status_code"
AUTO_REJECT_TIMING = "lending.auto_reject_timing"
TASK_LIST_COMPLETED = "lending.task_list_includes_completed"

# The titles of the feature's Examples, and the profile's lending case for each.
CASES = {
    "a title the lender does not hold": "not_held",
    "a title whose items are all on loan": "all_on_loan",
    "a title whose only available item is not requestable": "not_requestable",
    "a title held only electronically": "electronic_only",
    "an available, requestable title": "available",
}
# The Lending Information flag of the RS library each case proves (WRLC guide, "Resource
# Sharing Library" step 4); the feature's Examples name the same flag.
LENDING_FLAGS = {
    "not_held": "Automatically Locate Resource",
    "all_on_loan": "Reject Request When No Available Items",
    "not_requestable": "Reject Request When No Requestable Items",
    "electronic_only": "Reject Request When Only Electronic Available",
    "available": "Automatically Locate Resource",
}


@dataclass(frozen=True)
class Sent:
    """A lending request as the borrowing partner sent it (Alma's answer to the create)."""

    case: str
    expect: tuple[str, ...]
    request: RsRequest
    partner: str
    library: str
    title: str
    items: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"Lending request {self.request.request_id} ({self.case.replace('_', ' ')})"


def _lending(profile: Profile) -> Lending:
    assert profile.lending is not None, "@lending scenarios run only with a lending section"
    return profile.lending


def _flag_path(library: str, flag: str) -> str:
    return RS_LIBRARY.fix("lending_flag", library=library, flag=flag)


@when(parsers.parse("the borrowing partner requests {what}"), target_fixture="sent")
def _(
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_test_data: TestData,
    what: str,
) -> Sent:
    lending = _lending(alma_institution)
    case_name = CASES[what]
    case: LendingCase = getattr(lending, case_name)
    if case.title is None:
        title, author = alma_test_data.unheld_title()
    else:
        title, author = case.title, None
    body = payloads.lending_request(
        partner=lending.borrower_partner,
        owner=lending.rs_library,
        title=title,
        author=author,
        external_id=alma_test_data.external_id(),
    )
    if case_name != CONTROL and set(case.expect) & set(lending.available.expect):
        pytest.fail(
            f"{alma_institution.name}: profile.yaml lending.{case_name}.expect "
            f"({', '.join(case.expect)}) shares a status with the control "
            f"({', '.join(lending.available.expect)}), so a lender without "
            f"'{LENDING_FLAGS[case_name]}' would pass; list only the statuses that prove it",
            pytrace=False,
        )
    _premise_holds(case_name, case, title, lending.rs_library, alma)
    request = alma_writes.create_lending_request(lending.borrower_partner, body)
    return Sent(
        case_name,
        tuple(case.expect),
        request,
        lending.borrower_partner,
        lending.rs_library,
        title,
        tuple(case.items),
    )


def reject_code(facts: Facts) -> str | None:
    """The code of "Rejected the borrower request" at this institution: what its sandbox
    showed (``alma-p2p calibrate``), else the register's assumption; None when calibration
    found another code without being able to tell which."""
    entry = facts.entry(REJECT_CODE)
    if entry is not None and facts.is_calibrated(REJECT_CODE) and entry.seen:
        return entry.seen  # the code of the row that the tables describe as a reject
    value = facts.value(REJECT_CODE)
    return value if value.replace("_", "").isalpha() and value.isupper() else None


def rejects_within_deadline(facts: Facts) -> bool:
    """Whether this institution's sandbox showed (calibrated) that its lender rejects
    within the poll, not later by a job: only then is a request still waiting a fail."""
    if not facts.is_calibrated(AUTO_REJECT_TIMING):
        return False
    by_job = next(
        a for a in facts.register.fact(AUTO_REJECT_TIMING).alternatives if a.switch == "by_job"
    )
    return facts.value(AUTO_REJECT_TIMING) != by_job.value


def _final(status: str | None, rejected: str | None) -> bool:
    return status in ENDED or (status is not None and status == rejected)


def _settled(sent: Sent, request: RsRequest, rejected: str | None) -> bool:
    """A final status; for the control also a located, waiting request."""
    status = request.status.value
    if _final(status, rejected):
        return True
    return sent.case == CONTROL and status == WAITING and bool(request.mms_id)


def _premise_holds(
    case_name: str, case: LendingCase, title: str, library: str, alma: AlmaClient
) -> None:
    """Before a request is sent to prove a reject flag: the title's items at the lender are
    still in the state the flag is about (all on loan; on the shelf with a policy resource
    sharing may not lend), or the scenario would blame, or credit, the wrong flag."""
    if case_name not in PREMISES or not case.items:
        return
    where = f"profile.yaml (lending.{case_name})"
    for barcode in case.items:
        try:
            data = alma.item_by_barcode(barcode).item_data
        except AlmaAPIError as exc:
            if not exc.refusal:
                raise  # Alma busy or failing: the harness's error verdict
            broken_premise(
                f"item {barcode} of '{title}' is not in Alma at {library} "
                f"({', '.join(exc.codes) or exc.status}): correct the barcode in {where}"
            )
        on_shelf = data.base_status.value == "1" and not data.process_type.value
        if case_name == "all_on_loan" and on_shelf:
            broken_premise(
                f"item {barcode} of '{title}' is back on the shelf at {library}, so "
                "the request proves nothing about 'Reject Request When No Available Items': "
                f"loan every item of the title to a test patron again, or name another title "
                f"in {where}"
            )
        if case_name != "not_requestable":
            continue
        if not on_shelf:
            state = data.process_type.value or "not in place"
            broken_premise(
                f"item {barcode} of '{title}' is {state} at {library}, so a reject would "
                "prove 'Reject Request When No Available Items', not 'No Requestable Items': "
                f"return it to the shelf, or name another title in {where}"
            )
        if case.policy is not None and data.policy.value != case.policy:
            broken_premise(
                f"item {barcode} of '{title}' has item policy {data.policy.value or 'none'}, "
                f"not {case.policy}, so it may be requestable after all: give it policy "
                f"{case.policy} again (Resources > Physical Items > Edit item), or correct "
                f"{where}"
            )


# Gives the request as it ended to the steps after it; the When's answer stays Alma's answer.
@then(parsers.parse('the lending request ends as "{flag}" requires'), target_fixture="ended")
def _(
    sent: Sent,
    flag: str,
    alma: AlmaClient,
    alma_writes: WriteSession,
    alma_institution: Profile,
    alma_poll_interval: float,
    alma_evidence: list[str],
    alma_facts: Facts,
) -> RsRequest:
    if flag != LENDING_FLAGS[sent.case]:
        pytest.fail(
            f"the Examples pair {sent.case} with {flag!r}, not {LENDING_FLAGS[sent.case]!r}"
        )
    request_id = sent.request.request_id
    assert request_id, "Alma answered the create without a request_id"
    deadline = _lending(alma_institution).settle_seconds
    rejected = reject_code(alma_facts)
    try:
        final = poll(
            lambda: alma_writes.lending_request(sent.partner, request_id),
            lambda r: _settled(sent, r, rejected),
            what=f"lending request {request_id} reaching its final status",
            deadline=deadline,
            interval=alma_poll_interval,
        )
    except DeadlineExceeded as exc:
        final = cast(RsRequest, exc.last)  # what the poll last read
    status, located = final.status.value, bool(final.mms_id)
    if _final(status, rejected):
        alma_writes.ended(request_id)  # cleanup need not take another code for "active"
    alma_evidence.append(f"request {request_id}: status={status} mms_id={final.mms_id or 'none'}")
    look = f"look at request {request_id} in Alma ({LENDING_REQUESTS}, {sent.library})"
    if status in IN_PROGRESS:
        cannot_tell(
            f"{sent.name} was still {status or 'without status'} after {deadline} s; {look}"
        )
    if not (_final(status, rejected) or status == WAITING):
        calibrate = f"alma-p2p calibrate --institution {alma_institution.name}"
        cannot_tell(
            f"{sent.name} ended {status}, a status the harness does not know "
            f"(the reject code here is {_reject_known(alma_facts, rejected)}); {look}, and "
            f"run {calibrate} to record the sandbox's reject code"
        )
    said = REJECTED if status == rejected else status
    if said in sent.expect and (sent.case != CONTROL or located):
        return final
    path = _flag_path(sent.library, flag)
    if status == "LOCATE_FAILED" and sent.case != "not_held":
        # UNVERIFIED(lending.locate_by_title): the harness's requests carry a title only.
        broken_premise(
            f"{sent.library} could not find '{sent.title}' in its catalogue, so the request "
            f"proves nothing about '{flag}': correct the title in profile.yaml "
            f"(lending.{sent.case}) or catalogue it at the lender; if the title is there, the "
            "lender's locate profile may match by ISBN/ISSN or OCLC number only (Configuration "
            "> Resource Sharing > Locate Profiles), which a request by title cannot meet"
        )
    if sent.case == CONTROL:
        if status == WAITING:
            hint = f"{sent.library} did not locate it in its catalogue; {path}"
        else:
            hint = (
                f"{sent.library} must locate and accept a title it can lend; check that the item "
                "is available and requestable for resource sharing (fulfillment unit rules, "
                f"Lending Resource Sharing terms of use) and {path}"
            )
    elif status == WAITING and not located:
        locate = _flag_path(sent.library, LENDING_FLAGS[CONTROL])
        hint = f"{sent.library} never located it, so no reject rule could apply; {locate}"
    elif status == WAITING:
        if not rejects_within_deadline(alma_facts):
            # UNVERIFIED(lending.auto_reject_timing): unless calibrated, a reject may come
            # later, when a scheduled job runs; waiting at the deadline proves nothing.
            cannot_tell(
                f"{sent.name} was still {WAITING} (located) after {deadline} s, and it is not "
                "known whether this sandbox rejects at once or only when a scheduled job runs "
                f"(not calibrated: alma-p2p calibrate --institution {alma_institution.name}). "
                f"Look in {MONITOR_JOBS} for a resource sharing job run since, then {look}: "
                f"if it is still {WAITING}, {path}"
            )
        hint = f"{sent.library} located it and left it waiting for staff; {path}"
    else:
        hint = f"{sent.library} must reject it: {path}"
    pytest.fail(
        f"{sent.name} ended {status}{'' if located else ' (not located)'} within {deadline} s, "
        f"expected {' or '.join(sent.expect)}: {hint}",
        pytrace=False,
    )


def _reject_known(facts: Facts, rejected: str | None) -> str:
    if rejected is None:
        return "another code, not recorded"
    how = "calibrated" if facts.is_calibrated(REJECT_CODE) else "assumed, not calibrated"
    return f"{rejected}, {how}"


@then("the lending task list shows it with that status")
def _(
    sent: Sent,
    ended: RsRequest,
    alma: AlmaClient,
    alma_facts: Facts,
    alma_institution: Profile,
) -> None:
    status = ended.status.value
    listed = alma.lending_task_list(sent.library, status=status, partner=sent.partner)
    if not any(r.request_id == ended.request_id for r in listed):
        if _final(status, reject_code(alma_facts)):
            # UNVERIFIED(lending.task_list_includes_completed): whether a request Alma has
            # finished with is listed at all is the institution's calibrated fact.
            listing = alma_facts.value(TASK_LIST_COMPLETED)
            if not alma_facts.is_calibrated(TASK_LIST_COMPLETED):
                cannot_tell(
                    f"Lending request {ended.request_id} ({status}) is not in {sent.library}'s "
                    f"lending task list filtered by status {status}, and it is not known "
                    "whether Alma lists requests it has finished with (not calibrated: "
                    f"alma-p2p calibrate --institution {alma_institution.name}). Look "
                    f"for it in {LENDING_REQUESTS} ({sent.library}): staff should find it "
                    f"there with status {status}"
                )
            if listing != alma_facts.register.fact(TASK_LIST_COMPLETED).assumed:
                return  # as calibrated: a finished request drops off the list
        pytest.fail(
            f"Lending request {ended.request_id} ({status}) is missing from "
            f"{sent.library}'s lending task list filtered by status {status}: staff would not "
            f"see it ({RS_LIBRARY.fix('lending_requests')})",
            pytrace=False,
        )
