"""The read-only probes: the gateway's answers and per-second threshold, list shapes, a
location's and a library's desks, the expiry job, a partner, an item, an Analytics report,
error codes and workflow-step code tables.
Each registers itself in :data:`~alma_p2p.calibrate.probing.PROBES` on import."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from alma_p2p import polling
from alma_p2p.alma import AlmaClient, AlmaContractError, AlmaDailyLimitReached, AlmaError
from alma_p2p.alma.errors import error_class_for
from alma_p2p.alma.gateway import ANALYTICS_PROBE, READ_PROBES, REGION_HOSTS
from alma_p2p.alma.models import code_table_rows
from alma_p2p.alma.parsing import looks_like_html, parse_analytics
from alma_p2p.calibrate.probing import (
    PROBES,
    Answer,
    NotAsked,
    Probe,
    ProbeFailed,
    Probing,
    Seen,
    alternative,
    error_codes,
    evidence,
    is_xml,
    json_or_none,
    probe,
    status_and_codes,
    unexpected,
)
from alma_p2p.facts import Fact

# A key no Alma gives out: the invalid-key probe sends it (it is not a secret).
WRONG_KEY = "l7xx00000000calibrateDeliberatelyWrongKey"
# The job is found by its English name: UNVERIFIED(jobs.name_not_localized), which a
# calibration that finds it confirms.
EXPIRED_JOB = "Expired Resource Sharing Requests"
# A lending request accepted and located, waiting for staff to pick the item.
WAITING = "REQUEST_CREATED_LEND"
# Rows per Analytics page, as AlmaClient.analytics_report asks (so its first page is cached).
REPORT_PAGE = 1000


@probe("gateway.environment_type_form")
def _environment_type_form(p: Probing, fact: Fact) -> Answer:
    response = p.ask("/conf/general")
    data = json_or_none(response) or {}
    value = data.get("environment_type")
    shown = {"environment_type": value}
    if isinstance(value, str) and value in ("sandbox", "production"):
        return Seen(fact.assumed, evidence(response, shown))
    if isinstance(value, str) and value.lower() in ("sandbox", "production"):
        return Seen(alternative(fact, 1), evidence(response, shown))
    if isinstance(value, dict) and "value" in value:
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"environment_type is {json.dumps(value)}", shown)


@probe("gateway.probe_body_format")
def _probe_body_format(p: Probing, fact: Fact) -> Answer:
    response = p.ask("/users/operation/test")
    if not response.is_success:
        raise ProbeFailed(f"the Users self-test answered {status_and_codes(response)}")
    data = json_or_none(response)
    if isinstance(data, dict) and "institutionCode" in str(data.get("test", "")):
        return Seen(fact.assumed, evidence(response))
    if is_xml(response) and b"<test>" in response.content:
        return Seen(alternative(fact, 0), evidence(response))
    if b"institutionCode" in response.content and data is None:
        return Seen(alternative(fact, 1), evidence(response))
    return unexpected(response, f"a body of {len(response.content)} bytes (see evidence)")


@probe("gateway.invalid_key_status")
def _invalid_key_status(p: Probing, fact: Fact) -> Answer:
    with AlmaClient(
        base_url=p.base_url,
        api_key=WRONG_KEY,
        rate_per_second=p.settings.rate,
        timeout=p.settings.timeout,
        max_attempts=1,
        transport=p.transport,
    ) as wrong:
        wrong.on_response(p.heard)
        response = p.answer_of(lambda: wrong.get_json("/conf/test"))
    if response is None:
        raise ProbeFailed("GET /conf/test with a wrong key got no answer")
    codes = error_codes(response)
    if response.status_code == 403:
        return Seen(fact.assumed, evidence(response))
    if response.status_code == 400 and "UNAUTHORIZED" in codes:
        return Seen(alternative(fact, 0), evidence(response))
    if response.status_code == 401:
        return Seen(alternative(fact, 1), evidence(response))
    return unexpected(response, status_and_codes(response))


@probe("gateway.unauthorized_as_xml")
def _unauthorized_form(p: Probing, fact: Fact) -> Answer:
    for area in (*READ_PROBES, ANALYTICS_PROBE):
        response = p.ask(area.path)
        if "UNAUTHORIZED" not in error_codes(response):
            continue
        if is_xml(response):
            return Seen(fact.assumed, evidence(response))
        if json_or_none(response) is not None:
            return Seen(alternative(fact, 0), evidence(response))
        return unexpected(response, status_and_codes(response))
    return NotAsked("the key has every API area the harness reads, so none could be asked")


@probe("gateway.unsupported_method_answer")
def _unsupported_method(p: Probing, fact: Fact) -> Answer:
    """PATCH on the Users self-test, which takes GET and POST only: asked only when the POST
    self-test says the key may write in Users, so UNAUTHORIZED is not the key's lack of the
    area. Nothing is created (the write gate lets self-tests through)."""
    area = "/users/operation/test"
    allowed = p.answer_of(lambda: p.client.check_write_permission(area))
    if allowed is None or not allowed.is_success:
        return NotAsked(f"the key may not write in Users (POST {area} was refused)")
    response = p.answer_of(lambda: p.client.patch_self_test(area))
    if response is None:
        raise ProbeFailed(f"PATCH {area} got no answer from Alma")
    codes = error_codes(response)
    if response.status_code == 400 and "60101" in codes:
        return Seen(fact.assumed, evidence(response))
    if response.status_code == 405:
        return Seen(alternative(fact, 0), evidence(response))
    if "UNAUTHORIZED" in codes:
        # Refused as a key without the area would be, though this key may write in Users.
        seen = "UNAUTHORIZED for a key that may write in Users"
        return Seen(alternative(fact, 1), evidence(response), seen=seen)
    return unexpected(response, status_and_codes(response))


@probe("gateway.sandbox_same_host")
def _sandbox_same_host(p: Probing, fact: Fact) -> Answer:
    """The sandbox guard's own answer (memoised: no call of its own). It is asked only after
    the guard passed, so it can only confirm: a key that reached production on this host, or
    no Alma at all, stopped the calibration before any probe."""
    host = urlsplit(p.base_url).hostname or ""
    if host not in REGION_HOSTS.values():
        return NotAsked(
            f"the calibration asked {host}, not a region gateway (api-<region>.hosted."
            "exlibrisgroup.com): with ALMA_BASE_URL unset it asks the profile's region host"
        )
    response = p.ask("/conf/general")
    data = json_or_none(response) or {}
    shown = {"host": host, "environment_type": data.get("environment_type")}
    return Seen(fact.assumed, evidence(response, shown))


# The per-second burst: Configuration self-tests at the harness's own rate, about 2.5 s at the
# default 10 a second. The fact's probe text names the number: they count against the daily
# allowance.
BURST_CALLS = 25
BURST_PATH = "/conf/test"
FACT_RATE = 10.0  # the calls per second gateway.sandbox_per_second_threshold is about


def _now() -> float:
    """When a call of the burst left, on the clock the throttle waits on (real time,
    unless a harness test runs on virtual time)."""
    return polling.CLOCK.monotonic()


@dataclass
class _Tally:
    """The answers Alma gives while a burst is under way."""

    listening: bool = False
    answers: list[httpx.Response] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)

    def hear(self, response: httpx.Response) -> None:
        if self.listening:
            self.answers.append(response)


@probe("gateway.sandbox_per_second_threshold")
def _per_second_threshold(p: Probing, fact: Fact) -> Answer:
    """``BURST_CALLS`` GETs of ``/conf/test`` through the calibration's own client: its
    throttle paces them together with every other call of the run, as in a suite run (a
    second client would add its rate to the first's). Stops at the first call that met a
    429; retried calls count as the answers they got."""
    rate = p.settings.rate
    if rate < FACT_RATE:
        return NotAsked(
            f"the harness runs at {rate:g} calls per second (ALMA_RATE), below the "
            f"{FACT_RATE:g} this fact is about; calibrate with ALMA_RATE={FACT_RATE:g} to ask"
        )
    tally = _Tally(listening=True)
    p.client.on_response(tally.hear)
    sent = 0
    spacing = 1 / FACT_RATE
    # A quiet second first: the calibration's calls before the burst are not in its second.
    polling.CLOCK.sleep(1.0)
    try:
        while sent < BURST_CALLS:
            # Paced at the fact's 10 a second, not the harness's rate (up to 100): a 429 at
            # a faster pace would say nothing about 10.
            now = _now()
            if tally.sent_at and now < tally.sent_at[-1] + spacing:
                polling.CLOCK.sleep(tally.sent_at[-1] + spacing - now)
                now = tally.sent_at[-1] + spacing
            sent += 1
            tally.sent_at.append(now)
            before = len(tally.answers)
            try:
                p.client.get_json(BURST_PATH, cache=False)
            except AlmaError as exc:  # an error answer is heard; no answer is no burst
                if len(tally.answers) == before:
                    raise ProbeFailed(f"GET {BURST_PATH}: {exc}") from exc
            if any(r.status_code == 429 for r in tally.answers[before:]):
                break
    finally:
        tally.listening = False
    return _burst_answer(fact, tally, sent)


def _busiest_second(sent_at: list[float]) -> int:
    """The most calls that left within one second of each other."""
    return max(sum(1 for t in sent_at[i:] if t - start < 1.0) for i, start in enumerate(sent_at))


def _burst_answer(fact: Fact, tally: _Tally, sent: int) -> Answer:
    answers = tally.answers
    other = [r for r in answers if not r.is_success and r.status_code != 429]
    if other:
        raise ProbeFailed(f"GET {BURST_PATH} answered {status_and_codes(other[0])}")
    too_many = [r for r in answers if r.status_code == 429]
    for response in too_many:
        left = response.headers.get("X-Exl-Api-Remaining", "")
        calls_left = int(left) if left.isdigit() else None
        if error_class_for(429, error_codes(response), calls_left) is AlmaDailyLimitReached:
            raise ProbeFailed("the daily API allowance is used up; calibrate again tomorrow")
    pace = f"{FACT_RATE:g} per second"
    if not too_many:
        if _busiest_second(tally.sent_at) < FACT_RATE:
            # No 429 at a slower pace says nothing about 10 a second.
            return NotAsked(
                f"Alma answered too slowly for the burst to reach {FACT_RATE:g} calls in any "
                "second, so it shows nothing either way (nor can the harness go faster)"
            )
        shown = {
            "calls": sent,
            "paced at": pace,
            "busiest second": f"{FACT_RATE:g} calls or more",
            "answered HTTP 429": 0,
        }
        return Seen(fact.assumed, evidence(answers[-1], shown))
    codes = error_codes(too_many[0])
    shown = {
        "calls": sent,
        "answers": len(answers),
        "paced at": pace,
        "answered HTTP 429": len(too_many),
        "errorCode": list(codes),
    }
    seen = (
        f"HTTP 429{f' {codes[0]}' if codes else ''} at call {sent} of {BURST_CALLS} paced at "
        f"{pace} ({len(too_many)} of {len(answers)} answers)"
    )
    return unexpected(too_many[0], seen, shown)


@probe("lists.empty_page_shape")
def _empty_page_shape(p: Probing, fact: Fact) -> Answer:
    library = p.profile.resource_sharing_libraries[0].code
    # No request ever has this status: the list is empty by construction.
    params: dict[str, str | int] = {"library": library, "status": "EXPIRED", "limit": 10}
    response = p.ask("/task-lists/rs/lending-requests", params)
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"the lending task list answered {status_and_codes(response)}")
    if data.get("total_record_count") not in (0, "0"):
        raise ProbeFailed(f"lending requests in status EXPIRED at {library} are not an empty list")
    others = {k: v for k, v in data.items() if k != "total_record_count"}
    if not others:
        return Seen(fact.assumed, evidence(response))
    if any(v == [] for v in others.values()):
        return Seen(alternative(fact, 0), evidence(response))
    if any(v is None for v in others.values()):
        return Seen(alternative(fact, 1), evidence(response))
    return unexpected(response, f"keys {sorted(data)}")


def _rs_location(p: Probing) -> tuple[str, str]:
    lib = p.profile.resource_sharing_libraries[0]
    return lib.code, lib.borrowing_location


@probe("location.circ_desk_fields")
def _location_circ_desks(p: Probing, fact: Fact) -> Answer:
    library, location = _rs_location(p)
    response = p.ask(f"/conf/libraries/{library}/locations/{location}")
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"location {location} of {library}: {status_and_codes(response)}")
    desks = data.get("circ_desk")
    shown = {"circ_desk": desks}
    if not desks:
        return Seen(alternative(fact, 0), evidence(response, shown))
    first = desks[0] if isinstance(desks, list) else desks
    wanted = {"circ_desk_code", "circ_desk_name", "check_in", "check_out", "reshelve"}
    if isinstance(first, dict) and wanted <= set(first):
        flags = [first[k] for k in ("check_in", "check_out", "reshelve")]
        if all(isinstance(f, bool) for f in flags):
            return Seen(fact.assumed, evidence(response, shown))
    if isinstance(first, dict):
        return Seen(alternative(fact, 1), evidence(response, shown))
    return unexpected(response, f"circ_desk is {type(desks).__name__}", shown)


def _expiry_job(p: Probing) -> tuple[httpx.Response, dict[str, Any] | None]:
    response = p.ask("/conf/jobs", {"type": "SCHEDULED", "limit": 100})
    data = json_or_none(response) or {}
    jobs = data.get("job") or []
    job = next((j for j in jobs if isinstance(j, dict) and j.get("name") == EXPIRED_JOB), None)
    return response, job


@probe("jobs.status_field")
def _job_status(p: Probing, fact: Fact) -> Answer:
    response, job = _expiry_job(p)
    if job is None:
        raise ProbeFailed(f"no scheduled job named {EXPIRED_JOB!r} in GET /conf/jobs")
    shown = {k: job.get(k) for k in ("name", "status", "schedule", "next_run")}
    status = job.get("status")
    if isinstance(status, dict) and status.get("value") in ("ACTIVE", "INACTIVE"):
        return Seen(fact.assumed, evidence(response, shown))
    if status is None:
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"status is {json.dumps(status)}", shown)


@probe("jobs.schedule_desc_time")
def _job_schedule(p: Probing, fact: Fact) -> Answer:
    response, job = _expiry_job(p)
    if job is None:
        raise ProbeFailed(f"no scheduled job named {EXPIRED_JOB!r} in GET /conf/jobs")
    shown = {k: job.get(k) for k in ("name", "schedule", "next_run")}
    desc = str((job.get("schedule") or {}).get("desc") or "")
    daily = "every day" in desc.lower() and re.search(r"\b[0-2]\d:[0-5]\d\b", desc)
    if daily and not re.search(r"\b(am|pm)\b", desc.lower()):
        return Seen(fact.assumed, evidence(response, shown))
    if re.search(r"\d:\d\d", desc):
        return Seen(alternative(fact, 0), evidence(response, shown))
    return Seen(alternative(fact, 1), evidence(response, shown))


@probe("jobs.name_not_localized")
def _job_name(p: Probing, fact: Fact) -> Answer:
    response, job = _expiry_job(p)
    if job is not None:
        return Seen(fact.assumed, evidence(response, {"name": job.get("name")}))
    raise ProbeFailed(
        f"no scheduled job named {EXPIRED_JOB!r}: it may be named in another language, or "
        "not scheduled; check Admin > Manage Jobs and Sets > Monitor Jobs"
    )


@probe("jobs.instances_newest_first")
def _job_instances_order(p: Probing, fact: Fact) -> Answer:
    _, job = _expiry_job(p)
    if job is None or not job.get("id"):
        raise ProbeFailed(f"no scheduled job named {EXPIRED_JOB!r} in GET /conf/jobs")
    response = p.ask(f"/conf/jobs/{job['id']}/instances", {"limit": 10, "offset": 0})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"the job's runs: {status_and_codes(response)}")
    runs = [r for r in data.get("job_instance") or [] if isinstance(r, dict)]
    dates = [str(r.get("submit_date") or "") for r in runs]
    shown = {"job_instance": [{k: r.get(k) for k in ("id", "submit_date")} for r in runs]}
    if len(set(dates)) < 2 or "" in dates:
        return NotAsked("the job has fewer than two runs with a submit_date to compare")
    if dates == sorted(dates, reverse=True):
        return Seen(fact.assumed, evidence(response, shown))
    if dates == sorted(dates):
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, "runs in neither date order", shown)


@probe("library.circ_desk_fields")
def _library_circ_desks(p: Probing, fact: Fact) -> Answer:
    library = p.profile.resource_sharing_libraries[0].code
    response = p.ask(f"/conf/libraries/{library}/circ-desks")
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"circulation desks of {library}: {status_and_codes(response)}")
    desks = [d for d in data.get("circ_desk") or [] if isinstance(d, dict)]
    if not desks:
        raise ProbeFailed(f"library {library} lists no circulation desk")
    shown = {"circ_desk": desks[:1]}
    first = set(desks[0])
    if {"code", "name", "has_hold_shelf"} <= first:
        return Seen(fact.assumed, evidence(response, shown))
    if {"code", "name"} <= first:
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"desk fields {sorted(first)}", shown)


def _partner(p: Probing) -> tuple[httpx.Response, dict[str, Any]]:
    if not p.profile.partners:
        raise ProbeFailed("the profile lists no partners")
    code = p.profile.partners[0].code
    response = p.ask(f"/partners/{code}")
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"partner {code}: {status_and_codes(response)}")
    return response, data.get("partner_details") or {}


@probe("partner.expiry_time_field")
def _partner_expiry(p: Probing, fact: Fact) -> Answer:
    response, details = _partner(p)
    profile_details = details.get("profile_details") or {}
    shown = {"partner_details": {"profile_details": profile_details}}
    for key, sub in profile_details.items():
        if isinstance(sub, dict) and "expiry_time" in sub:
            if key == "iso_details" and isinstance(sub["expiry_time"], int):
                return Seen(fact.assumed, evidence(response, shown))
            return unexpected(
                response, f"expiry_time in {key} as {json.dumps(sub['expiry_time'])}", shown
            )
    if "iso_details" in profile_details:
        return Seen(alternative(fact, 0), evidence(response, shown))
    return Seen(alternative(fact, 1), evidence(response, shown))


@probe("partner.institution_code_field")
def _partner_institution(p: Probing, fact: Fact) -> Answer:
    response, details = _partner(p)
    code = details.get("institution_code")
    shown = {"partner_details": {"institution_code": code}}
    if isinstance(code, str) and code:
        return Seen(fact.assumed, evidence(response, shown))
    if code is None:
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"institution_code is {json.dumps(code)}", shown)


@probe("item.bib_suppress_field")
def _item_bib_suppress(p: Probing, fact: Fact) -> Answer:
    received = p.profile.borrowing.received_requests if p.profile.borrowing else []
    if not received:
        return NotAsked("the profile names no item (borrowing.received_requests)")
    response = p.ask("/items", {"item_barcode": received[0].item_barcode})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"item {received[0].item_barcode}: {status_and_codes(response)}")
    bib = data.get("bib_data") or {}
    value = bib.get("suppress_from_publishing")
    shown = {"bib_data": {"suppress_from_publishing": value}}
    if value in ("true", "false"):
        return Seen(fact.assumed, evidence(response, shown))
    if "suppress_from_publishing" not in bib:
        return Seen(alternative(fact, 0), evidence(response, shown))
    if isinstance(value, bool):
        return Seen(alternative(fact, 1), evidence(response, shown))
    return unexpected(response, f"suppress_from_publishing is {json.dumps(value)}", shown)


def _received_item(p: Probing) -> tuple[httpx.Response, dict[str, Any], str] | NotAsked:
    """The profile's first received request's temporary item, and the request's RS library."""
    received = p.profile.borrowing.received_requests if p.profile.borrowing else []
    if not received:
        return NotAsked("the profile names no item (borrowing.received_requests)")
    response = p.ask("/items", {"item_barcode": received[0].item_barcode})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"item {received[0].item_barcode}: {status_and_codes(response)}")
    return response, data, received[0].rs_library


@probe("borrowing.temp_item_place")
def _temp_item_place(p: Probing, fact: Fact) -> Answer:
    """How the temporary item's answer shows its place: in the holding's temp fields flagged
    as in its temporary location, in temp fields filled but not flagged (an absent flag
    reads as not flagged, as in the steps), or in item_data with the temp fields empty.

    This records the answer's shape only. The probe reads the same kind of item the scenario
    judges, so temp fields filled but not flagged do not tell which of the two places the
    answer names is real (alma-api.md §7.3 shows that shape on a lending item whose real
    place was item_data): the scenario judges both places, calibrated or not."""
    found = _received_item(p)
    if isinstance(found, NotAsked):
        return found
    response, data, rs_library = found
    holding = data.get("holding_data") or {}
    item = data.get("item_data") or {}
    temp = ("in_temp_location", "temp_library", "temp_location", "temp_policy")
    shown = {
        "holding_data": {k: holding.get(k) for k in temp},
        "item_data": {k: item.get(k) for k in ("library", "location", "policy")},
    }
    temp_library = _value(holding.get("temp_library"))
    if temp_library:
        if temp_library != rs_library:
            return unexpected(response, f"temp_library {temp_library}, not {rs_library}", shown)
        if holding.get("in_temp_location") is True:
            return Seen(fact.assumed, evidence(response, shown))
        return Seen(alternative(fact, 0), evidence(response, shown))
    library = _value(item.get("library"))
    if library == rs_library:
        return Seen(alternative(fact, 1), evidence(response, shown))
    return unexpected(response, f"no temp fields and library {library}, not {rs_library}", shown)


@probe("borrowing.temp_bib_suppressed")
def _temp_bib_suppressed(p: Probing, fact: Fact) -> Answer:
    """Whether the temporary item's bib is suppressed from discovery. A bib staff suppressed
    by hand reads the same as one Alma suppressed: the profile's request must have been
    received with no hand edit of its bib."""
    found = _received_item(p)
    if isinstance(found, NotAsked):
        return found
    response, data, _ = found
    bib = data.get("bib_data") or {}
    if "suppress_from_publishing" not in bib:
        return NotAsked(
            "the item answer carries no bib_data.suppress_from_publishing (item.bib_suppress_field)"
        )
    value = bib["suppress_from_publishing"]
    shown = {"bib_data": {"suppress_from_publishing": value}}
    if value in ("true", True):
        return Seen(fact.assumed, evidence(response, shown))
    if value in ("false", False):
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"suppress_from_publishing is {json.dumps(value)}", shown)


@probe("analytics.rs_terms_of_use")
def _rs_terms_of_use(p: Probing, fact: Fact) -> Answer:
    """Whether the profile's terms-of-use report over "Configurations (Limited)" shows any
    resource sharing row. The report is the institution's own: a filter in it that leaves
    out resource sharing reads the same as a subject area without it, so the profile's
    report must be the one the suite checks (it expects resource sharing rows)."""
    check = p.profile.analytics.get("terms_of_use")
    if check is None:
        return NotAsked("the profile names no analytics.terms_of_use report")
    response = _report_page(p, check.report)
    if not response.is_success:
        raise ProbeFailed(f"the terms-of-use report answered {status_and_codes(response)}")
    try:
        rows = p.client.analytics_report(check.report)  # its first page: the one just read
    except AlmaError as exc:
        raise ProbeFailed(f"the terms-of-use report could not be read: {exc}") from exc
    if not rows:
        return NotAsked("the terms-of-use report has no rows, so it shows nothing either way")
    shared = [r for r in rows if any("resource sharing" in str(v).lower() for v in r.values())]
    shown = {"rows": len(rows), "resource sharing rows": shared[:5]}
    if shared:
        return Seen(fact.assumed, evidence(response, shown))
    return Seen(alternative(fact, 0), evidence(response, shown))


# The profile's Analytics reports, the terms-of-use one first (its probe reads it anyway).
ANALYTICS_ITEMS = ("terms_of_use", "fulfillment_policies", "fulfillment_unit_rules")


def _report_page(p: Probing, report: str) -> httpx.Response:
    """The first page of ``report`` asked as the suite asks it (XML, column names, the
    client's page size), once per calibration. The client keeps the page's text, so reading
    the report's rows afterwards does not ask for it again."""
    params: dict[str, str | int] = {"path": report, "limit": REPORT_PAGE, "col_names": "true"}
    return p.ask("/analytics/reports", params, accept="application/xml")


@probe("analytics.xml_shape")
def _analytics_xml_shape(p: Probing, fact: Fact) -> Answer:
    """The first page of one of the profile's reports, read by the suite's own parser and
    held to the shape it assumes: ``QueryResult`` with ``IsFinished`` and
    ``ResultXml/rowset``, and a heading for every column of the schema."""
    item = next((i for i in ANALYTICS_ITEMS if i in p.profile.analytics), None)
    if item is None:
        return NotAsked(
            "the profile names no Analytics report (analytics.terms_of_use, "
            "analytics.fulfillment_policies or analytics.fulfillment_unit_rules)"
        )
    response = _report_page(p, p.profile.analytics[item].report)
    if not response.is_success:
        raise ProbeFailed(f"the {item} report answered {status_and_codes(response)}")
    kind = response.headers.get("content-type", "")
    if looks_like_html(kind, response.content):
        return unexpected(response, f"an HTML page ({kind or 'no content type'})")
    data = json_or_none(response)
    if data is not None:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        return unexpected(response, f"JSON with keys {keys}, though XML was asked for")
    headings: dict[str, str] = {}
    try:
        page = parse_analytics(response.text, headings)
        root = ET.fromstring(response.text)  # noqa: S314 - parse_analytics read it already
    except (AlmaContractError, ET.ParseError):
        return unexpected(response, f"a body that is not XML ({kind or 'no content type'})")
    names = {_local(e.tag) for e in root.iter()}
    columns = sorted(headings, key=lambda c: (len(c), c))  # Column2 before Column10
    lacks = [n for n in ("QueryResult", "IsFinished", "ResultXml", "rowset") if n not in names]
    lacks += [f"a heading for {c}" for c in columns if headings[c] == c]
    lacks += [] if headings else ["column headings"]
    shown = {
        "root": _local(root.tag),
        "present": [n for n in ("QueryResult", "ResumptionToken", "IsFinished") if n in names],
        "column headings": [headings[c] for c in columns],
        "rows on the first page": len(page.rows),
    }
    if lacks:
        return unexpected(response, f"XML <{_local(root.tag)}> without {', '.join(lacks)}", shown)
    return Seen(fact.assumed, evidence(response, shown))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@probe("round_trip.requested_resources_lending")
def _requested_resources_lending(p: Probing, fact: Fact) -> Answer:
    """Whether the lending requests waiting at the lender's RS library (accepted and
    located: REQUEST_CREATED_LEND with a record) are on its desk's pick-from-shelf list.
    Nothing is created: the API cannot cancel an accepted lending request, so only one
    Alma already holds is looked for."""
    lending = p.profile.lending
    if lending is None:
        return NotAsked("the profile has no lending section (no lending library to read)")
    library = lending.rs_library
    desk = next(
        (lib.circ_desk for lib in p.profile.resource_sharing_libraries if lib.code == library),
        None,
    )
    if desk is None:
        return NotAsked(f"the profile names no circ_desk for resource sharing library {library}")
    tasks = p.ask("/task-lists/rs/lending-requests", {"library": library, "status": WAITING})
    listed = json_or_none(tasks)
    if not tasks.is_success or not isinstance(listed, dict):
        raise ProbeFailed(f"the lending task list answered {status_and_codes(tasks)}")
    waiting = {
        str(r["mms_id"])
        for r in listed.get("user_resource_sharing_request") or []
        if isinstance(r, dict) and r.get("mms_id")
    }
    if not waiting:
        return NotAsked(
            f"no accepted lending request waits at {library} ({WAITING} with a record); "
            "once one does, calibrate again"
        )
    response = p.ask("/task-lists/requested-resources", {"library": library, "circ_desk": desk})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"the pick-from-shelf list answered {status_and_codes(response)}")
    entries = [r for r in data.get("requested_resource") or [] if isinstance(r, dict)]
    on_list = {str(_value((r.get("resource_metadata") or {}).get("mms_id"))) for r in entries}
    shown = {"waiting lending requests": len(waiting), "of them listed": len(waiting & on_list)}
    if waiting & on_list:
        return Seen(fact.assumed, evidence(response, shown))
    desks = p.ask(f"/conf/libraries/{library}/circ-desks")
    codes = {
        d.get("code")
        for d in (json_or_none(desks) or {}).get("circ_desk") or []
        if isinstance(d, dict)
    }
    if desk not in codes:
        raise ProbeFailed(f"{desk} is not a circulation desk of {library}: fix the profile")
    return Seen(alternative(fact, 0), evidence(response, shown))


def _error_code_probe(
    path: Callable[[Probing], str],
    alternatives: Mapping[str, int],
    params: Mapping[str, str | int] | None = None,
) -> Probe:
    """A probe of an error answer: the assumed status and code, or one of the
    alternatives (keyed ``"<status> <code>"`` or ``"<status>"``)."""

    def run(p: Probing, fact: Fact) -> Answer:
        response = p.ask(path(p), params)
        codes = error_codes(response)
        if "UNAUTHORIZED" in codes:
            raise ProbeFailed(f"the key lacks the API area of {response.request.url.path}")
        status = str(response.status_code)
        if f"HTTP {status}" in fact.assumed and any(c in fact.assumed for c in codes):
            return Seen(fact.assumed, evidence(response))
        for key, index in alternatives.items():
            want_status, _, want_code = key.partition(" ")
            if status == want_status and (not want_code or want_code in codes):
                return Seen(alternative(fact, index), evidence(response))
        return unexpected(response, status_and_codes(response))

    return run


PROBES["gateway.unknown_path_answer"] = _error_code_probe(
    lambda p: "/conf/no-such-resource", {"404": 0, "400": 1}
)
PROBES["library.unknown_library_code"] = _error_code_probe(
    lambda p: "/conf/libraries/NO_SUCH_LIBRARY", {"400 40166411": 0, "404": 1}
)
PROBES["lists.invalid_paging_code"] = _error_code_probe(
    lambda p: "/partners", {"200": 0, "400 401666": 1}, {"limit": 101}
)
PROBES["code_table.unknown_table_code"] = _error_code_probe(
    lambda p: "/conf/code-tables/NoSuchTable", {"400 402119": 0, "200": 1}
)
PROBES["analytics.unknown_report_code"] = _error_code_probe(
    lambda p: "/analytics/reports",
    {"400": 0, "404": 0},
    {"path": "/shared/no/such/report", "limit": 25},
)
PROBES["location.unknown_location_code"] = _error_code_probe(
    lambda p: f"/conf/libraries/{_rs_location(p)[0]}/locations/NO_SUCH_LOCATION",
    {"400 40166411": 0, "404": 1},
)


def _code_table_probe(
    tables: tuple[str, ...], code: str, alternative_code: str | None, described: str | None = None
) -> Probe:
    """A probe of a status code: ``code`` among the rows of ``tables`` (else the first
    alternative if its code is there, else the last: another code, recorded as seen when a
    row's description has the word ``described``)."""

    def run(p: Probing, fact: Fact) -> Answer:
        answers = []
        for table in tables:  # the next table is asked only when this one lacks the code
            response = p.ask(f"/conf/code-tables/{table}", {"lang": "en"})
            data = json_or_none(response)
            if not response.is_success or not isinstance(data, dict):
                continue
            # UNVERIFIED(code_table.row_key): a code table's rows are under "row".
            rows = code_table_rows(data)
            codes = sorted(str(r.get("code")) for r in rows)
            shown = {"row": [{"code": c} for c in codes]}
            if code in codes:
                return Seen(fact.assumed, evidence(response, shown))
            answers.append((response, rows, codes, shown))
        if not answers:
            raise ProbeFailed(f"no code table of {', '.join(tables)} could be read")
        for response, _, codes, shown in answers:
            if alternative_code is not None and alternative_code in codes:
                return Seen(alternative(fact, 0), evidence(response, shown))
        if described is not None:
            for response, rows, _, _ in answers:
                match = [r for r in rows if described in str(r.get("description", "")).lower()]
                if len(match) == 1:
                    row = {"code": match[0].get("code"), "description": match[0].get("description")}
                    seen = str(row["code"])
                    return Seen(alternative(fact, -1), evidence(response, {"row": [row]}), seen)
        response, _, _, shown = answers[0]
        return Seen(alternative(fact, -1), evidence(response, shown))

    return run


PROBES["lending.reject_status_code"] = _code_table_probe(
    ("MandatoryLendingWorkflowSteps", "OptionalLendingWorkflowSteps"),
    "REJECTED",
    "REJECT",
    described="reject",
)
PROBES["borrowing.request_sent_code"] = _code_table_probe(
    ("MandatoryBorrowingWorkflowSteps",), "REQUEST_SENT", None, described="sent to partner"
)


@probe("code_table.row_key")
def _code_table_rows(p: Probing, fact: Fact) -> Answer:
    response = p.ask("/conf/code-tables/MandatoryLendingWorkflowSteps", {"lang": "en"})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"the code table could not be read: {status_and_codes(response)}")
    keys = {"keys": sorted(data)}
    if isinstance(data.get("row"), list):
        return Seen(fact.assumed, evidence(response, keys))
    if isinstance(data.get("rows"), dict):
        return Seen(alternative(fact, 0), evidence(response, keys))
    if isinstance(data.get("row"), dict):
        return Seen(alternative(fact, 1), evidence(response, keys))
    return unexpected(response, f"keys {', '.join(sorted(data))}", keys)


# -- shapes and codes read from answers the run already asks for -------------------------


@probe("gateway.general_institution_code")
def _general_institution(p: Probing, fact: Fact) -> Answer:
    response = p.ask("/conf/general")
    data = json_or_none(response) or {}
    value = data.get("institution")
    shown = {"institution": {"value": value.get("value")} if isinstance(value, dict) else value}
    code = p.profile.institution.code.upper()
    if isinstance(value, dict) and str(value.get("value") or "").upper() == code:
        return Seen(fact.assumed, evidence(response, shown))
    if isinstance(value, str):
        return Seen(alternative(fact, 1), evidence(response, shown))
    if isinstance(value, dict):
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"institution is {json.dumps(value)}", shown)


@probe("gateway.general_shape")
def _general_shape(p: Probing, fact: Fact) -> Answer:
    response = p.ask("/conf/general")
    data = json_or_none(response) or {}
    institution = data.get("institution")
    shown = {
        "institution": sorted(institution) if isinstance(institution, dict) else institution,
        "alma_url": "…" if isinstance(data.get("alma_url"), str) else data.get("alma_url"),
    }
    if (
        isinstance(institution, dict)
        and {"value", "desc"} <= set(institution)
        and isinstance(data.get("alma_url"), str)
    ):
        return Seen(fact.assumed, evidence(response, shown))
    return Seen(alternative(fact, 0), evidence(response, shown))


@probe("code_table.shape")
def _code_table_shape(p: Probing, fact: Fact) -> Answer:
    response = p.ask("/conf/code-tables/MandatoryLendingWorkflowSteps", {"lang": "en"})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"the code table could not be read: {status_and_codes(response)}")
    rows = code_table_rows(data)
    if not rows:
        return NotAsked("no rows under row (code_table.row_key says where they are)")
    keys = sorted({k for r in rows for k in r})
    shown = {"keys": sorted(data), "row[] keys": keys}
    wanted = {"code", "description", "enabled", "default"}
    if {"name", "description"} <= set(data) and all(wanted <= set(r) for r in rows):
        return Seen(fact.assumed, evidence(response, shown))
    if all({"code", "description"} <= set(r) for r in rows):
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"rows with keys {', '.join(keys)}", shown)


JOB_FIELDS = ("id", "name", "description", "type", "category", "schedule", "next_run", "link")


@probe("jobs.documented_shape")
def _job_shape(p: Probing, fact: Fact) -> Answer:
    response, job = _expiry_job(p)
    if job is None:
        raise ProbeFailed(f"no scheduled job named {EXPIRED_JOB!r} in GET /conf/jobs")
    missing = [k for k in JOB_FIELDS if k not in job]
    shown = {"job[] keys": sorted(job)}
    if not missing:
        return Seen(fact.assumed, evidence(response, shown))
    return Seen(alternative(fact, 0), evidence(response, shown), seen=f"no {', '.join(missing)}")


INSTANCE_FIELDS = ("id", "name", "submit_date", "status", "link")


@probe("jobs.instance_shape")
def _job_instance_shape(p: Probing, fact: Fact) -> Answer:
    _, job = _expiry_job(p)
    if job is None or not job.get("id"):
        raise ProbeFailed(f"no scheduled job named {EXPIRED_JOB!r} in GET /conf/jobs")
    response = p.ask(f"/conf/jobs/{job['id']}/instances", {"limit": 10, "offset": 0})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"the job's runs: {status_and_codes(response)}")
    runs = data.get("job_instance")
    if not isinstance(runs, list) or not runs:
        if data.get("total_record_count") == 0:
            return NotAsked("the job has no runs to read")
        return Seen(alternative(fact, 0), evidence(response, {"keys": sorted(data)}))
    keys = sorted({k for r in runs if isinstance(r, dict) for k in r})
    shown = {"job_instance[] keys": keys}
    status_ok = all(isinstance(r.get("status"), dict) for r in runs if isinstance(r, dict))
    if set(INSTANCE_FIELDS) <= set(keys) and status_ok:
        return Seen(fact.assumed, evidence(response, shown))
    return Seen(alternative(fact, 0), evidence(response, shown))


@probe("patron.no_rs_library_shape")
def _no_rs_library_shape(p: Probing, fact: Fact) -> Answer:
    borrowing = p.profile.borrowing
    user_id = borrowing.patron_without_rs_library if borrowing else None
    if user_id is None:
        return NotAsked("the profile names no borrowing.patron_without_rs_library")
    response = p.ask(f"/users/{user_id}")
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"the patron could not be read: {status_and_codes(response)}")
    if "rs_library" not in data:
        return Seen(fact.assumed, evidence(response, {"rs_library": "(no such key)"}))
    value = data["rs_library"]
    shown = {"rs_library": value}
    if value == []:
        return Seen(alternative(fact, 0), evidence(response, shown))
    if value is None:
        return Seen(alternative(fact, 2), evidence(response, shown))
    if isinstance(value, list) and all(
        isinstance(r, dict) and not (r.get("code") or {}).get("value") for r in value
    ):
        return Seen(alternative(fact, 1), evidence(response, shown))
    return unexpected(response, "the patron has an RS library", shown)


PROBES["borrowing.received_status_code"] = _code_table_probe(
    ("MandatoryBorrowingWorkflowSteps",), "RECEIVED_PHYSICALLY", None, described="received"
)


@probe("lending.final_status_codes")
def _lending_final_codes(p: Probing, fact: Fact) -> Answer:
    """The four codes in the lending workflow-step tables (the reject code is probed apart:
    any code lending.reject_status_code accepts counts for it)."""
    found: set[str] = set()
    shown_from = None
    for table in ("MandatoryLendingWorkflowSteps", "OptionalLendingWorkflowSteps"):
        response = p.ask(f"/conf/code-tables/{table}", {"lang": "en"})
        data = json_or_none(response)
        if not response.is_success or not isinstance(data, dict):
            continue
        shown_from = shown_from or response
        found |= {str(r.get("code")) for r in code_table_rows(data)}
    if shown_from is None:
        raise ProbeFailed("no lending workflow-step table could be read")
    wanted = {"LOCATE_FAILED", "CANCELLED", "EXPIRED"}
    rejected = bool(found & {"REJECTED", "REJECT"})
    shown = {"codes": sorted(found & (wanted | {"REJECTED", "REJECT"}))}
    if wanted <= found and "REJECTED" in found:
        return Seen(fact.assumed, evidence(shown_from, shown))
    missing = sorted(wanted - found) + ([] if rejected else ["REJECTED"])
    seen = f"no {', '.join(missing)}" if missing else "REJECT for REJECTED"
    return Seen(alternative(fact, 0), evidence(shown_from, shown), seen=seen)


@probe("borrowing.cancelled_status_code")
def _borrowing_cancelled_code(p: Probing, fact: Fact) -> Answer:
    """Which row of the borrowing workflow steps a staff cancel is: CANCELLED, described as
    by staff, or another code (then CANCELLED would be the partner's cancel)."""
    response = p.ask("/conf/code-tables/MandatoryBorrowingWorkflowSteps", {"lang": "en"})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"the code table could not be read: {status_and_codes(response)}")
    rows = code_table_rows(data)
    cancels = [
        {"code": r.get("code"), "description": r.get("description")}
        for r in rows
        if "cancel" in str(r.get("description", "")).lower() or r.get("code") == "CANCELLED"
    ]
    shown = {"row": cancels}
    by_staff = [r for r in cancels if "staff" in str(r["description"]).lower()]
    if len(by_staff) != 1:
        return NotAsked("no single row of the table describes a cancel by staff")
    if by_staff[0]["code"] == "CANCELLED":
        return Seen(fact.assumed, evidence(response, shown))
    return Seen(alternative(fact, 0), evidence(response, shown), seen=str(by_staff[0]["code"]))


def _unknown_item_path(p: Probing) -> str:
    """A real bib and holding (of the profile's received item), and item pid 1."""
    received = p.profile.borrowing.received_requests if p.profile.borrowing else []
    if not received:
        raise ProbeFailed("the profile names no item (borrowing.received_requests)")
    response = p.ask("/items", {"item_barcode": received[0].item_barcode})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"item {received[0].item_barcode}: {status_and_codes(response)}")
    mms = (data.get("bib_data") or {}).get("mms_id")
    holding = (data.get("holding_data") or {}).get("holding_id")
    if not mms or not holding:
        raise ProbeFailed("the item's answer names no bib_data.mms_id or holding_id")
    return f"/bibs/{mms}/holdings/{holding}/items/1"


PROBES["item.unknown_item_code"] = _error_code_probe(
    _unknown_item_path, {"400 402504": 0, "400 40166450": 1}
)


def _job_status_codes(p: Probing) -> tuple[httpx.Response, list[str]]:
    response = p.ask("/conf/code-tables/systemJobStatus", {"lang": "en"})
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"the code table systemJobStatus: {status_and_codes(response)}")
    rows = code_table_rows(data)
    return response, sorted(str(r.get("code")) for r in rows)


@probe("jobs.run_status_codes")
def _run_status_codes(p: Probing, fact: Fact) -> Answer:
    response, codes = _job_status_codes(p)
    shown = {"row": [{"code": c} for c in codes]}
    if {"COMPLETED_SUCCESS", "COMPLETED_WARNING"} <= set(codes):
        return Seen(fact.assumed, evidence(response, shown))
    return Seen(alternative(fact, 0), evidence(response, shown), seen=", ".join(codes))


@probe("jobs.failed_run_status")
def _failed_run_status(p: Probing, fact: Fact) -> Answer:
    response, codes = _job_status_codes(p)
    shown = {"row": [{"code": c} for c in codes]}
    failed = [c for c in codes if c.endswith("FAILED")]
    if failed:
        return Seen(fact.assumed, evidence(response, shown))
    return Seen(alternative(fact, 0), evidence(response, shown), seen=", ".join(codes))


# -- staff roles ------------------------------------------------------------------------


@probe("staff.fulfillment_operator_role")
def _fulfillment_operator(p: Probing, fact: Fact) -> Answer:
    response = p.ask("/conf/code-tables/UserRoles")
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"code table UserRoles: {status_and_codes(response)}")
    rows = code_table_rows(data)
    named = [
        r
        for r in rows
        if str(r.get("description") or "").strip().lower() == "fulfillment services operator"
    ]
    if named:
        return Seen(fact.assumed, evidence(response, {"row": named}))
    return Seen(alternative(fact, 0), evidence(response, {"row": rows}))


def _staff_roles(p: Probing) -> tuple[httpx.Response, list[dict[str, Any]]] | NotAsked:
    if not p.profile.rs_staff:
        return NotAsked("the profile names no rs_staff account")
    staff = p.profile.rs_staff[0].primary_id
    response = p.ask(f"/users/{staff}")
    data = json_or_none(response)
    if not response.is_success or not isinstance(data, dict):
        raise ProbeFailed(f"staff account {staff}: {status_and_codes(response)}")
    return response, [r for r in data.get("user_role") or [] if isinstance(r, dict)]


def _value(field: object) -> object:
    return field.get("value") if isinstance(field, dict) else None


@probe("staff.role_scope_library")
def _role_scope(p: Probing, fact: Fact) -> Answer:
    found = _staff_roles(p)
    if isinstance(found, NotAsked):
        return found
    response, roles = found
    shown = {"user_role": [{k: r.get(k) for k in ("role_type", "scope")} for r in roles]}
    scopes = {_value(r.get("scope")) for r in roles}
    if scopes & set(p.profile.rs_library_codes):
        return Seen(fact.assumed, evidence(response, shown))
    if roles and scopes == {p.profile.institution.code}:
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"role scopes {sorted(map(str, scopes))}", shown)


@probe("staff.circ_desk_parameter")
def _circ_desk_parameter(p: Probing, fact: Fact) -> Answer:
    found = _staff_roles(p)
    if isinstance(found, NotAsked):
        return found
    response, roles = found
    desk_roles = [r for r in roles if _value(r.get("role_type")) in ("32", "221")]
    if not desk_roles:
        return NotAsked("the first rs_staff account holds no circulation desk role")
    shown = {"user_role": [{k: r.get(k) for k in ("role_type", "parameter")} for r in desk_roles]}
    params = [x for r in desk_roles for x in r.get("parameter") or [] if isinstance(x, dict)]
    if any(_value(x.get("type")) == "CirculationDesk" and _value(x.get("value")) for x in params):
        return Seen(fact.assumed, evidence(response, shown))
    if not params:
        return Seen(alternative(fact, 0), evidence(response, shown))
    return unexpected(response, f"{len(params)} parameters of another form", shown)
