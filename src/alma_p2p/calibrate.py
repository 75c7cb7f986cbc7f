"""``alma-p2p calibrate``: ask an institution's sandbox what the register of facts assumes.

Live only, sandbox only: ``/conf/general`` is read first, and nothing else is sent unless
Alma reports a sandbox of the profile's institution (the guard of @writes scenarios). Then
every fact with a probe in :data:`PROBES` is asked — reads first, then writes with the
profile's test data through a ledgered :class:`~alma_p2p.writes.WriteSession` — and the
answers go to ``<profiles>/<name>/alma-facts.yaml``: per fact the value observed (one of the
register's assumed or alternative values, or ``unexpected`` with what was seen), the date,
and the redacted exchange that shows it. A fact without a probe stays assumed, with why.

The file is sorted and carries no time beyond each fact's date, which is kept while the
observed value and its evidence stay the same, so calibrating an unchanged Alma again
rewrites the same bytes. A calibrated value that differs from the one on file is drift:
printed, and the command exits 1 (the file is still updated).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from alma_p2p import payloads
from alma_p2p.alma import AlmaClient, AlmaError
from alma_p2p.alma.errors import AlmaAPIError
from alma_p2p.alma.gateway import ANALYTICS_PROBE, READ_PROBES
from alma_p2p.alma.parsing import parse_error_details
from alma_p2p.connect import base_url_for, client_for
from alma_p2p.facts import (
    CALIBRATED_FILE,
    UNEXPECTED,
    CalibratedFact,
    CalibratedFacts,
    Fact,
    Register,
    load_calibrated,
    load_register,
    render_calibrated,
)
from alma_p2p.files import write_atomic
from alma_p2p.ledger import Ledger
from alma_p2p.payloads import TestData
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.profile import Profile, load_profiles
from alma_p2p.recording import redacted_exchange
from alma_p2p.settings import Settings, api_key_variable, load_settings
from alma_p2p.writes import WriteSession, guarded

# A key no Alma gives out: the invalid-key probe sends it (it is not a secret).
WRONG_KEY = "l7xx00000000calibrateDeliberatelyWrongKey"
EXCERPT_LINES = 40
# The job is found by its English name: UNVERIFIED(jobs.name_not_localized), which a
# calibration that finds it confirms.
EXPIRED_JOB = "Expired Resource Sharing Requests"
TRACKING_JSON = re.compile(r'("trackingId":\s*)"[^"]*"')
TRACKING_XML = re.compile(r"(<trackingId>)[^<]*(</trackingId>)")


class CalibrationRefused(AlmaError):
    """Calibration stopped before anything but ``/conf/general`` was sent."""


@dataclass(frozen=True)
class Seen:
    """A probe's answer: the register value it matches (or ``unexpected``), and its proof."""

    value: str
    evidence: str
    seen: str | None = None  # what Alma showed, for an unexpected value


@dataclass(frozen=True)
class NotAsked:
    """A probe that could not ask Alma this time, and why."""

    why: str


Answer = Seen | NotAsked


@dataclass
class Probing:
    """What a probe may use: the institution's client and profile, and the exchanges."""

    client: AlmaClient
    profile: Profile
    base_url: str
    transport: httpx.BaseTransport | None
    settings: Settings
    run_token: str
    writes: WriteSession | None = None
    _last: list[httpx.Response] = field(default_factory=list)
    _memo: dict[str, httpx.Response | None] = field(default_factory=dict)

    def heard(self, response: httpx.Response) -> None:
        self._last.append(response)

    def ask(self, path: str, params: Mapping[str, str | int] | None = None) -> httpx.Response:
        """GET ``path`` once per calibration; the raw answer whatever its status."""
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        if key not in self._memo:
            self._memo[key] = self.answer_of(
                lambda: self.client.get_json(path, params, cache=False)
            )
        answer = self._memo[key]
        if answer is None:
            raise ProbeFailed(f"GET {path} got no answer from Alma")
        return answer

    def answer_of(self, call: Callable[[], object]) -> httpx.Response | None:
        """The last answer Alma gave while ``call`` ran (an error answer is an answer too)."""
        self._last.clear()
        try:
            call()
        except AlmaAPIError:
            pass
        except AlmaError as exc:  # a transport failure or a contract surprise
            if not self._last:
                raise ProbeFailed(str(exc)) from exc
        last = self._last[-1] if self._last else None
        if last is not None and (last.status_code == 429 or last.status_code >= 500):
            # Alma busy or failing says nothing about the fact: ask again another time.
            raise ProbeFailed(
                f"{last.request.method} {last.request.url.path} answered HTTP "
                f"{last.status_code}; calibrate again later"
            )
        return last


class ProbeFailed(Exception):
    """A probe could not get an answer it can read; the fact stays assumed."""


# -- evidence -----------------------------------------------------------------------------


def evidence(response: httpx.Response, excerpt: Any = None) -> str:
    """The redacted exchange; ``excerpt`` (JSON data) replaces a long body with its part
    that shows the fact. Tracking ids differ per call, so they are blanked (the file must
    not change while Alma does not)."""
    body = (
        response.content
        if excerpt is None
        else json.dumps(excerpt, indent=2, ensure_ascii=False, sort_keys=True).encode()
    )
    text = redacted_exchange(
        response.request.method, str(response.request.url), response.status_code, body
    )
    text = TRACKING_JSON.sub(r'\1"E01-…"', TRACKING_XML.sub(r"\1E01-…\2", text))
    lines = [line.rstrip() for line in text.splitlines()]
    if len(lines) > EXCERPT_LINES:
        lines = [*lines[:EXCERPT_LINES], "…"]
    return "\n".join(lines)


def json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def error_codes(response: httpx.Response) -> tuple[str, ...]:
    return tuple(d.code for d in parse_error_details(response.content) if d.code)


def status_and_codes(response: httpx.Response) -> str:
    codes = error_codes(response)
    return f"HTTP {response.status_code}" + (f", errorCode {', '.join(codes)}" if codes else "")


def is_xml(response: httpx.Response) -> bool:
    return response.content.lstrip().startswith(b"<")


# -- the probes ---------------------------------------------------------------------------

Probe = Callable[[Probing, Fact], Answer]
PROBES: dict[str, Probe] = {}


def probe(*fact_ids: str) -> Callable[[Probe], Probe]:
    """Register a probe for each of ``fact_ids`` (a probe may settle several facts)."""

    def register(fn: Probe) -> Probe:
        for fact_id in fact_ids:
            PROBES[fact_id] = fn
        return fn

    return register


def alternative(fact: Fact, index: int) -> str:
    return fact.alternatives[index].value


def unexpected(response: httpx.Response, seen: str, excerpt: Any = None) -> Seen:
    return Seen(UNEXPECTED, evidence(response, excerpt), seen=seen)


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


def _code_table_probe(tables: tuple[str, ...], code: str, alternative_code: str | None) -> Probe:
    """A probe of a status code: ``code`` among the rows of ``tables`` (else the first
    alternative if its code is there, else the last: another code)."""

    def run(p: Probing, fact: Fact) -> Answer:
        answers = []
        for table in tables:  # the next table is asked only when this one lacks the code
            response = p.ask(f"/conf/code-tables/{table}", {"lang": "en"})
            data = json_or_none(response)
            if not response.is_success or not isinstance(data, dict):
                continue
            rows = data.get("row") or []
            codes = sorted(str(r.get("code")) for r in rows if isinstance(r, dict))
            shown = {"row": [{"code": c} for c in codes]}
            if code in codes:
                return Seen(fact.assumed, evidence(response, shown))
            answers.append((response, codes, shown))
        if not answers:
            raise ProbeFailed(f"no code table of {', '.join(tables)} could be read")
        for response, codes, shown in answers:
            if alternative_code is not None and alternative_code in codes:
                return Seen(alternative(fact, 0), evidence(response, shown))
        response, _, shown = answers[0]
        return Seen(alternative(fact, -1), evidence(response, shown))

    return run


PROBES["lending.reject_status_code"] = _code_table_probe(
    ("MandatoryLendingWorkflowSteps", "OptionalLendingWorkflowSteps"), "REJECTED", "REJECT"
)
PROBES["borrowing.request_sent_code"] = _code_table_probe(
    ("MandatoryBorrowingWorkflowSteps",), "REQUEST_SENT", None
)


# -- write probes: the profile's test data, inside a ledgered write session ---------------

WRITE_FACTS = (
    "borrowing.no_rs_library_error",
    "borrowing.owner_when_omitted",
    "lending.not_held_outcome",
    "lending.auto_reject_timing",
)
REJECT_WINDOW = 60.0  # seconds the auto-reject probe follows a request, as the suite does
POLL_INTERVAL = 2.0


def _session(p: Probing) -> WriteSession:
    if p.writes is None:
        raise ProbeFailed("no write session (writes were not cleared)")
    return p.writes


def _test_data(p: Probing, what: str) -> TestData:
    return TestData(p.run_token, f"{p.profile.name}::calibrate::{what}")


@probe("borrowing.no_rs_library_error")
def _no_rs_library_error(p: Probing, fact: Fact) -> Answer:
    borrowing = p.profile.borrowing
    user_id = borrowing.patron_without_rs_library if borrowing else None
    if not p.profile.multi_library or user_id is None:
        return NotAsked("needs a multi-library profile with borrowing.patron_without_rs_library")
    session = _session(p)
    data = _test_data(p, "no_rs_library")
    title, author = data.unheld_title()
    body = payloads.borrowing_request(
        title=title,
        author=author,
        external_id=data.external_id(),
        pickup_library=p.profile.rs_library_codes[0],
    )
    response = p.answer_of(lambda: session.create_borrowing_request(user_id, body))
    if response is None:
        raise ProbeFailed("the borrowing request got no answer")
    codes = error_codes(response)
    if response.is_success:
        payload = json_or_none(response) or {}
        shown = {"owner": payload.get("owner"), "status": payload.get("status")}
        return Seen(alternative(fact, 1), evidence(response, shown))
    if "401768" in codes:
        return Seen(fact.assumed, evidence(response))
    if "401607" in codes:
        return Seen(alternative(fact, 0), evidence(response))
    return unexpected(response, status_and_codes(response))


@probe("borrowing.owner_when_omitted")
def _owner_when_omitted(p: Probing, fact: Fact) -> Answer:
    if not p.profile.test_patrons:
        return NotAsked("the profile names no test patron (test_patrons)")
    user_id = p.profile.test_patrons[0].primary_id
    try:
        libraries = p.client.user(user_id).rs_library_codes
    except AlmaError as exc:
        raise ProbeFailed(f"test patron {user_id} could not be read: {exc}") from exc
    if len(libraries) != 1:
        return NotAsked(
            f"needs a test patron with exactly one RS library; the first of test_patrons "
            f"has {len(libraries)}"
        )
    home = libraries[0]
    session = _session(p)
    data = _test_data(p, "owner_when_omitted")
    title, author = data.unheld_title()
    body = payloads.borrowing_request(
        title=title, author=author, external_id=data.external_id(), pickup_library=home
    )
    response = p.answer_of(lambda: session.create_borrowing_request(user_id, body))
    if response is None:
        raise ProbeFailed("the borrowing request got no answer")
    if not response.is_success:
        if "401607" in error_codes(response):
            return Seen(alternative(fact, 0), evidence(response))
        return unexpected(response, status_and_codes(response))
    payload = json_or_none(response) or {}
    owner = payload.get("owner") if isinstance(payload, dict) else None
    code = owner.get("value") if isinstance(owner, dict) else owner
    shown = {"owner": owner}
    if code == home:
        return Seen(fact.assumed, evidence(response, shown))
    if code:
        return Seen(alternative(fact, 1), evidence(response, shown))
    return unexpected(response, f"owner is {json.dumps(owner)}", shown)


@probe("lending.not_held_outcome")
def _not_held(p: Probing, fact: Fact) -> Answer:
    lending = p.profile.lending
    if lending is None:
        return NotAsked("the profile has no lending section (no test partner to request from)")
    session = _session(p)
    data = _test_data(p, "not_held")
    title, author = (
        (lending.not_held.title, None) if lending.not_held.title else data.unheld_title()
    )
    body = payloads.lending_request(
        partner=lending.borrower_partner,
        owner=lending.rs_library,
        title=title,
        author=author,
        external_id=data.external_id(),
    )
    response = p.answer_of(lambda: session.create_lending_request(lending.borrower_partner, body))
    if response is None:
        raise ProbeFailed("the lending request got no answer")
    payload = json_or_none(response)
    if not response.is_success or not isinstance(payload, dict):
        raise ProbeFailed(f"the lending request was refused: {status_and_codes(response)}")
    status = (payload.get("status") or {}).get("value")
    shown = {"status": payload.get("status")}
    if status == "LOCATE_FAILED":
        return Seen(fact.assumed, evidence(response, shown))
    if status == "REJECTED":
        return Seen(alternative(fact, 0), evidence(response, shown))
    if status == "LOCATE_IN_PROCESS":
        return Seen(alternative(fact, 1), evidence(response, shown))
    return unexpected(response, f"status {status}", shown)


# -- the command --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a calibration wrote, and the drift it found."""

    path: Path
    calibrated: CalibratedFacts
    drift: tuple[str, ...]


def calibrate(
    institution: str,
    *,
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
    today: date | None = None,
    say: Callable[[str], None] = print,
) -> Outcome:
    """Probe ``institution``'s sandbox and write its ``alma-facts.yaml``.

    ``transport`` replaces the network (the stand-in in tests). Raises
    :class:`CalibrationRefused` when Alma is not the profile's institution's sandbox.
    """
    settings = settings or load_settings(institutions=(institution,))
    profile = load_profiles(settings.profiles_dir, (institution,))[institution]
    key = settings.api_key_for(institution)
    if not key:
        raise CalibrationRefused(
            f"{institution}: no API key; set {api_key_variable(institution)} (or "
            "ALMA_API_KEY) to a sandbox key of the institution"
        )
    base = base_url_for(settings, profile)
    day = today or datetime.now(UTC).date()
    path = settings.profiles_dir / institution / CALIBRATED_FILE
    before = load_calibrated(path)
    register = load_register()
    with client_for(settings, profile, transport=transport) as client:
        gate = guarded(client)
        p = Probing(client, profile, base, transport, settings, _run_token())
        client.on_response(p.heard)
        _sandbox_guard(p, institution)
        answers = {fid: _ask(p, register, fid) for fid in PROBES if fid not in WRITE_FACTS}
        ledger = Ledger(settings.ledger)
        p.writes = WriteSession(client, gate, institution, ledger=ledger, run_token=p.run_token)
        try:
            answers |= {fid: _ask(p, register, fid) for fid in WRITE_FACTS}
        finally:
            report = p.writes.close()
        for line in report.left:
            say(f"{institution}: LEFT IN ALMA: {line}")
    after = _merge(register, profile.institution.code, answers, before, day)
    drift = _drift(before, after)
    text = render_calibrated(after)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)
    for line in drift:
        say(f"{institution}: DRIFT {line}")
    return Outcome(path, after, drift)


def _run_token() -> str:
    """Part of every external_id it creates: unique per calibration, like a live run's."""
    return "C" + datetime.now(UTC).strftime("%y%m%d%H%M%S")


def _sandbox_guard(p: Probing, institution: str) -> None:
    """Refuse unless ``/conf/general`` reports a sandbox of the profile's institution."""
    expected = p.profile.institution.code
    try:
        general = p.client.general()
    except AlmaError as exc:
        raise CalibrationRefused(
            f"{institution}: cannot read /conf/general, so cannot tell a sandbox: {exc}"
        ) from exc
    if not general.is_sandbox:
        raise CalibrationRefused(
            f"{institution}: refused to calibrate: Alma reports environment_type="
            f"{general.environment_type!r}, not sandbox. Calibration may create test "
            "requests; use a sandbox API key (Developer Network > Manage API Keys)."
        )
    if general.institution.value != expected:
        raise CalibrationRefused(
            f"{institution}: refused to calibrate: the key reaches institution "
            f"{general.institution.value!r}, but the profile says {expected!r} "
            f"(institution.code in {institution}/profile.yaml). Use that institution's key."
        )
    # The guard's own answer is the environment_type probe's evidence.
    p._memo["/conf/general?"] = p._last[-1] if p._last else None


def _ask(p: Probing, register: Register, fact_id: str) -> Answer:
    try:
        return PROBES[fact_id](p, register.fact(fact_id))
    except ProbeFailed as exc:
        return NotAsked(f"probe could not ask Alma this time: {exc}")


def _merge(
    register: Register,
    code: str,
    answers: Mapping[str, Answer],
    before: CalibratedFacts | None,
    day: date,
) -> CalibratedFacts:
    old = before.facts if before else {}
    facts: dict[str, CalibratedFact] = {}
    for fact in register:
        answer = answers.get(fact.id)
        previous = old.get(fact.id)
        if isinstance(answer, Seen):
            same = (
                previous is not None
                and previous.status == "calibrated"
                and (previous.value, previous.seen, previous.evidence)
                == (answer.value, answer.seen, answer.evidence)
            )
            facts[fact.id] = CalibratedFact(
                status="calibrated",
                value=answer.value,
                seen=answer.seen,
                date=previous.date if same and previous else day,
                evidence=answer.evidence,
            )
        elif previous is not None and previous.status == "calibrated":
            facts[fact.id] = previous  # not asked this time: what was seen before stands
        elif isinstance(answer, NotAsked):
            facts[fact.id] = CalibratedFact(status="assumed", why=answer.why)
        elif fact.probe_safety == "none":
            facts[fact.id] = CalibratedFact(status="assumed", why=fact.probe)
        else:
            facts[fact.id] = CalibratedFact(
                status="assumed", why=f"not yet probed by alma-p2p calibrate ({fact.probe_safety})"
            )
    return CalibratedFacts(institution=code, facts=facts)


def _drift(before: CalibratedFacts | None, after: CalibratedFacts) -> tuple[str, ...]:
    if before is None:
        return ()
    out = []
    for fact_id, new in sorted(after.facts.items()):
        old = before.facts.get(fact_id)
        if old is None or old.status != "calibrated" or new.status != "calibrated":
            continue
        if (old.value, old.seen) != (new.value, new.seen):
            was = (old.value or "") + (f" ({old.seen})" if old.seen else "")
            now = (new.value or "") + (f" ({new.seen})" if new.seen else "")
            out.append(f"{fact_id}: was {was!r} on {old.date}, Alma now shows {now!r}")
    return tuple(out)


@probe("lending.auto_reject_timing")
def _auto_reject_timing(p: Probing, fact: Fact) -> Answer:
    lending = p.profile.lending
    if lending is None or lending.all_on_loan.title is None:
        return NotAsked("needs the profile's lending.all_on_loan title (all its items on loan)")
    if "REJECTED" not in lending.all_on_loan.expect:
        return NotAsked("the profile does not expect its all-on-loan title to be rejected")
    session = _session(p)
    data = _test_data(p, "all_on_loan")
    body = payloads.lending_request(
        partner=lending.borrower_partner,
        owner=lending.rs_library,
        title=lending.all_on_loan.title,
        external_id=data.external_id(),
    )
    partner = lending.borrower_partner
    response = p.answer_of(lambda: session.create_lending_request(partner, body))
    if response is None:
        raise ProbeFailed("the lending request got no answer")
    payload = json_or_none(response)
    if not response.is_success or not isinstance(payload, dict):
        raise ProbeFailed(f"the lending request was refused: {status_and_codes(response)}")
    shown = {"status": payload.get("status")}
    if (payload.get("status") or {}).get("value") == "REJECTED":
        return Seen(fact.assumed, evidence(response, shown))
    request_id = str(payload.get("request_id") or "")
    try:
        poll(
            lambda: session.lending_request(partner, request_id),
            lambda r: r.status.value == "REJECTED",
            what="auto-reject",
            deadline=REJECT_WINDOW,
            interval=POLL_INTERVAL,
        )
    except DeadlineExceeded as exc:
        return NotAsked(
            f"not rejected within {REJECT_WINDOW:g} s (last {exc.last}): later, by a job, or "
            "not at all; this probe cannot tell which"
        )
    except AlmaError as exc:
        raise ProbeFailed(f"the lending request could not be read back: {exc}") from exc
    last = p._last[-1] if p._last else response
    return Seen(fact.assumed, evidence(last, {"status": (json_or_none(last) or {}).get("status")}))
