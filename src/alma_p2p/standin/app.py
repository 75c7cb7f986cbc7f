"""The Alma stand-in: a WSGI app answering the subset of ``/almaws/v1`` the suite uses.

It answers with Alma's shapes (code-table fields as ``{"value","desc"}``, lists as
``{"<singular>": [...], "total_record_count": N}``), Alma's error channel (HTTP 400 with
``errorList.error[].errorCode`` strings), ``UNAUTHORIZED`` for a key without the API area,
429 ``PER_SECOND_THRESHOLD`` above the per-second threshold, and ``X-Exl-Api-Remaining`` on
every answer, all as documented in ``shared/reference/alma-api.md``. It applies Alma's
documented rules for borrowing-request owners and lender auto-reject. Every behaviour taken
from an UNVERIFIED line of the reference is marked ``UNVERIFIED`` here. It invents no
endpoint Alma lacks: state only staff can create (a received request) comes from the world.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from alma_p2p.alma.gateway import API_AREAS, PREFIX, SELF_TESTS
from alma_p2p.standin.world import Bib, Institution, Library, User, World

JSON_TYPE = "application/json;charset=UTF-8"
# Which API area a key needs for a path: the same documented fact the client reports from.
AREAS = API_AREAS


class AlmaFault(Exception):
    """An Alma business error to answer with (HTTP 400 unless said otherwise)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code} {message}")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int
    institution: str | None


@dataclass
class _Live:
    """Mutable state of one institution while the stand-in runs."""

    institution: Institution
    borrowing: dict[str, dict[str, Any]] = field(default_factory=dict)
    lending: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: int = 0
    recent: deque[float] = field(default_factory=deque)
    tokens: dict[str, tuple[str, int]] = field(default_factory=dict)  # token → (path, offset)


def _code(value: str | None, desc: str | None = None) -> dict[str, Any]:
    return {"value": value if value is not None else "", "desc": desc}


def _digits(text: str, width: int = 14) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:15], 16) % 10**width).zfill(width)


class StandinApp:
    """The WSGI application; ``request_log`` records every request it answered."""

    def __init__(self, world: World, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.world = world
        self.clock = clock
        self.request_log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}
        self._keys: dict[str, tuple[str, dict[str, str]]] = {}
        for inst in world.institutions:
            live = self._live[inst.code] = _Live(inst)
            for req in inst.borrowing_requests:
                live.borrowing[req.request_id] = self._seeded_borrowing(inst, req)
            for key in inst.api_keys:
                self._keys[key.key] = (inst.code, dict(key.areas))
        self._routes = Map(
            [
                Rule("/conf/general", endpoint="general"),
                Rule("/conf/libraries", endpoint="libraries"),
                Rule("/conf/libraries/<lib>", endpoint="library"),
                Rule("/conf/libraries/<lib>/locations", endpoint="locations"),
                Rule("/conf/libraries/<lib>/locations/<loc>", endpoint="location"),
                Rule("/conf/libraries/<lib>/circ-desks", endpoint="circ_desks"),
                Rule("/conf/jobs", endpoint="jobs"),
                Rule("/conf/jobs/<job_id>/instances", endpoint="job_instances"),
                Rule("/conf/code-tables/<name>", endpoint="code_table"),
                *[Rule(p, endpoint="probe", methods=["GET", "POST"]) for p in sorted(SELF_TESTS)],
                Rule("/users", endpoint="users"),
                Rule("/users/<uid>", endpoint="user"),
                Rule(
                    "/users/<uid>/resource-sharing-requests",
                    endpoint="create_borrowing",
                    methods=["POST"],
                ),
                Rule(
                    "/users/<uid>/resource-sharing-requests/<rid>",
                    endpoint="borrowing",
                    methods=["GET", "DELETE"],
                ),
                Rule("/partners", endpoint="partners"),
                Rule("/partners/<code>", endpoint="partner"),
                Rule(
                    "/partners/<code>/lending-requests",
                    endpoint="create_lending",
                    methods=["POST"],
                ),
                Rule("/partners/<code>/lending-requests/<rid>", endpoint="lending"),
                Rule("/task-lists/rs/lending-requests", endpoint="lending_tasks"),
                Rule("/bibs/<mms>/holdings/<hid>/items/<pid>", endpoint="item"),
                Rule("/analytics/reports", endpoint="analytics"),
                Rule("/items", endpoint="item_by_barcode"),
            ],
            strict_slashes=False,
        )

    def reset_log(self) -> None:
        self.request_log.clear()

    # -- WSGI ----------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            response, institution = self._dispatch(request)
        query = {k: v for k, v in request.args.items() if k != "apikey"}
        self.request_log.append(
            LoggedRequest(request.method, request.path, query, response.status_code, institution)
        )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> tuple[Response, str | None]:
        if not request.path.startswith(PREFIX + "/"):
            page = "<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>"
            return Response(page, 404, content_type="text/html"), None
        path = request.path[len(PREFIX) :]
        key = _api_key(request)
        granted = self._keys.get(key or "")
        area = AREAS.get(path.strip("/").split("/", 1)[0])
        write = request.method not in {"GET", "HEAD"}
        if granted is None or area is None or not _allows(granted[1], area, write):
            return _unauthorized(), granted[0] if granted else None
        live = self._live[granted[0]]
        if self._over_threshold(live):
            return self._error(live, request, AlmaFault(
                "PER_SECOND_THRESHOLD",
                "HTTP requests are more than allowed per second. See https://goo.gl/2x1c1M ",
                429,
            )), live.institution.code  # fmt: skip
        if live.calls >= live.institution.daily_threshold:
            # UNVERIFIED: the code and text of Alma's daily-threshold answer (alma-api.md §1.4).
            response = self._error(live, request, AlmaFault(
                "DAILY_THRESHOLD", "Daily API threshold exceeded.", 429
            ))  # fmt: skip
            self._remaining(live, response)
            return response, live.institution.code
        live.calls += 1
        try:
            endpoint, args = self._routes.bind("standin").match(path, method=request.method)
            handler = getattr(self, f"_{endpoint}")
            answer = handler(live, request, **args)
        except AlmaFault as raised:
            return self._error(live, request, raised), live.institution.code
        except MethodNotAllowed:
            # UNVERIFIED: how Alma answers a method a path does not support.
            fault = AlmaFault("60101", f"Method {request.method} is not supported here.")
            return self._error(live, request, fault), live.institution.code
        except NotFound:
            # UNVERIFIED: Alma's answer to an unknown path under /almaws/v1.
            fault = AlmaFault("60101", "General Error: the request path is not valid.", 404)
            return self._error(live, request, fault), live.institution.code
        except HTTPException as exc:  # pragma: no cover - werkzeug routing only
            fault = AlmaFault("60101", str(exc.description), exc.code or 400)
            return self._error(live, request, fault), live.institution.code
        if isinstance(answer, Response):
            response = answer
        elif answer is None:
            response = Response(status=204)
        else:
            answer = _apply_quirks(answer, self.world.release_quirks)
            response = Response(json.dumps(answer, ensure_ascii=False), 200, content_type=JSON_TYPE)
        self._remaining(live, response)
        return response, live.institution.code

    def _over_threshold(self, live: _Live) -> bool:
        now = self.clock()
        while live.recent and now - live.recent[0] >= 1.0:
            live.recent.popleft()
        if len(live.recent) >= live.institution.per_second_threshold:
            return True
        live.recent.append(now)
        return False

    def _remaining(self, live: _Live, response: Response) -> None:
        left = max(0, live.institution.daily_threshold - live.calls)
        response.headers["X-Exl-Api-Remaining"] = str(left)

    def _error(self, live: _Live, request: Request, fault: AlmaFault) -> Response:
        tracking = "E01-" + _digits(f"{request.method} {request.full_path}", 10) + "-STANDIN"
        body = {
            "errorsExist": True,
            "errorList": {
                "error": [
                    {"errorCode": fault.code, "errorMessage": fault.message, "trackingId": tracking}
                ]
            },
            "result": None,
        }
        response = Response(json.dumps(body), fault.status, content_type=JSON_TYPE)
        self._remaining(live, response)
        return response

    # -- conf --------------------------------------------------------------------

    def _general(self, live: _Live, request: Request) -> dict[str, Any]:
        inst = live.institution
        return {
            "institution": _code(inst.code, inst.name),
            "alma_url": inst.alma_url,
            "environment_type": inst.environment_type,  # UNVERIFIED: plain string
        }

    def _library_json(self, inst: Institution, lib: Library, base: str) -> dict[str, Any]:
        return {
            "code": lib.code,
            "id": _digits(inst.code + lib.code, 12),
            "name": lib.name,
            "description": lib.description,
            "resource_sharing": lib.resource_sharing,
            "campus": _code(lib.campus, lib.campus),
            "proxy": "",
            "default_location": _code(lib.default_location, None),
            "path": f"{inst.code}.{inst.code}.{lib.code}",
            "link": f"{base}/conf/libraries/{lib.code}",
        }

    def _libraries(self, live: _Live, request: Request) -> dict[str, Any]:
        inst = live.institution
        base = _base(request)
        records = [self._library_json(inst, lib, base) for lib in inst.libraries]
        return {"library": records, "total_record_count": len(records)}

    def _find_library(self, live: _Live, code: str) -> Library:
        lib = live.institution.library(code)
        if lib is None:
            # UNVERIFIED: the code Alma gives for an unknown library.
            raise AlmaFault("402119", f"General error: library {code} was not found.")
        return lib

    def _library(self, live: _Live, request: Request, lib: str) -> dict[str, Any]:
        found = self._find_library(live, lib)
        return self._library_json(live.institution, found, _base(request))

    def _location_json(self, lib: Library, loc: Any, base: str, *, single: bool) -> dict[str, Any]:
        record: dict[str, Any] = {
            "code": loc.code,
            "name": loc.name,
            "external_name": loc.external_name or loc.name,
            "type": _code(loc.type, loc.type.capitalize()),
            "remote_storage": "",
            "map": "",
            "suppress_from_publishing": "true" if loc.suppress_from_publishing else "false",
            "fulfillment_unit": _code(loc.fulfillment_unit, loc.fulfillment_unit),
            "accession_placement": _code("none", "None"),
            "call_number_type": _code("", None),
        }
        if single:
            desks = {d.code: d for d in lib.circ_desks}
            # UNVERIFIED: field names of a location's circ desks (DCB's model).
            record["circ_desk"] = [
                {
                    "circ_desk_code": link.code,
                    "circ_desk_name": desks[link.code].name if link.code in desks else link.code,
                    "check_in": link.check_in,
                    "check_out": link.check_out,
                    "reshelve": link.reshelve,
                    "link": f"{base}/conf/libraries/{lib.code}/circ-desks/{link.code}",
                }
                for link in loc.circ_desks
            ]
        record["link"] = f"{base}/conf/libraries/{lib.code}/locations/{loc.code}"
        return record

    def _locations(self, live: _Live, request: Request, lib: str) -> dict[str, Any]:
        found = self._find_library(live, lib)
        base = _base(request)
        records = [self._location_json(found, loc, base, single=False) for loc in found.locations]
        return {"location": records, "total_record_count": len(records)}

    def _location(self, live: _Live, request: Request, lib: str, loc: str) -> dict[str, Any]:
        found = self._find_library(live, lib)
        location = next((x for x in found.locations if x.code == loc), None)
        if location is None:
            # UNVERIFIED: the code Alma gives for an unknown location.
            raise AlmaFault("402119", f"General error: location {loc} was not found in {lib}.")
        return self._location_json(found, location, _base(request), single=True)

    def _circ_desks(self, live: _Live, request: Request, lib: str) -> dict[str, Any]:
        found = self._find_library(live, lib)
        base = _base(request)
        records = [
            {
                "code": d.code,
                "name": d.name,
                "has_hold_shelf": d.has_hold_shelf,
                "link": f"{base}/conf/libraries/{lib}/circ-desks/{d.code}",
            }
            for d in found.circ_desks
        ]
        return _paged("circ_desk", records, request)

    def _jobs(self, live: _Live, request: Request) -> dict[str, Any]:
        wanted = request.args.get("type")
        base = _base(request)
        records = [
            {
                "id": job.id,
                "name": job.name,
                "description": job.description,
                "type": _code(job.type, job.type.capitalize()),
                "category": _code(job.category, job.category.capitalize()),
                "schedule": _code(job.schedule.value, job.schedule.desc),
                # UNVERIFIED: how Alma exposes whether a scheduled job is active.
                "status": _code(
                    "ACTIVE" if job.active else "INACTIVE", "Active" if job.active else "Inactive"
                ),
                "next_run": job.next_run if job.active else None,
                "link": f"{base}/conf/jobs/{job.id}",
            }
            for job in live.institution.jobs
            if wanted in (None, "", job.type)
        ]
        return _paged("job", records, request)

    def _job_instances(self, live: _Live, request: Request, job_id: str) -> dict[str, Any]:
        job = next((j for j in live.institution.jobs if j.id == job_id), None)
        if job is None:
            raise AlmaFault("402215", f"Job {job_id} was not found.")  # code per [SW26] range
        records = [
            {
                "id": run.id,
                "name": job.name,
                "submit_date": run.submit_date,
                "status": _code(run.status, run.status.replace("_", " ").capitalize()),
                "link": f"{_base(request)}/conf/jobs/{job_id}/instances/{run.id}",
            }
            for run in job.runs
        ]
        return _paged("job_instance", records, request)

    def _code_table(self, live: _Live, request: Request, name: str) -> dict[str, Any]:
        table = live.institution.code_tables.get(name)
        scope = request.args.get("scope")
        if table is None:
            # UNVERIFIED: the code Alma gives for an unknown code table.
            raise AlmaFault("40166411", f"Invalid parameter: code table {name} does not exist.")
        rows = table.rows
        if scope and scope != live.institution.code:
            if scope not in table.scopes:
                raise AlmaFault("40166411", f"Invalid parameter: scope {scope} for table {name}.")
            rows = table.scopes[scope]
        return {
            "name": name,
            "description": table.description,
            "sub_system": {"value": "FULFILLMENT", "desc": "Fulfillment"},
            "patron_facing": False,
            "language": {"value": request.args.get("lang", "en"), "desc": "English"},
            "scope": {
                "institution_id": {"value": live.institution.code},
                "library_id": {"value": scope or ""},
            },
            "row": [
                {
                    "code": r.code,
                    "description": r.description,
                    "enabled": r.enabled,
                    "default": r.default,
                }
                for r in rows
            ],
        }

    def _probe(self, live: _Live, request: Request) -> dict[str, Any]:
        # The reference shows the XML form <test>GET - OK - institutionCode: X</test>;
        # UNVERIFIED: the JSON form of the same answer.
        return {"test": f"{request.method} - OK - institutionCode: {live.institution.code}"}

    # -- users -------------------------------------------------------------------

    def _user_json(self, inst: Institution, user: Any, base: str) -> dict[str, Any]:
        names = {lib.code: lib.name for lib in inst.libraries}
        record: dict[str, Any] = {
            "record_type": _code(user.record_type, user.record_type.capitalize()),
            "primary_id": user.primary_id,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "full_name": " ".join(p for p in (user.first_name, user.last_name) if p),
            "user_group": _code(user.user_group, user.user_group),
            "campus_code": _code(user.campus_code, user.campus_code),
            "account_type": _code(user.account_type, user.account_type.capitalize()),
            "status": _code(user.status, user.status.capitalize()),
            "birth_date": f"{user.birth_date.isoformat()}Z" if user.birth_date else None,
            "user_identifier": (
                [
                    {
                        "id_type": _code("BARCODE", "Barcode"),
                        "value": user.barcode,
                        "status": "ACTIVE",
                    }
                ]
                if user.barcode
                else []
            ),
            "contact_info": {
                "address": [],
                "email": ([{"email_address": user.email, "preferred": True}] if user.email else []),
                "phone": ([{"phone_number": user.phone, "preferred": True}] if user.phone else []),
            },
            "link": f"{base}/users/{user.primary_id}",
        }
        if user.rs_libraries:
            record["rs_library"] = [
                {"code": _code(code, names.get(code))} for code in user.rs_libraries
            ]
        # else: no rs_library key at all, as in pulibrary's real patrons (alma-api.md §2.1).
        record.update(user.raw)
        return record

    def _users(self, live: _Live, request: Request) -> dict[str, Any]:
        users = list(live.institution.users)
        query = request.args.get("q")
        if query:
            field_name, _, value = query.partition("~")
            users = [u for u in users if _matches(u, field_name, value)]
        base = _base(request)
        records = [
            {
                "primary_id": u.primary_id,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "status": _code(u.status, u.status.capitalize()),
                "link": f"{base}/users/{u.primary_id}",
            }
            for u in users
        ]
        return _paged("user", records, request)

    def _find_user(self, live: _Live, uid: str) -> Any:
        user = live.institution.user(uid)
        if user is None:
            raise AlmaFault("401861", f"User with identifier {uid} was not found.")
        return user

    def _user(self, live: _Live, request: Request, uid: str) -> dict[str, Any]:
        return self._user_json(live.institution, self._find_user(live, uid), _base(request))

    # -- borrowing requests ----------------------------------------------------------

    def _seeded_borrowing(self, inst: Institution, req: Any) -> dict[str, Any]:
        return {
            "request_id": req.request_id,
            "external_id": req.external_id,
            "status": _code(req.status, req.status_desc),
            "owner": req.owner,
            "partner": _code(req.partner, req.partner),
            "format": _code("PHYSICAL", "Physical"),
            "citation_type": _code("BK", "Book"),
            "title": req.title,
            "mms_id": req.mms_id or "",
            "requester": _code(req.user, None),
            "created_date": f"{inst.today.isoformat()}Z",
            "_user": req.user.lower(),
        }

    def _create_borrowing(self, live: _Live, request: Request, uid: str) -> dict[str, Any]:
        inst = live.institution
        user = self._find_user(live, uid)
        body = _json_body(request)
        for name in ("format", "citation_type"):
            if not _value(body.get(name)):
                raise AlmaFault("401664", f"Mandatory field is missing: {name}")
        if not (body.get("title") or body.get("mms_id")):
            raise AlmaFault("401664", "Mandatory field is missing: title")
        if body.get("agree_to_copyright_terms") is not True:
            raise AlmaFault("401664", "Mandatory field is missing: agree_to_copyright_terms")
        if _value(body.get("format")) == "PHYSICAL" and not _value(body.get("pickup_location")):
            raise AlmaFault("401664", "Mandatory field is missing: pickup_location")
        owner = body.get("owner")
        if owner is not None and not isinstance(owner, str):
            # Alma rejects a wrapped owner (AlmaAPITK, sandbox): alma-api.md §3.2.
            raise AlmaFault(
                "40166411", "Invalid field value. Field: [Ljava.lang.Object;@1f, Value: {1}"
            )
        owner = self._resolve_owner(inst, user, owner)
        title = str(body.get("title") or "")
        if _held(inst, title, str(body.get("isbn") or "")):
            raise AlmaFault(
                "401604",
                "Warning: The institutional inventory has services for the requested title",
            )
        for existing in live.borrowing.values():
            if existing["_user"] == user.primary_id.lower() and _same_title(
                existing["title"], title
            ):
                raise AlmaFault(
                    "402362", "Failed to save the request: Patron has duplicate request"
                )
        library = inst.library(owner)
        if library is None or not library.borrowing_default_location:
            raise AlmaFault(
                "402039",
                "Could not create request, default item location is not defined for the "
                "resource sharing library",
            )
        external_id = str(body.get("external_id") or "")
        request_id = _digits(f"{inst.code}:{external_id or title}:{uid}")
        record = {
            "request_id": request_id,
            "external_id": external_id,
            # The Tel Aviv capture shows LOCATE_IN_PROCESS right after create (workflow §1.1).
            "status": _code("LOCATE_IN_PROCESS", "Locate in process"),
            "owner": owner,
            "partner": _code(None, None),
            "format": _code(_value(body.get("format")), None),
            "citation_type": _code(_value(body.get("citation_type")), None),
            "title": title,
            "author": body.get("author"),
            "mms_id": "",
            "pickup_location": _code(_value(body.get("pickup_location")), None),
            "pickup_location_type": body.get("pickup_location_type"),
            "requester": _code(user.primary_id, None),
            "created_date": f"{inst.today.isoformat()}Z",
            "_user": user.primary_id.lower(),
        }
        live.borrowing[request_id] = record
        return _public(record)

    def _resolve_owner(self, inst: Institution, user: User, owner: str | None) -> str:
        """Owner rules: alma-api.md §3.2 and alma-rs-workflow.md §1.6.

        The patron's own RS library wins; an owner outside the patron's RS libraries is
        401608; several RS libraries and no owner is 401607. UNVERIFIED: a patron with no
        RS library gets the institution's only RS library at a single-library institution
        (the PALS single-library case) and the world's ``no_rs_library_error`` elsewhere.
        """
        mine = list(user.rs_libraries)
        institution_rs = [lib.code for lib in inst.rs_libraries]
        if owner is not None:
            if mine and owner not in mine:
                raise AlmaFault(
                    "401608",
                    "The given resource sharing library (owner) is not defined in the patron "
                    "record",
                )
            if not mine and not (len(institution_rs) == 1 and owner in institution_rs):
                raise _no_rs_library(inst)
            return owner
        if len(mine) == 1:
            return mine[0]
        if len(mine) > 1:
            raise AlmaFault("401607", "Resource sharing library (owner) is missing")
        if len(institution_rs) == 1:
            return institution_rs[0]
        raise _no_rs_library(inst)

    def _find_borrowing(self, live: _Live, request: Request, uid: str, rid: str) -> dict[str, Any]:
        self._find_user(live, uid)
        by_external = request.args.get("request_id_type") == "external"
        for record in live.borrowing.values():
            key = record["external_id"] if by_external else record["request_id"]
            if key == rid and record["_user"] == uid.lower():
                return record
        if request.method == "DELETE":
            raise AlmaFault("401694", "Request Identifier not found")
        raise AlmaFault("40166450", "No result found for given parameters")

    def _borrowing(self, live: _Live, request: Request, uid: str, rid: str) -> Any:
        record = self._find_borrowing(live, request, uid, rid)
        if request.method == "DELETE":
            if request.args.get("remove_request", "false") == "true":
                del live.borrowing[record["request_id"]]
            else:
                record["status"] = _code("CANCELLED", "Canceled by staff")  # UNVERIFIED code
            return None
        if record["status"]["value"] == "LOCATE_IN_PROCESS":
            self._send_on(live.institution, record)
        return _public(record)

    def _send_on(self, inst: Institution, record: dict[str, Any]) -> None:
        """After locate: the rota's first active partner, sent if a sending rule applies.

        Modelled on the Tel Aviv capture (LOCATE_IN_PROCESS, then READY_TO_SEND with a
        partner about 2 s later; alma-rs-workflow.md §1.1) and PALS/CSU on "Ready to be
        sent" and locate failure (§1.2). UNVERIFIED: the exact order of these steps.
        """
        partners = [p for p in (inst.partner(c) for c in inst.rota) if p is not None]
        active = [p for p in partners if p.status == "ACTIVE" and p.lending_supported]
        if not active:
            record["status"] = _code("LOCATE_FAILED", "Locate failed")
            return
        record["partner"] = _code(active[0].code, active[0].name)
        if inst.sends_automatically:
            record["status"] = _code("REQUEST_SENT", "Request sent to partner")
        else:
            record["status"] = _code("READY_TO_SEND", "Ready to be sent")

    # -- partners and lending ------------------------------------------------------

    def _partner_json(self, partner: Any, base: str) -> dict[str, Any]:
        details: dict[str, Any] = {
            "code": partner.code,
            "name": partner.name,
            "status": partner.status,
            "profile_details": {
                "profile_type": partner.profile_type,
                "iso_details": {
                    "iso_symbol": partner.iso_symbol,
                    "request_expiry_type": _code(
                        partner.request_expiry_type,
                        partner.request_expiry_type.replace("_", " ").capitalize(),
                    ),
                    "expiry_time": partner.expiry_time,
                    "send_requester_information": False,
                    "shared_barcodes": True,
                },
            },
            "system_type": _code(partner.system_type, partner.system_type),
            "avg_supply_time": partner.avg_supply_time,
            "delivery_delay": partner.delivery_delay,
            "currency": partner.currency,
            "borrowing_supported": partner.borrowing_supported,
            "borrowing_workflow": partner.borrowing_workflow,
            "lending_supported": partner.lending_supported,
            "lending_workflow": partner.lending_workflow,
            "auto_cancel_supported": False,
            "auto_claim_supported": False,
            "locate_profile": _code(partner.locate_profile, partner.locate_profile),
            "holding_code": partner.holding_code,
            "institution_code": partner.institution_code,
        }
        return {
            "partner_details": details,
            "contact_info": {"address": [], "phone": [], "email": []},
            "note": [],
            "link": f"{base}/partners/{partner.code}",
        }

    def _partners(self, live: _Live, request: Request) -> dict[str, Any]:
        wanted = request.args.get("status")
        base = _base(request)
        records = [
            self._partner_json(p, base)
            for p in live.institution.partners
            if wanted in (None, "", p.status)
        ]
        return _paged("partner", records, request)

    def _find_partner(self, live: _Live, code: str) -> Any:
        partner = live.institution.partner(code)
        if partner is None:
            raise AlmaFault("402118", "Partner not found")
        return partner

    def _partner(self, live: _Live, request: Request, code: str) -> dict[str, Any]:
        return self._partner_json(self._find_partner(live, code), _base(request))

    def _create_lending(self, live: _Live, request: Request, code: str) -> dict[str, Any]:
        inst = live.institution
        partner = self._find_partner(live, code)
        body = _json_body(request)
        for name in ("external_id", "owner"):
            if not body.get(name):
                raise AlmaFault("401664", f"Mandatory field is missing: {name}")
        if not isinstance(body["owner"], str) or _value(body.get("partner")) != code:
            raise AlmaFault("40166411", "Invalid parameter: owner or partner")
        if not _value(body.get("format")):
            raise AlmaFault("401664", "Mandatory field is missing: format")
        if not (body.get("title") or body.get("mms_id")):
            raise AlmaFault("401664", "Mandatory field is missing: title")
        library = inst.library(body["owner"])
        if library is None or not library.resource_sharing:
            # UNVERIFIED: the code for an owner that is not an RS library.
            raise AlmaFault("40166411", f"Invalid parameter: owner {body['owner']}")
        title = str(body.get("title") or "")
        status, mms_id = _locate(inst, library, title)
        request_id = _digits(f"{inst.code}:lend:{body['external_id']}")
        record = {
            "request_id": request_id,
            "external_id": body["external_id"],
            "status": _code(status, LENDING_DESC[status]),
            "owner": library.code,
            "partner": {
                "value": partner.code,
                "desc": partner.name,
                "link": f"{_base(request)}/partners/{partner.code}",
            },
            "format": _code(_value(body.get("format")), None),
            "citation_type": _code(_value(body.get("citation_type")), None),
            "printed": False,
            "reported": False,
            "title": title,
            "author": body.get("author"),
            "mms_id": mms_id,
            "created_date": f"{inst.today.isoformat()}Z",
            "user_request": {},
            "rs_note": [],
        }
        live.lending[request_id] = record
        return record

    def _lending(self, live: _Live, request: Request, code: str, rid: str) -> dict[str, Any]:
        self._find_partner(live, code)
        record = live.lending.get(rid)
        if record is None or record["partner"]["value"] != code:
            raise AlmaFault("40166412", "Failed to perform action")
        return record

    def _lending_tasks(self, live: _Live, request: Request) -> dict[str, Any]:
        library = request.args.get("library")
        if not library:
            raise AlmaFault("401664", "Mandatory field is missing: library")
        filters: dict[str, Callable[[dict[str, Any], str], bool]] = {
            "status": lambda r, v: r["status"]["value"] == v,
            "partner": lambda r, v: r["partner"]["value"] == v,
            "printed": lambda r, v: r["printed"] == (v == "Y"),
            "reported": lambda r, v: r["reported"] == (v == "Y"),
        }
        records = [r for r in live.lending.values() if r["owner"] == library]
        for name, keep in filters.items():
            value = request.args.get(name)
            if value:
                records = [r for r in records if keep(r, value)]
        if not records:
            return {"total_record_count": 0}  # UNVERIFIED: the key left out when empty
        return {"user_resource_sharing_request": records, "total_record_count": len(records)}

    # -- analytics -----------------------------------------------------------------

    def _analytics(self, live: _Live, request: Request) -> Response:
        """Analytics reports as XML pages with a resumption token (UNVERIFIED shape: as the
        public Analytics clients read it; alma-api.md §6.6 gives only the parameters)."""
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
            # UNVERIFIED: how Alma answers a report path that does not exist.
            raise AlmaFault("60101", f"General Error: no Analytics report at {path}.")
        page = report.rows[offset : offset + limit]
        finished = offset + limit >= len(report.rows)
        token = "TOKEN-" + _digits(f"{live.institution.code}:{path}", 12)
        live.tokens[token] = (path, offset + limit)
        schema = ""
        if offset == 0:
            cells = "".join(
                f'<xsd:element minOccurs="0" maxOccurs="1" name="Column{i}" type="xsd:string" '
                f'saw-sql:columnHeading="{escape(heading, {chr(34): "&quot;"})}"/>'
                for i, heading in enumerate(report.columns)
            )
            schema = (
                '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
                'xmlns:saw-sql="urn:saw-sql" '
                'targetNamespace="urn:schemas-microsoft-com:xml-analysis:rowset">'
                f'<xsd:complexType name="Row"><xsd:sequence>{cells}</xsd:sequence>'
                "</xsd:complexType></xsd:schema>"
            )
        rows = "".join(
            "<Row>"
            + "".join(f"<Column{i}>{escape(v)}</Column{i}>" for i, v in enumerate(row))
            + "</Row>"
            for row in page
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><report><QueryResult>'
            f"<ResumptionToken>{token}</ResumptionToken>"
            f"<IsFinished>{'true' if finished else 'false'}</IsFinished><ResultXml>"
            f'<rowset xmlns="urn:schemas-microsoft-com:xml-analysis:rowset">{schema}{rows}'
            "</rowset></ResultXml></QueryResult></report>"
        )
        return Response(body, 200, content_type="application/xml;charset=UTF-8")

    # -- items ---------------------------------------------------------------------

    def _item_json(self, inst: Institution, bib: Bib, holding: Any, item: Any, base: str) -> Any:
        names = {lib.code: lib.name for lib in inst.libraries}
        locations = {
            (lib.code, loc.code): loc.name for lib in inst.libraries for loc in lib.locations
        }
        in_place = item.base_status == "1"
        link = f"{base}/bibs/{bib.mms_id}/holdings/{holding.holding_id}/items/{item.pid}"
        return {
            "bib_data": {
                "mms_id": bib.mms_id,
                "title": bib.title,
                "author": bib.author,
                "isbn": bib.isbn,
                "suppress_from_publishing": "true" if bib.suppress_from_publishing else "false",
                "link": f"{base}/bibs/{bib.mms_id}",
            },
            "holding_data": {
                "holding_id": holding.holding_id,
                "in_temp_location": holding.in_temp_location,
                "temp_library": _code(holding.temp_library, names.get(holding.temp_library or "")),
                "temp_location": _code(
                    holding.temp_location,
                    locations.get((holding.temp_library, holding.temp_location)),
                ),
                "temp_policy": _code(holding.temp_policy, holding.temp_policy),
                "link": f"{base}/bibs/{bib.mms_id}/holdings/{holding.holding_id}",
            },
            "item_data": {
                "pid": item.pid,
                "barcode": item.barcode,
                "base_status": _code(
                    item.base_status, "Item in place" if in_place else "Item not in place"
                ),
                "process_type": _code(item.process_type or "", item.process_type),
                "library": _code(holding.library, names.get(holding.library)),
                "location": _code(
                    holding.location, locations.get((holding.library, holding.location))
                ),
                "policy": _code(item.policy, item.policy),
                "requested": item.requested,
            },
            "link": link,
        }

    def _item(self, live: _Live, request: Request, mms: str, hid: str, pid: str) -> Any:
        for bib, holding, item in _items(live.institution):
            if (bib.mms_id, holding.holding_id, item.pid) == (mms, hid, pid):
                return self._item_json(live.institution, bib, holding, item, _base(request))
        # UNVERIFIED: the code for an unknown item identifier.
        raise AlmaFault("401689", f"No items found for item {pid}.")

    def _item_by_barcode(self, live: _Live, request: Request) -> Response:
        barcode = request.args.get("item_barcode", "")
        for bib, holding, item in _items(live.institution):
            if item.barcode == barcode:
                target = (
                    f"{_base(request)}/bibs/{bib.mms_id}/holdings/{holding.holding_id}"
                    f"/items/{item.pid}"
                )
                response = Response(status=302)
                response.headers["Location"] = target
                return response
        raise AlmaFault("401689", f"No items found for barcode {barcode}.")


LENDING_DESC = {
    "REQUEST_CREATED_LEND": "Created lending request",
    "LOCATE_FAILED": "Locate failed",
    "REJECTED": "Rejected the borrower request",  # UNVERIFIED code for this label
}


def _locate(inst: Institution, library: Library, title: str) -> tuple[str, str]:
    """Lender locate and auto-reject (alma-rs-workflow.md §1.3, April 2016 release notes).

    No match → LOCATE_FAILED (the AlmaAPITK sandbox capture). A match with no physical
    item but electronic services, no available item, or no requestable available item is
    rejected when the RS library's matching flag is on; otherwise the request is created.
    """
    flags = library.lending
    if not flags.automatically_locate:
        return "REQUEST_CREATED_LEND", ""
    bib = next((b for b in inst.bibs if _same_title(b.title, title)), None)
    if bib is None:
        return "LOCATE_FAILED", ""
    items = [item for holding in bib.holdings for item in holding.items]
    available = [i for i in items if i.base_status == "1" and not i.process_type]
    requestable = [i for i in available if i.requestable_for_rs]
    if not items and bib.electronic:
        rejected = flags.reject_when_only_electronic
    elif not available:
        rejected = flags.reject_when_no_available
    elif not requestable:
        rejected = flags.reject_when_no_requestable
    else:
        rejected = False
    return ("REJECTED" if rejected else "REQUEST_CREATED_LEND"), bib.mms_id


def _apply_quirks(data: Any, quirks: Any) -> Any:
    if not (quirks.rename or quirks.wrap_in_value):
        return data
    if isinstance(data, list):
        return [_apply_quirks(v, quirks) for v in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        wrapped = value
        if key in quirks.wrap_in_value and isinstance(value, str):
            wrapped = {"value": value, "desc": value}
        out[quirks.rename.get(key, key)] = _apply_quirks(wrapped, quirks)
    return out


def _items(inst: Institution) -> Iterable[tuple[Bib, Any, Any]]:
    for bib in inst.bibs:
        for holding in bib.holdings:
            for item in holding.items:
                yield bib, holding, item


def _held(inst: Institution, title: str, isbn: str) -> bool:
    for bib in inst.bibs:
        if not (bib.holdings or bib.electronic):
            continue
        if _same_title(bib.title, title) or (isbn and bib.isbn == isbn):
            return True
    return False


def _same_title(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _no_rs_library(inst: Institution) -> AlmaFault:
    if inst.no_rs_library_error == "401607":
        return AlmaFault("401607", "Resource sharing library (owner) is missing")
    return AlmaFault("401768", "Patron is not affiliated with a resource sharing library")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _value(field_value: Any) -> Any:
    return field_value.get("value") if isinstance(field_value, dict) else None


def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(request.get_data() or b"{}")
    except ValueError as exc:
        raise AlmaFault("60101", "General Error: the body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise AlmaFault("60101", "General Error: the body is not a JSON object.")
    return data


def _matches(user: Any, field_name: str, value: str) -> bool:
    wanted = value.casefold()
    if field_name in ("ALL", ""):
        fields = [user.primary_id, user.first_name, user.last_name, user.email]
        return any(wanted in (f or "").casefold() for f in fields)
    actual = getattr(user, field_name, None)
    return actual is not None and wanted in str(actual).casefold()


def _paged(key: str, records: list[Any], request: Request) -> dict[str, Any]:
    try:
        limit = int(request.args.get("limit", "10"))
        offset = int(request.args.get("offset", "0"))
    except ValueError as exc:
        raise AlmaFault("40166411", "Invalid parameter: limit/offset") from exc
    if not 0 <= limit <= 100 or offset < 0:
        raise AlmaFault("40166411", "Invalid parameter: limit must be 0-100")
    page = records[offset : offset + limit]
    if not page:
        return {"total_record_count": len(records)}  # UNVERIFIED: key left out when empty
    return {key: page, "total_record_count": len(records)}


def _base(request: Request) -> str:
    return request.host_url.rstrip("/") + PREFIX


def _api_key(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("apikey "):
        return header[7:].strip()
    return request.args.get("apikey")


def _allows(areas: dict[str, str], area: str, write: bool) -> bool:
    granted = areas.get(area)
    return granted is not None and (not write or granted == "RW")


def _unauthorized() -> Response:
    # Served as XML even to JSON clients, as the public fixtures model it (alma-api.md §1.2).
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<web_service_result xmlns="http://com/exlibris/urm/general/xmlbeans">'
        "<errorsExist>true</errorsExist><errorList><error>"
        "<errorCode>UNAUTHORIZED</errorCode>"
        f"<errorMessage>{escape('API-key not defined or not configured to allow this API.')}"
        "</errorMessage><trackingId>E01-0000000000-STANDIN</trackingId>"
        "</error></errorList></web_service_result>"
    )
    return Response(body, 400, content_type="application/xml;charset=UTF-8")
