"""The stand-in's routes: the paths below ``/almaws/v1``, each parsed and answered.

A handler reads the request, asks ``rules`` what Alma would do, keeps the result in the
institution's ``Live`` state and answers with ``render``'s shapes. Faults travel as
``AlmaFault``; a path or method no route takes becomes one too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from alma_p2p.alma.gateway import PREFIX, SELF_TESTS
from alma_p2p.facts import load_register
from alma_p2p.standin import network, render, rules
from alma_p2p.standin.gateway import not_found_page, unauthorized
from alma_p2p.standin.render import BorrowingRecord, Json, LendingRecord, value_of
from alma_p2p.standin.rules import AlmaFault
from alma_p2p.standin.world import CodeTable, Institution, Library, Partner, User

# What a handler answers: JSON, a ready response (XML, redirect), or nothing (204).
Answer = Mapping[str, object] | Response | None


@dataclass
class Live:
    """Mutable state of one institution while the stand-in runs."""

    institution: Institution
    peers: Mapping[str, Institution] = field(default_factory=dict)  # code → institution
    borrowing: dict[str, BorrowingRecord] = field(default_factory=dict)
    lending: dict[str, LendingRecord] = field(default_factory=dict)
    tokens: dict[str, tuple[str, int]] = field(default_factory=dict)  # token → (path, offset)
    # lending requests whose locate settles later: request id → (outcome, reads left or None)
    settling: dict[str, tuple[rules.Located, int | None]] = field(default_factory=dict)
    # requests that stay in locate until a time of ``clock`` (the institution's ``delays``)
    due: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    # every institution's state, by code, for the requests between them (``network``)
    network: dict[str, Live] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        inst: Institution,
        peers: Mapping[str, Institution] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Live:
        """An institution's state at start: the borrowing requests its world holds."""
        live = cls(inst, dict(peers or {}), clock=clock)
        for req in inst.borrowing_requests:
            live.borrowing[req.request_id] = render.seeded_borrowing(inst, req)
        return live


def answer(live: Live, request: Request) -> Answer:
    """Route an admitted request and run its handler."""
    path = request.path[len(PREFIX) :]
    try:
        endpoint, args = ROUTES.bind("standin").match(path, method=request.method)
    except MethodNotAllowed as exc:
        return _unsupported_method(live, request.method, exc)
    except NotFound as exc:
        return _unknown_path(live, exc)
    except HTTPException as exc:  # pragma: no cover - werkzeug routing only
        raise AlmaFault("60101", str(exc.description), exc.code or 400) from exc
    handler: Callable[..., Answer] = endpoint
    return handler(live, request, **args)


def _unsupported_method(live: Live, method: str, exc: Exception) -> Answer:
    """UNVERIFIED(gateway.unsupported_method_answer): a method a path does not support is
    400 60101, HTTP 405, or the UNAUTHORIZED answer of a key without the area."""
    played = live.institution.plays("gateway.unsupported_method_answer")
    if played == "unauthorized":
        return unauthorized(live.institution.plays("gateway.unauthorized_as_xml"))
    status = 405 if played == "405" else 400
    raise AlmaFault("60101", f"Method {method} is not supported here.", status) from exc


def _unknown_path(live: Live, exc: Exception) -> Answer:
    """UNVERIFIED(gateway.unknown_path_answer): an unknown path under /almaws/v1 is 404
    60101, the host's HTML 404 page, or 400 with another code."""
    played = live.institution.plays("gateway.unknown_path_answer")
    if played == "html":
        return not_found_page()
    if played == "400":
        raise AlmaFault("402119", "General error: the request path is not valid.") from exc
    raise AlmaFault("60101", "General Error: the request path is not valid.", 404) from exc


def _unknown(live: Live, fact_id: str, message: str) -> AlmaFault:
    """The fault for something Alma does not have, as the institution plays ``fact_id``:
    a switch word is the errorCode on HTTP 400, but ``404``: the assumed code on HTTP 404."""
    played = live.institution.plays(fact_id)
    if played == "404":
        return AlmaFault(load_register().fact(fact_id).switch or "", message, 404)
    return AlmaFault(played, message)


# -- conf --------------------------------------------------------------------------


def _general(live: Live, request: Request) -> Answer:
    return render.general(live.institution)


def _probe(live: Live, request: Request) -> Answer:
    inst = live.institution
    # UNVERIFIED(gateway.probe_body_format): JSON, the XML of alma-api.md §1.2, or text.
    form = inst.plays("gateway.probe_body_format")
    if form == "xml":
        text = escape(render.probe_text(inst, request.method))
        body = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><test>{text}</test>'
        return Response(body, 200, content_type="application/xml;charset=UTF-8")
    if form == "text":
        return Response(render.probe_text(inst, request.method), 200, content_type="text/plain")
    return render.probe(inst, request.method)


def _libraries(live: Live, request: Request) -> Answer:
    inst = live.institution
    base = _base(request)
    records = [render.library(inst, lib, base) for lib in inst.libraries]
    return {"library": records, "total_record_count": len(records)}


def _library(live: Live, request: Request, lib: str) -> Answer:
    return render.library(live.institution, _find_library(live, lib), _base(request))


def _locations(live: Live, request: Request, lib: str) -> Answer:
    found = _find_library(live, lib)
    base = _base(request)
    records = [render.location(found, loc, base, single=False) for loc in found.locations]
    return {"location": records, "total_record_count": len(records)}


def _location(live: Live, request: Request, lib: str, loc: str) -> Answer:
    found = _find_library(live, lib)
    location = next((x for x in found.locations if x.code == loc), None)
    if location is None:
        # UNVERIFIED(location.unknown_location_code): the code for an unknown location.
        message = f"General error: location {loc} was not found in {lib}."
        raise _unknown(live, "location.unknown_location_code", message)
    form = live.institution.plays("location.circ_desk_fields")
    return render.location(found, location, _base(request), single=True, form=form)


def _circ_desks(live: Live, request: Request, lib: str) -> Answer:
    found = _find_library(live, lib)
    base = _base(request)
    form = live.institution.plays("library.circ_desk_fields")
    records = [render.circ_desk(lib, desk, base, form) for desk in found.circ_desks]
    return _paged(live, "circ_desk", records, request)


def _jobs(live: Live, request: Request) -> Answer:
    wanted = request.args.get("type")
    base = _base(request)
    inst = live.institution
    records = [
        render.job(
            job,
            base,
            status_form=inst.plays("jobs.status_field"),
            schedule_form=inst.plays("jobs.schedule_desc_time"),
            name_form=inst.plays("jobs.name_not_localized"),
            shape=inst.plays("jobs.documented_shape"),
        )
        for job in inst.jobs
        if wanted in (None, "", job.type)
    ]
    return _paged(live, "job", records, request)


def _job_instances(live: Live, request: Request, job_id: str) -> Answer:
    job = next((j for j in live.institution.jobs if j.id == job_id), None)
    if job is None:
        raise AlmaFault("402215", f"Job {job_id} was not found.")  # code per [SW26] range
    base = _base(request)
    inst = live.institution
    runs = job.runs  # newest first in the world
    if inst.plays("jobs.instances_newest_first") == "oldest_first":
        runs = list(reversed(runs))
    records = [
        render.job_instance(
            job,
            run,
            base,
            status=_run_status(inst, run.status),
            name_form=inst.plays("jobs.name_not_localized"),
            shape=inst.plays("jobs.instance_shape"),
        )
        for run in runs
    ]
    return _paged(live, "job_instance", records, request)


def _run_status(inst: Institution, status: str) -> str:
    """A run status code (a run's, or a systemJobStatus row's) as the institution plays it."""
    return render.run_status(
        status,
        codes=inst.plays("jobs.run_status_codes"),
        failed=inst.plays("jobs.failed_run_status"),
    )


def _code_table(live: Live, request: Request, name: str) -> Answer:
    table = live.institution.code_tables.get(name)
    scope = request.args.get("scope")
    # UNVERIFIED(code_table.unknown_table_code): an unknown table, or a scope it has no
    # rows for, is refused with a code, or answered as an empty table.
    unknown = live.institution.plays("code_table.unknown_table_code")
    if table is None:
        if unknown == "empty":
            return render.code_table(name, CodeTable(), [], live.institution)
        message = f"Invalid parameter: code table {name} does not exist."
        raise _unknown(live, "code_table.unknown_table_code", message)
    rows = table.rows
    if scope and scope != live.institution.code:
        if scope not in table.scopes and unknown != "empty":
            message = f"Invalid parameter: scope {scope} for table {name}."
            raise _unknown(live, "code_table.unknown_table_code", message)
        rows = table.scopes.get(scope, [])
    if name in rules.LENDING_STEP_TABLES:
        rows = rules.played_lending_steps(live.institution, rows)
    if name in rules.BORROWING_STEP_TABLES:
        rows = rules.played_borrowing_steps(live.institution, rows)
    if name == "UserRoles":
        rows = [
            row.model_copy(
                update={"description": render.role_desc(live.institution, row.description)}
            )
            for row in rows
        ]
    if name == "systemJobStatus":
        rows = [
            row.model_copy(update={"code": _run_status(live.institution, row.code)}) for row in rows
        ]
    return render.code_table(name, table, rows, live.institution)


def _find_library(live: Live, code: str) -> Library:
    lib = live.institution.library(code)
    if lib is None:
        # UNVERIFIED(library.unknown_library_code): the code for an unknown library.
        message = f"General error: library {code} was not found."
        raise _unknown(live, "library.unknown_library_code", message)
    return lib


# -- users -------------------------------------------------------------------------


def _users(live: Live, request: Request) -> Answer:
    users = list(live.institution.users)
    query = request.args.get("q")
    if query:
        field_name, _, value = query.partition("~")
        users = [u for u in users if _matches(u, field_name, value)]
    base = _base(request)
    return _paged(live, "user", [render.user_brief(u, base) for u in users], request)


def _user(live: Live, request: Request, uid: str) -> Answer:
    return render.user(live.institution, _find_user(live, uid), _base(request))


def _find_user(live: Live, uid: str) -> User:
    user = live.institution.user(uid)
    if user is None:
        raise AlmaFault("401861", f"User with identifier {uid} was not found.")
    return user


def _matches(user: User, field_name: str, value: str) -> bool:
    wanted = value.casefold()
    if field_name in ("ALL", ""):
        fields = [user.primary_id, user.first_name, user.last_name, user.email]
        return any(wanted in (f or "").casefold() for f in fields)
    actual = getattr(user, field_name, None)
    return actual is not None and wanted in str(actual).casefold()


# -- borrowing requests --------------------------------------------------------------


def _create_borrowing(live: Live, request: Request, uid: str) -> Answer:
    inst = live.institution
    user = _find_user(live, uid)
    body = _json_body(request)
    for name in ("format", "citation_type"):
        if not value_of(body.get(name)):
            raise AlmaFault("401664", f"Mandatory field is missing: {name}")
    if not (body.get("title") or body.get("mms_id")):
        raise AlmaFault("401664", "Mandatory field is missing: title")
    if body.get("agree_to_copyright_terms") is not True:
        raise AlmaFault("401664", "Mandatory field is missing: agree_to_copyright_terms")
    if value_of(body.get("format")) == "PHYSICAL" and not value_of(body.get("pickup_location")):
        raise AlmaFault("401664", "Mandatory field is missing: pickup_location")
    owner = body.get("owner")
    if owner is not None and not isinstance(owner, str):
        # Alma rejects a wrapped owner (AlmaAPITK, sandbox): alma-api.md §3.2.
        raise AlmaFault(
            "40166411", "Invalid field value. Field: [Ljava.lang.Object;@1f, Value: {1}"
        )
    named = owner is not None
    owner = rules.resolve_owner(inst, user, owner)
    if named:  # an owner Alma chose itself is borrowing.owner_when_omitted's matter
        owner = rules.owner_by_pickup(inst, owner, value_of(body.get("pickup_location")))
    title = str(body.get("title") or "")
    rules.check_may_borrow(inst, user)
    # Staff may override the block on a title the institution holds (alma-rs-workflow.md
    # §1.1: 401604 without override_blocks, 200 with override_blocks=true).
    if request.args.get("override_blocks", "false") != "true":
        rules.check_not_held(inst, title, str(body.get("isbn") or ""))
    rules.check_no_duplicate(user, title, live.borrowing.values())
    rules.borrowing_library(inst, owner)
    external_id = str(body.get("external_id") or "")
    request_id = render.digits(f"{inst.code}:{external_id or title}:{uid}")
    record = render.new_borrowing(
        inst,
        user,
        request_id=request_id,
        external_id=external_id,
        owner=owner,
        title=title,
        body=body,
    )
    live.borrowing[request_id] = record
    if inst.delays.send:
        live.due[request_id] = live.clock() + inst.delays.send
    return render.public(record)


def _borrowing(live: Live, request: Request, uid: str, rid: str) -> Answer:
    record = _find_borrowing(live, request, uid, rid)
    if request.method == "DELETE":
        network.withdrawn(live, record)
        if request.args.get("remove_request", "false") == "true":
            del live.borrowing[record["request_id"]]
        else:
            # UNVERIFIED(borrowing.cancelled_status_code)
            code = rules.staff_cancel_code(live.institution)
            record["status"] = render.code(code, rules.STAFF_CANCEL_DESC)
        return None
    if _waiting(live, record["request_id"]):
        return render.public(record)
    sent_code = rules.sent_code(live.institution)
    if record["status"]["value"] == "LOCATE_IN_PROCESS":
        sent = rules.send_on(live.institution, record["title"], live.peers)
        if sent.partner is not None:
            record["partner"] = render.code(sent.partner.code, sent.partner.name)
        record["status"] = render.code(sent.status, sent.desc)
        if sent.partner is not None and sent.status == sent_code:
            if live.institution.plays(rules.SEND_ON) == "ready_first":
                record["status"] = render.code("READY_TO_SEND", "Ready to be sent")
                record["_send_later"] = True
            else:
                network.deliver(live, record, sent.partner, _base(request))
    elif record.get("_send_later") and record["status"]["value"] == "READY_TO_SEND":
        record["_send_later"] = False
        record["status"] = render.code(sent_code, rules.SENT_DESC)
        partner = live.institution.partner(value_of(record["partner"]) or "")
        if partner is not None:
            network.deliver(live, record, partner, _base(request))
    elif record["status"]["value"] == sent_code:
        network.answered(live, record, _base(request))
    return render.public(record)


def _waiting(live: Live, request_id: str) -> bool:
    """Whether a request is still within its institution's delay (``delays``)."""
    due = live.due.get(request_id)
    if due is None:
        return False
    if live.clock() < due:
        return True
    del live.due[request_id]
    return False


def _find_borrowing(live: Live, request: Request, uid: str, rid: str) -> BorrowingRecord:
    _find_user(live, uid)
    by_external = request.args.get("request_id_type") == "external"
    for record in live.borrowing.values():
        key = record["external_id"] if by_external else record["request_id"]
        if key == rid and record["_user"] == uid.lower():
            return record
    if request.method == "DELETE":
        raise AlmaFault("401694", "Request Identifier not found")
    raise AlmaFault("40166450", "No result found for given parameters")


# -- partners and lending ------------------------------------------------------------


def _partners(live: Live, request: Request) -> Answer:
    wanted = request.args.get("status")
    base = _base(request)
    records = [
        _played_partner(live, p, base)
        for p in live.institution.partners
        if wanted in (None, "", p.status)
    ]
    return _paged(live, "partner", records, request)


def _partner(live: Live, request: Request, code: str) -> Answer:
    return _played_partner(live, _find_partner(live, code), _base(request))


def _played_partner(live: Live, partner: Partner, base: str) -> Json:
    inst = live.institution
    return render.partner(
        partner,
        base,
        expiry_time=inst.plays("partner.expiry_time_field"),
        institution_code=inst.plays("partner.institution_code_field"),
    )


def _find_partner(live: Live, code: str) -> Partner:
    partner = live.institution.partner(code)
    if partner is None:
        raise AlmaFault("402118", "Partner not found")
    return partner


def _create_lending(live: Live, request: Request, code: str) -> Answer:
    inst = live.institution
    partner = _find_partner(live, code)
    body = _json_body(request)
    for name in ("external_id", "owner"):
        if not body.get(name):
            raise AlmaFault("401664", f"Mandatory field is missing: {name}")
    if not isinstance(body["owner"], str) or value_of(body.get("partner")) != code:
        raise AlmaFault("40166411", "Invalid parameter: owner or partner")
    if not value_of(body.get("format")):
        raise AlmaFault("401664", "Mandatory field is missing: format")
    if not (body.get("title") or body.get("mms_id")):
        raise AlmaFault("401664", "Mandatory field is missing: title")
    library = rules.lending_library(inst, body["owner"])
    title = str(body.get("title") or "")
    located = rules.locate(inst, library, title)
    request_id = render.digits(f"{inst.code}:lend:{body['external_id']}")
    status, desc = located.status, located.desc
    if located.interim is not None:
        status, desc = located.interim, rules.LENDING_DESC[located.interim]
        live.settling[request_id] = (located, located.reads)
    elif inst.delays.locate:
        status, desc = "LOCATE_IN_PROCESS", rules.LENDING_DESC["LOCATE_IN_PROCESS"]
        live.settling[request_id] = (located, 0)
    if inst.delays.locate:
        live.due[request_id] = live.clock() + inst.delays.locate
    record = render.new_lending(
        inst,
        partner,
        library,
        request_id=request_id,
        status=status,
        desc=desc,
        title=title,
        mms_id=located.mms_id,
        body=body,
        base=_base(request),
    )
    live.lending[request_id] = record
    return record


def _lending(live: Live, request: Request, code: str, rid: str) -> Answer:
    _find_partner(live, code)
    record = live.lending.get(rid)
    if record is None or record["partner"]["value"] != code:
        raise AlmaFault("40166412", "Failed to perform action")
    if rid in live.settling and not _waiting(live, rid):
        # UNVERIFIED(lending.auto_reject_timing): locate settles after some reads, or never
        # within a run (by a job).
        located, left = live.settling[rid]
        if left is not None and left <= 0:
            record["status"] = render.code(located.status, located.desc)
            del live.settling[rid]
        elif left is not None:
            live.settling[rid] = (located, left - 1)
    return record


_TASK_FILTERS: dict[str, Callable[[LendingRecord, str], bool]] = {
    "status": lambda r, v: r["status"]["value"] == v,
    "partner": lambda r, v: r["partner"]["value"] == v,
    "printed": lambda r, v: r["printed"] == (v == "Y"),
    "reported": lambda r, v: r["reported"] == (v == "Y"),
}


def _lending_tasks(live: Live, request: Request) -> Answer:
    library = request.args.get("library")
    if not library:
        raise AlmaFault("401664", "Mandatory field is missing: library")
    records = [r for r in live.lending.values() if r["owner"] == library]
    # UNVERIFIED(lending.task_list_includes_completed): every status, or the active only.
    if live.institution.plays("lending.task_list_includes_completed") == "active_only":
        records = [r for r in records if r["status"]["value"] not in rules.ENDED_LENDING]
    for name, keep in _TASK_FILTERS.items():
        value = request.args.get(name)
        if value:
            records = [r for r in records if keep(r, value)]
    key = "user_resource_sharing_request"
    if not records:
        # UNVERIFIED(lists.empty_page_shape)
        return render.empty_page(key, 0, live.institution.plays("lists.empty_page_shape"))
    return {key: records, "total_record_count": len(records)}


def _requested_resources(live: Live, request: Request) -> Answer:
    for name in ("library", "circ_desk"):
        if not request.args.get(name):
            raise AlmaFault("401664", f"Mandatory field is missing: {name}")
    args = request.args
    records = network.requested_resources(live, args["library"], args["circ_desk"], _base(request))
    key = "requested_resource"
    if not records:
        # UNVERIFIED(lists.empty_page_shape)
        return render.empty_page(key, 0, live.institution.plays("lists.empty_page_shape"))
    return {key: records, "total_record_count": len(records)}


# -- analytics -----------------------------------------------------------------------


def _analytics(live: Live, request: Request) -> Answer:
    """Analytics reports as XML pages with a resumption token (alma-api.md §6.6)."""
    try:
        limit = int(request.args.get("limit", "25"))
    except ValueError as exc:
        raise AlmaFault("40166411", "Invalid parameter: limit") from exc
    if not 25 <= limit <= 1000:
        raise AlmaFault("40166411", "Invalid parameter: limit must be 25-1000")
    token = request.args.get("token")
    if token:
        if token not in live.tokens:
            raise AlmaFault("60101", "General Error: the resumption token is not valid.")
        path, offset = live.tokens[token]
    else:
        path, offset = request.args.get("path", ""), 0
    report = live.institution.analytics_reports.get(path)
    if report is None:
        # UNVERIFIED(analytics.unknown_report_code): a report path that does not exist.
        played = live.institution.plays("analytics.unknown_report_code")
        status = 404 if played == "not_found" else 400
        raise AlmaFault("60101", f"General Error: no Analytics report at {path}.", status)
    token = "TOKEN-" + render.digits(f"{live.institution.code}:{path}", 12)
    live.tokens[token] = (path, offset + limit)
    # UNVERIFIED(analytics.rs_terms_of_use): whether the subject area shows RS rows.
    rows = render.analytics_rows(report.rows, live.institution.plays("analytics.rs_terms_of_use"))
    body = render.analytics(
        report,
        rows[offset : offset + limit],
        token=token,
        first=offset == 0,
        done=offset + limit >= len(rows),
    )
    return Response(body, 200, content_type="application/xml;charset=UTF-8")


# -- items ---------------------------------------------------------------------------


def _item(live: Live, request: Request, mms: str, hid: str, pid: str) -> Answer:
    for bib, holding, item in render.items(live.institution):
        if (bib.mms_id, holding.holding_id, item.pid) == (mms, hid, pid):
            return render.item(live.institution, bib, holding, item, _base(request))
    # UNVERIFIED(item.unknown_item_code): the code for an unknown item identifier.
    raise _unknown(live, "item.unknown_item_code", f"No items found for item {pid}.")


def _item_by_barcode(live: Live, request: Request) -> Answer:
    barcode = request.args.get("item_barcode", "")
    for bib, holding, item in render.items(live.institution):
        if item.barcode == barcode:
            target = (
                f"{_base(request)}/bibs/{bib.mms_id}/holdings/{holding.holding_id}/items/{item.pid}"
            )
            response = Response(status=302)
            response.headers["Location"] = target
            return response
    raise AlmaFault("401689", f"No items found for barcode {barcode}.")


# -- request parsing -----------------------------------------------------------------


def _json_body(request: Request) -> Json:
    try:
        data = json.loads(request.get_data() or b"{}")
    except ValueError as exc:
        raise AlmaFault("60101", "General Error: the body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise AlmaFault("60101", "General Error: the body is not a JSON object.")
    return data


def _paged(live: Live, key: str, records: list[Json], request: Request) -> Json:
    try:
        limit = int(request.args.get("limit", "10"))
        offset = int(request.args.get("offset", "0"))
    except ValueError as exc:
        raise AlmaFault("40166411", "Invalid parameter: limit/offset") from exc
    if not 0 <= limit <= 100 or offset < 0:
        # UNVERIFIED(lists.invalid_paging_code): refused with a code, or clamped.
        if live.institution.plays("lists.invalid_paging_code") != "clamped":
            message = "Invalid parameter: limit must be 0-100"
            raise _unknown(live, "lists.invalid_paging_code", message)
        limit, offset = min(max(limit, 0), 100), max(offset, 0)
    empty = live.institution.plays("lists.empty_page_shape")
    return render.page(key, records, limit, offset, empty=empty)


def _base(request: Request) -> str:
    return request.host_url.rstrip("/") + PREFIX


# Endpoints are the handlers themselves. A path takes GET only unless it says otherwise:
# another method is UNVERIFIED(gateway.unsupported_method_answer).
ROUTES = Map(
    [
        Rule("/conf/general", endpoint=_general, methods=["GET"]),
        Rule("/conf/libraries", endpoint=_libraries, methods=["GET"]),
        Rule("/conf/libraries/<lib>", endpoint=_library, methods=["GET"]),
        Rule("/conf/libraries/<lib>/locations", endpoint=_locations, methods=["GET"]),
        Rule("/conf/libraries/<lib>/locations/<loc>", endpoint=_location, methods=["GET"]),
        Rule("/conf/libraries/<lib>/circ-desks", endpoint=_circ_desks, methods=["GET"]),
        Rule("/conf/jobs", endpoint=_jobs, methods=["GET"]),
        Rule("/conf/jobs/<job_id>/instances", endpoint=_job_instances, methods=["GET"]),
        Rule("/conf/code-tables/<name>", endpoint=_code_table, methods=["GET"]),
        *[Rule(p, endpoint=_probe, methods=["GET", "POST"]) for p in sorted(SELF_TESTS)],
        Rule("/users", endpoint=_users, methods=["GET"]),
        Rule("/users/<uid>", endpoint=_user, methods=["GET"]),
        Rule(
            "/users/<uid>/resource-sharing-requests",
            endpoint=_create_borrowing,
            methods=["POST"],
        ),
        Rule(
            "/users/<uid>/resource-sharing-requests/<rid>",
            endpoint=_borrowing,
            methods=["GET", "DELETE"],
        ),
        Rule("/partners", endpoint=_partners, methods=["GET"]),
        Rule("/partners/<code>", endpoint=_partner, methods=["GET"]),
        Rule("/partners/<code>/lending-requests", endpoint=_create_lending, methods=["POST"]),
        Rule("/partners/<code>/lending-requests/<rid>", endpoint=_lending, methods=["GET"]),
        Rule("/task-lists/rs/lending-requests", endpoint=_lending_tasks, methods=["GET"]),
        Rule("/task-lists/requested-resources", endpoint=_requested_resources, methods=["GET"]),
        Rule("/bibs/<mms>/holdings/<hid>/items/<pid>", endpoint=_item, methods=["GET"]),
        Rule("/analytics/reports", endpoint=_analytics, methods=["GET"]),
        Rule("/items", endpoint=_item_by_barcode, methods=["GET"]),
    ],
    strict_slashes=False,
)
