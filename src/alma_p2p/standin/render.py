"""Alma's JSON (and Analytics XML) for the stand-in's typed world, one function per resource.

Shapes follow ``shared/reference/alma-api.md``: code-table fields as ``{"value","desc"}``,
lists as ``{"<singular>": [...], "total_record_count": N}``. ``base`` is the gateway URL
the links start with. The request records the stand-in keeps are typed here too, because
they are stored in the shape they are answered with.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NotRequired, TypedDict
from xml.sax.saxutils import escape

from alma_p2p.standin import rules
from alma_p2p.standin.world import (
    AnalyticsReport,
    Bib,
    BorrowingRequest,
    CircDesk,
    CodeRow,
    CodeTable,
    DeskLink,
    Holding,
    Institution,
    Item,
    Job,
    JobRun,
    Library,
    Location,
    Partner,
    ReleaseQuirks,
    Role,
    User,
)

# Rendered JSON: the boundary where values are whatever JSON allows.
Json = dict[str, Any]


class CodeValue(TypedDict):
    value: str
    desc: str | None


class PartnerRef(TypedDict):
    value: str
    desc: str
    link: str


class BorrowingRecord(TypedDict):
    """A borrowing request as answered, plus ``_user`` (its patron, lower-cased)."""

    request_id: str
    external_id: str
    status: CodeValue
    owner: str
    partner: CodeValue
    format: CodeValue
    citation_type: CodeValue
    title: str
    author: NotRequired[str | None]
    mms_id: str
    requester: CodeValue | None
    created_date: str
    _user: str
    _lent: NotRequired[tuple[str, str] | None]  # (lender's institution code, its request id)
    _tried: NotRequired[list[str]]  # the rota's partners that rejected it
    _send_later: NotRequired[bool]  # shown "Ready to be sent" once, sent on the next read


class LendingRecord(TypedDict):
    """A lending request as answered."""

    request_id: str
    external_id: str
    status: CodeValue
    owner: str
    partner: PartnerRef
    format: CodeValue
    citation_type: CodeValue
    printed: bool
    reported: bool
    title: str
    author: str | None
    mms_id: str
    created_date: str
    user_request: dict[str, str]
    rs_note: list[str]


def code(value: str | None, desc: str | None = None) -> CodeValue:
    """A code-table field; Alma gives an empty ``value`` rather than null."""
    return {"value": value if value is not None else "", "desc": desc}


def digits(text: str, width: int = 14) -> str:
    """A stable numeric id for ``text``, as wide as Alma's ids."""
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:15], 16) % 10**width).zfill(width)


def page(key: str, records: list[Json], limit: int, offset: int, *, empty: str) -> Json:
    """One page of a list; an empty page as ``empty`` (lists.empty_page_shape) says."""
    chosen = records[offset : offset + limit]
    if not chosen:
        return empty_page(key, len(records), empty)
    return {key: chosen, "total_record_count": len(records)}


def empty_page(key: str, total: int, form: str) -> Json:
    """A page without records: the list key left out, an empty list, or null.

    UNVERIFIED(lists.empty_page_shape): no capture shows an empty list.
    """
    if form == "empty_list":
        return {key: [], "total_record_count": total}
    if form == "null":
        return {key: None, "total_record_count": total}
    return {"total_record_count": total}


def apply_quirks(data: object, quirks: ReleaseQuirks) -> object:
    """An answer as a release with ``quirks`` would give it (renamed or wrapped keys)."""
    if not (quirks.rename or quirks.wrap_in_value):
        return data
    if isinstance(data, list):
        return [apply_quirks(v, quirks) for v in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        wrapped = value
        if key in quirks.wrap_in_value and isinstance(value, str):
            wrapped = {"value": value, "desc": value}
        out[quirks.rename.get(key, key)] = apply_quirks(wrapped, quirks)
    return out


# -- conf ------------------------------------------------------------------------


def general(inst: Institution) -> Json:
    # UNVERIFIED(gateway.environment_type_form): a plain string, a code-table object or
    # upper case, as the institution plays the fact.
    form = inst.plays("gateway.environment_type_form")
    environment: object = inst.environment_type
    if form == "code_table":
        environment = code(inst.environment_type.upper(), inst.environment_type.capitalize())
    elif form == "upper":
        environment = inst.environment_type.upper()
    return {**_institution_and_url(inst), "environment_type": environment}


def _institution_and_url(inst: Institution) -> Json:
    """UNVERIFIED(gateway.general_institution_code): institution.value is the code, or the
    name; UNVERIFIED(gateway.general_shape): {value, desc} and alma_url, or a plain string
    and no alma_url. A plain string is the code unless the institution plays the name."""
    named = inst.plays("gateway.general_institution_code")
    value = inst.name if named == "name" else inst.code
    if inst.plays("gateway.general_shape") == "plain":
        return {"institution": value}
    if named == "plain":
        return {"institution": value, "alma_url": inst.alma_url}
    return {"institution": code(value, inst.name), "alma_url": inst.alma_url}


def probe_text(inst: Institution, method: str) -> str:
    """The self-test's words; alma-api.md §1.2 shows them in <test>…</test>."""
    return f"{method} - OK - institutionCode: {inst.code}"


def probe(inst: Institution, method: str) -> Json:
    # UNVERIFIED(gateway.probe_body_format): the JSON form of the same answer.
    return {"test": probe_text(inst, method)}


def library(inst: Institution, lib: Library, base: str) -> Json:
    return {
        "code": lib.code,
        "name": lib.name,
        "description": lib.description,
        "resource_sharing": lib.resource_sharing,
        "campus": code(lib.campus, lib.campus),
        "proxy": "",
        "default_location": code(lib.default_location, None),
        "path": f"{inst.code}.{inst.code}.{lib.code}",
        "link": f"{base}/conf/libraries/{lib.code}",
    }


def _location_desk(link: DeskLink, name: str, href: str, form: str) -> Json:
    """UNVERIFIED(location.circ_desk_fields): a location's circ desk as DCB's model names it,
    or as code and name with the flags as strings ("renamed")."""
    if form == "renamed":
        flags = {k: str(getattr(link, k)).lower() for k in ("check_in", "check_out", "reshelve")}
        return {"code": link.code, "name": name, **flags, "link": href}
    return {
        "circ_desk_code": link.code,
        "circ_desk_name": name,
        "check_in": link.check_in,
        "check_out": link.check_out,
        "reshelve": link.reshelve,
        "link": href,
    }


def location(lib: Library, loc: Location, base: str, *, single: bool, form: str = "listed") -> Json:
    """A location; only a single location lists its circ desks (in the ``form`` the
    institution plays for location.circ_desk_fields: listed, renamed, or absent)."""
    record: Json = {
        "code": loc.code,
        "name": loc.name,
        "external_name": loc.external_name or loc.name,
        "type": code(loc.type, loc.type.capitalize()),
        "remote_storage": "",
        "map": "",
        "suppress_from_publishing": "true" if loc.suppress_from_publishing else "false",
        "fulfillment_unit": code(loc.fulfillment_unit, loc.fulfillment_unit),
        "accession_placement": code("none", "None"),
        "call_number_type": code("", None),
    }
    if single and form != "absent":
        desks = {d.code: d for d in lib.circ_desks}
        record["circ_desk"] = [
            _location_desk(
                link,
                desks[link.code].name if link.code in desks else link.code,
                f"{base}/conf/libraries/{lib.code}/circ-desks/{link.code}",
                form,
            )
            for link in loc.circ_desks
        ]
    record["link"] = f"{base}/conf/libraries/{lib.code}/locations/{loc.code}"
    return record


def circ_desk(lib_code: str, desk: CircDesk, base: str, form: str = "documented") -> Json:
    # UNVERIFIED(library.circ_desk_fields): has_hold_shelf beside code and name, or not
    # ("code_name_only": whatever else Alma sends, the harness reads only code and name).
    record: Json = {"code": desk.code, "name": desk.name}
    if form != "code_name_only":
        record["has_hold_shelf"] = desk.has_hold_shelf
    record["link"] = f"{base}/conf/libraries/{lib_code}/circ-desks/{desk.code}"
    return record


def job(
    job: Job,
    base: str,
    *,
    status_form: str = "present",
    schedule_form: str = "every_day_hhmm",
    name_form: str = "english",
    shape: str = "documented",
) -> Json:
    """A job; ``status_form`` plays jobs.status_field (present, absent, next_run_only),
    ``schedule_form`` jobs.schedule_desc_time and ``name_form`` jobs.name_not_localized.

    UNVERIFIED(jobs.documented_shape): the fields of Ex Libris' documentation sample.
    """
    record: Json = {
        "id": job.id,
        "name": job_name(job.name, name_form),
        "description": job.description,
        "type": code(job.type, job.type.capitalize()),
        "category": code(job.category, job.category.capitalize()),
        "schedule": code(job.schedule.value, schedule_desc(job.schedule.desc, schedule_form)),
    }
    # UNVERIFIED(jobs.status_field): how Alma exposes whether a scheduled job is active.
    if status_form == "present":
        active = job.active
        record["status"] = code(
            "ACTIVE" if active else "INACTIVE", "Active" if active else "Inactive"
        )
    idle = "" if status_form == "next_run_only" else None
    record["next_run"] = job.next_run if job.active else idle
    record["link"] = f"{base}/conf/jobs/{job.id}"
    if shape == "fewer":  # jobs.documented_shape's alternative: fields no check reads
        for key in ("description", "category", "link"):
            record.pop(key)
    return record


# The job names of the demo world as an institution working in German might see them.
LOCALIZED_JOB_NAMES = {
    "Expired Resource Sharing Requests": "Abgelaufene Fernleihbestellungen",
    "Send Overdue Message to Resource Sharing Borrowing Partner": (
        "Überfällige Nachricht an den Fernleih-Partner senden"
    ),
}


def job_name(name: str, form: str) -> str:
    """A job's name as jobs.name_not_localized plays it: English, or localised."""
    return LOCALIZED_JOB_NAMES.get(name, name) if form == "localized" else name


def schedule_desc(desc: str, form: str) -> str:
    """A schedule's description as jobs.schedule_desc_time plays it.

    ``every_day_hhmm`` keeps the world's "Every day at 02:00"; ``twelve_hour`` words it
    "Daily at 2:00 AM"; ``coded`` leaves the time out ("Daily"; it stays in the value).
    """
    if form == "every_day_hhmm":
        return desc
    found = re.fullmatch(r"every day at (\d\d):(\d\d)", desc.strip(), re.IGNORECASE)
    if found is None:
        return desc
    if form == "coded":
        return "Daily"
    hour = int(found[1])
    return f"Daily at {(hour + 11) % 12 + 1}:{found[2]} {'AM' if hour < 12 else 'PM'}"


# What jobs.run_status_codes's "other" alternative plays instead of COMPLETED_*.
OTHER_RUN_CODES = {"COMPLETED_SUCCESS": "SUCCESS", "COMPLETED_WARNING": "FINISHED_WITH_WARNINGS"}


def run_status(status: str, *, codes: str = "completed_prefix", failed: str = "ends_failed") -> str:
    """A run's status code as jobs.run_status_codes and jobs.failed_run_status play it.

    UNVERIFIED(jobs.run_status_codes), UNVERIFIED(jobs.failed_run_status).
    """
    if status == "COMPLETED_FAILED" and failed == "with_errors":
        return "COMPLETED_WITH_ERRORS"
    if codes == "other":
        return OTHER_RUN_CODES.get(status, status)
    return status


def job_instance(
    job: Job,
    run: JobRun,
    base: str,
    *,
    status: str | None = None,
    name_form: str = "english",
    shape: str = "documented",
) -> Json:
    """A run of a job, its status code as played (``status``, else the world's);
    ``shape`` plays jobs.instance_shape (documented, or no_submit_date)."""
    # UNVERIFIED(jobs.instance_shape)
    played = status or run.status
    record: Json = {
        "id": run.id,
        "name": job_name(job.name, name_form),
        "submit_date": run.submit_date,
        "status": code(played, run.status.replace("_", " ").capitalize()),
        "link": f"{base}/conf/jobs/{job.id}/instances/{run.id}",
    }
    if shape == "no_submit_date":
        record.pop("submit_date")
    return record


def analytics_rows(rows: list[list[str]], form: str) -> list[list[str]]:
    """A report's rows as analytics.rs_terms_of_use plays the subject area: all of them,
    or (non_rs_only) none that mentions resource sharing."""
    if form != "non_rs_only":
        return rows
    return [row for row in rows if not any("resource sharing" in c.lower() for c in row)]


def code_table(
    name: str, table: CodeTable, rows: Iterable[CodeRow], inst: Institution | None = None
) -> Json:
    """A code table with the rows of its ``scope``, as ``inst`` plays its facts.

    UNVERIFIED(code_table.shape): each row with enabled and default, or without ("bare").
    UNVERIFIED(code_table.row_key): the rows under row, a list; under rows.row ("nested");
    or, for a table of one row, that row as an object ("single").
    """
    bare = inst is not None and inst.plays("code_table.shape") == "bare"
    listed: list[Json] = [
        {"code": r.code, "description": r.description}
        if bare
        else {
            "code": r.code,
            "description": r.description,
            "enabled": r.enabled,
            "default": r.default,
        }
        for r in rows
    ]
    key = inst.plays("code_table.row_key") if inst is not None else "row_list"
    out: Json = {"name": name, "description": table.description}
    if key == "nested":
        out["rows"] = {"row": listed}
    elif key == "single" and len(listed) == 1:
        out["row"] = listed[0]
    else:
        out["row"] = listed
    return out


# -- users -----------------------------------------------------------------------


# How a patron without an RS library may come back, besides the key left out.
NO_RS_LIBRARY_FORMS: dict[str, Any] = {
    "empty_list": [],
    "empty_code": [{"code": {"value": ""}}],
    "null_value": None,
}


def user(inst: Institution, user: User, base: str) -> Json:
    names = {lib.code: lib.name for lib in inst.libraries}
    record: Json = {
        "record_type": code(user.record_type, user.record_type.capitalize()),
        "primary_id": user.primary_id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": " ".join(p for p in (user.first_name, user.last_name) if p),
        "user_group": code(user.user_group, user.user_group),
        "campus_code": code(user.campus_code, user.campus_code),
        "account_type": code(user.account_type, user.account_type.capitalize()),
        "status": code(user.status, user.status.capitalize()),
        "birth_date": f"{user.birth_date.isoformat()}Z" if user.birth_date else None,
        "user_identifier": (
            [
                {
                    "id_type": code("BARCODE", "Barcode"),
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
        record["rs_library"] = [{"code": code(c, names.get(c))} for c in user.rs_libraries]
    else:
        # No rs_library key at all, as in pulibrary's real patrons (alma-api.md §2.1), or
        # as the institution plays UNVERIFIED(patron.no_rs_library_shape).
        form = inst.plays("patron.no_rs_library_shape")
        if form in NO_RS_LIBRARY_FORMS:
            record["rs_library"] = NO_RS_LIBRARY_FORMS[form]
    if user.roles:
        record["user_role"] = [_role(inst, role, names) for role in user.roles]
    record.update(user.raw)
    return record


# Role descriptions as an institution working in German might see them: plays
# staff.fulfillment_operator_role's "localized" alternative (rows of UserRoles too).
LOCALIZED_ROLES = {
    "Circulation Desk Operator": "Theken-Operator",
    "Circulation Desk Manager": "Theken-Manager",
    "Requests Operator": "Bestellungen-Operator",
    "Patron": "Benutzer",
    "Fulfillment Services Manager": "Ausleihdienste-Manager",
    "Fulfillment Services Operator": "Ausleihdienste-Operator",
}


def role_desc(inst: Institution, desc: str) -> str:
    """A role type's description as the institution plays staff.fulfillment_operator_role."""
    if inst.plays("staff.fulfillment_operator_role") == "localized":
        return LOCALIZED_ROLES.get(desc, desc)
    return desc


def _role(inst: Institution, role: Role, names: dict[str, str]) -> Json:
    """A staff role in the capture's shape (captures/user_with_rs_library.json); its scope
    is a library code (UNVERIFIED(staff.role_scope_library)) and its desks are parameters
    (UNVERIFIED(staff.circ_desk_parameter)), each as the institution plays them: the
    scope may be the institution (the library then only in a desk's parameter), and the
    parameters may be left out."""
    scope = code(role.scope, names.get(role.scope, inst.name))
    shown_scope = scope
    if role.scope in names and inst.plays("staff.role_scope_library") == "institution":
        shown_scope = code(inst.code, inst.name)
    desks = role.desks if inst.plays("staff.circ_desk_parameter") == "parameter" else []
    return {
        "parameter": [
            {
                "type": code("CirculationDesk", "Circulation Desk"),
                "scope": scope,
                "value": code(desk, desk),
            }
            for desk in desks
        ],
        "role_type": code(role.code, role_desc(inst, role.desc)),
        "scope": shown_scope,
        "status": code(role.status, role.status.capitalize()),
    }


def user_brief(user: User, base: str) -> Json:
    """A user as the user list gives it."""
    return {
        "primary_id": user.primary_id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "status": code(user.status, user.status.capitalize()),
        "link": f"{base}/users/{user.primary_id}",
    }


# -- partners --------------------------------------------------------------------


def partner(
    partner: Partner, base: str, *, expiry_time: str = "present", institution_code: str = "present"
) -> Json:
    """A partner; ``expiry_time`` plays partner.expiry_time_field (present, absent, or
    iso_18626: the partner's sub-object is iso_18626_details, without it) and
    ``institution_code`` partner.institution_code_field (present, or absent)."""
    details: Json = {
        "code": partner.code,
        "name": partner.name,
        "status": partner.status,
        "profile_details": {
            "profile_type": partner.profile_type,
            "iso_details": {
                "iso_symbol": partner.iso_symbol,
                "ill_server": partner.ill_server,
                "request_expiry_type": code(
                    partner.request_expiry_type,
                    partner.request_expiry_type.replace("_", " ").capitalize(),
                ),
                "expiry_time": partner.expiry_time,  # UNVERIFIED(partner.expiry_time_field)
                "send_requester_information": False,
                "shared_barcodes": True,
            },
        },
        "system_type": code(partner.system_type, partner.system_type),
        "avg_supply_time": partner.avg_supply_time,
        "delivery_delay": partner.delivery_delay,
        "currency": partner.currency,
        "borrowing_supported": partner.borrowing_supported,
        "borrowing_workflow": partner.borrowing_workflow,
        "lending_supported": partner.lending_supported,
        "lending_workflow": partner.lending_workflow,
        "locate_profile": code(partner.locate_profile, partner.locate_profile),
        "holding_code": partner.holding_code,
        "institution_code": partner.institution_code,  # UNVERIFIED(partner.institution_code_field)
    }
    if expiry_time == "absent":
        details["profile_details"]["iso_details"].pop("expiry_time")
    elif expiry_time == "iso_18626":  # an ISO 18626 partner, whose sub-object lacks it
        iso = details["profile_details"].pop("iso_details")
        iso.pop("expiry_time")
        details["profile_details"]["iso_18626_details"] = iso
    if institution_code == "absent":
        details.pop("institution_code")
    return {
        "partner_details": details,
        "contact_info": {"address": [], "phone": [], "email": []},
        "note": [],
        "link": f"{base}/partners/{partner.code}",
    }


# -- items -----------------------------------------------------------------------


def items(inst: Institution) -> Iterator[tuple[Bib, Holding, Item]]:
    """Every item of the institution with its bib and holding."""
    for bib in inst.bibs:
        for holding in bib.holdings:
            for item in holding.items:
                yield bib, holding, item


def _temporary(inst: Institution, bib: Bib) -> bool:
    """Whether the bib is one Alma made for a received borrowing request."""
    return any(req.mms_id == bib.mms_id for req in inst.borrowing_requests)


def _temp_place(inst: Institution, bib: Bib, holding: Holding, item: Item) -> Holding:
    """Where a temporary item shows its place, as the institution plays
    UNVERIFIED(borrowing.temp_item_place): as the world gives it; the place in the holding's
    temp fields while in_temp_location is false; or the place as the permanent library,
    location and policy with the temp fields empty. Other items are as the world gives them.
    """
    played = inst.plays("borrowing.temp_item_place")
    if played == "as_given" or not _temporary(inst, bib):
        return holding
    library = holding.temp_library or holding.library
    location = holding.temp_location or holding.location
    policy = holding.temp_policy or item.policy
    if played == "temp_not_in_temp":
        update = {"temp_library": library, "temp_location": location, "temp_policy": policy}
        return holding.model_copy(update={**update, "in_temp_location": False})
    return holding.model_copy(
        update={
            "library": library,
            "location": location,
            "temp_library": None,
            "temp_location": None,
            "temp_policy": None,
            "in_temp_location": False,
            "items": [item.model_copy(update={"policy": policy})],
        }
    )


def _bib_data(inst: Institution, bib: Bib, base: str) -> Json:
    """An item's bib_data: UNVERIFIED(item.bib_suppress_field) suppress_from_publishing as a
    string, a JSON boolean, or absent; UNVERIFIED(borrowing.temp_bib_suppressed) a temporary
    item's bib suppressed as the world says, or never."""
    suppressed = bib.suppress_from_publishing
    if _temporary(inst, bib) and inst.plays("borrowing.temp_bib_suppressed") == "not_suppressed":
        suppressed = False
    form = inst.plays("item.bib_suppress_field")
    data: Json = {"mms_id": bib.mms_id, "title": bib.title, "author": bib.author, "isbn": bib.isbn}
    if form == "string":
        data["suppress_from_publishing"] = "true" if suppressed else "false"
    elif form == "boolean":
        data["suppress_from_publishing"] = suppressed
    data["link"] = f"{base}/bibs/{bib.mms_id}"
    return data


def item(inst: Institution, bib: Bib, holding: Holding, item: Item, base: str) -> Json:
    names = {lib.code: lib.name for lib in inst.libraries}
    locations: dict[tuple[str | None, str | None], str] = {
        (lib.code, loc.code): loc.name for lib in inst.libraries for loc in lib.locations
    }
    holding = _temp_place(inst, bib, holding, item)
    item = holding.items[0] if holding.items and holding.items[0].pid == item.pid else item
    in_place = item.base_status == "1"
    link = f"{base}/bibs/{bib.mms_id}/holdings/{holding.holding_id}/items/{item.pid}"
    return {
        "bib_data": _bib_data(inst, bib, base),
        "holding_data": {
            "holding_id": holding.holding_id,
            "in_temp_location": holding.in_temp_location,
            "temp_library": code(holding.temp_library, names.get(holding.temp_library or "")),
            "temp_location": code(
                holding.temp_location,
                locations.get((holding.temp_library, holding.temp_location)),
            ),
            "temp_policy": code(holding.temp_policy, holding.temp_policy),
            "link": f"{base}/bibs/{bib.mms_id}/holdings/{holding.holding_id}",
        },
        "item_data": {
            "pid": item.pid,
            "barcode": item.barcode,
            "base_status": code(
                item.base_status, "Item in place" if in_place else "Item not in place"
            ),
            "process_type": code(item.process_type or "", item.process_type),
            "library": code(holding.library, names.get(holding.library)),
            "location": code(holding.location, locations.get((holding.library, holding.location))),
            "policy": code(item.policy, item.policy),
            "requested": item.requested,
        },
        "link": link,
    }


# -- resource-sharing requests -----------------------------------------------------


def _received(inst: Institution, status: str) -> str:
    """A seeded request's status, with the received code as the institution plays it."""
    if status in rules.RECEIVED_CODES.values():
        return rules.received_code(inst)
    return status


def requester(inst: Institution, primary_id: str) -> CodeValue | None:
    """UNVERIFIED(borrowing.requester_form): {"value": primary id, "desc": null}, or null as
    on the captured lending requests."""
    if inst.plays("borrowing.requester_form") == "null":
        return None
    return code(primary_id, None)


def seeded_borrowing(inst: Institution, req: BorrowingRequest) -> BorrowingRecord:
    """A borrowing request the world says Alma already holds."""
    return {
        "request_id": req.request_id,
        "external_id": req.external_id,
        "status": code(_received(inst, req.status), req.status_desc),
        "owner": req.owner,
        "partner": code(req.partner, req.partner),
        "format": code("PHYSICAL", "Physical"),
        "citation_type": code("BK", "Book"),
        "title": req.title,
        "mms_id": req.mms_id or "",
        "requester": requester(inst, req.user),
        "created_date": f"{inst.today.isoformat()}Z",
        "_user": req.user.lower(),
    }


def new_borrowing(
    inst: Institution,
    user: User,
    *,
    request_id: str,
    external_id: str,
    owner: str,
    title: str,
    body: Json,
) -> BorrowingRecord:
    """A borrowing request just created from ``body`` (the client's JSON).

    UNVERIFIED(borrowing.requester_form): the patron as requester {"value": primary id}.
    """
    return {
        "request_id": request_id,
        "external_id": external_id,
        # The Tel Aviv capture shows LOCATE_IN_PROCESS right after create (workflow §1.1).
        "status": code("LOCATE_IN_PROCESS", "Locate in process"),
        "owner": owner,
        "partner": code(None, None),
        "format": code(value_of(body.get("format")), None),
        "citation_type": code(value_of(body.get("citation_type")), None),
        "title": title,
        "author": body.get("author"),
        "mms_id": "",
        "requester": requester(inst, user.primary_id),
        "created_date": f"{inst.today.isoformat()}Z",
        "_user": user.primary_id.lower(),
    }


def public(record: BorrowingRecord) -> Json:
    """A stored borrowing request without its private keys."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def new_lending(
    inst: Institution,
    partner: Partner,
    owner: Library,
    *,
    request_id: str,
    status: str,
    desc: str,
    title: str,
    mms_id: str,
    body: Json,
    base: str,
) -> LendingRecord:
    """A lending request just created from ``body`` (the client's JSON)."""
    return {
        "request_id": request_id,
        "external_id": body["external_id"],
        "status": code(status, desc),
        "owner": owner.code,
        "partner": {
            "value": partner.code,
            "desc": partner.name,
            "link": f"{base}/partners/{partner.code}",
        },
        "format": code(value_of(body.get("format")), None),
        "citation_type": code(value_of(body.get("citation_type")), None),
        "printed": False,
        "reported": False,
        "title": title,
        "author": body.get("author"),
        "mms_id": mms_id,
        "created_date": f"{inst.today.isoformat()}Z",
        "user_request": {},
        "rs_note": [],
    }


def value_of(field_value: object) -> Any:
    """The ``value`` of a code-table field in the client's JSON, else None."""
    return field_value.get("value") if isinstance(field_value, dict) else None


# -- analytics -------------------------------------------------------------------


def analytics(
    report: AnalyticsReport, rows: Iterable[Sequence[str]], *, token: str, first: bool, done: bool
) -> str:
    """One page of a report as Analytics XML; the first page carries the column schema.

    UNVERIFIED(analytics.xml_shape): the shape as public Analytics clients read it;
    alma-api.md §6.6 gives only the parameters.
    """
    schema = ""
    if first:
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
    body = "".join(
        "<Row>"
        + "".join(f"<Column{i}>{escape(v)}</Column{i}>" for i, v in enumerate(row))
        + "</Row>"
        for row in rows
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><report><QueryResult>'
        f"<ResumptionToken>{token}</ResumptionToken>"
        f"<IsFinished>{'true' if done else 'false'}</IsFinished><ResultXml>"
        f'<rowset xmlns="urn:schemas-microsoft-com:xml-analysis:rowset">{schema}{body}'
        "</rowset></ResultXml></QueryResult></report>"
    )
