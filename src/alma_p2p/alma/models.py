"""Typed, read-only models of the Alma objects the harness reads: its contract with Alma.

Each model names only the fields the harness relies on; anything else Alma sends is ignored
here and left to the drift report. Alma's empty forms (key missing, ``null``, ``""``,
``{"value": null}``, ``[]``) all read as empty: ``None`` for a value, ``()`` for a list.
A field whose *shape* changes (a code-table object turning into a plain string, a list into
a scalar) fails validation, which the client reports as an ``AlmaContractError``.

Shapes follow ``shared/reference/alma-api.md``; a field no capture shows is marked with the id
of its fact in the register of Alma facts (``alma_p2p/facts.yaml``).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _blank_to_none(value: Any) -> Any:
    if value in (None, "", {}, []):
        return None
    return value


def _code_value(value: Any) -> Any:
    # {"value","desc"}; every empty form reads as an empty CodeValue. A plain non-empty
    # string is *not* accepted: it would be a shape change worth reporting.
    if value in (None, "", {}, []):
        return {}
    return value


def _code_or_text(value: Any) -> Any:
    # UNVERIFIED(gateway.general_shape): a code field Alma may also give as a plain string.
    if isinstance(value, str) and value:
        return {"value": value}
    return _code_value(value)


def _list(value: Any) -> Any:
    if value in (None, "", {}):
        return []
    return value


def _flag(value: Any) -> Any:
    # Alma writes some booleans as strings ("true"/"false"), some as JSON booleans.
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return value


def _text_or_code(value: Any) -> Any:
    # A field Alma may give as a string or as a code field {"value", "desc"}: its value.
    if isinstance(value, dict) and set(value) <= {"value", "desc"}:
        value = value.get("value")
    return _blank_to_none(value)


Text = Annotated[str | None, BeforeValidator(_blank_to_none)]
Flag = Annotated[bool | None, BeforeValidator(_flag)]


class AlmaModel(BaseModel):
    """Frozen, tolerant of fields it does not name, strict about those it does."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class CodeValue(AlmaModel):
    """A code-table field: ``{"value": "CODE", "desc": "Label"}``."""

    value: Text = None
    desc: Text = None

    def __bool__(self) -> bool:
        return self.value is not None


Code = Annotated[CodeValue, BeforeValidator(_code_value)]

T = TypeVar("T")
ListOf = Annotated[tuple[T, ...], BeforeValidator(_list)]


class General(AlmaModel):
    """``GET /conf/general``: which institution and which environment a key reaches."""

    institution: Annotated[CodeValue, BeforeValidator(_code_or_text)] = CodeValue()
    alma_url: Text = None
    # UNVERIFIED(gateway.environment_type_form): a string, or {value, desc} as code fields.
    environment_type: Annotated[str | None, BeforeValidator(_text_or_code)] = None

    @property
    def is_sandbox(self) -> bool:
        return (self.environment_type or "").lower() == "sandbox"


class Library(AlmaModel):
    """``GET /conf/libraries[/{code}]``."""

    code: str
    name: Text = None
    id: Text = None
    path: Text = None
    description: Text = None
    resource_sharing: Flag = None
    campus: Code = CodeValue()
    default_location: Code = CodeValue()


class LocationCircDesk(AlmaModel):
    """A circulation desk attached to a location.

    Field names from DCB's model: UNVERIFIED(location.circ_desk_fields).
    """

    circ_desk_code: Text = None
    circ_desk_name: Text = None
    check_in: Flag = None
    check_out: Flag = None
    reshelve: Flag = None

    @model_validator(mode="before")
    @classmethod
    def _short_names(cls, value: Any) -> Any:
        # UNVERIFIED(location.circ_desk_fields): Alma may call them code and name.
        if isinstance(value, dict):
            value = dict(value)
            for short, full in (("code", "circ_desk_code"), ("name", "circ_desk_name")):
                if full not in value and short in value:
                    value[full] = value[short]
        return value


class Location(AlmaModel):
    """``GET /conf/libraries/{lib}/locations[/{loc}]``."""

    code: str
    name: Text = None
    external_name: Text = None
    type: Code = CodeValue()
    suppress_from_publishing: Flag = None
    fulfillment_unit: Code = CodeValue()
    circ_desk: ListOf[LocationCircDesk] = ()
    lists_circ_desk: bool = True  # whether the answer had circ_desk at all

    @model_validator(mode="before")
    @classmethod
    def _whether_desks_are_listed(cls, value: Any) -> Any:
        # A real capture of a single location has no circ_desk key (an empty list would be
        # a location without desks): UNVERIFIED(location.circ_desk_fields).
        if isinstance(value, dict):
            return {**value, "lists_circ_desk": "circ_desk" in value}
        return value


class CircDesk(AlmaModel):
    """``GET /conf/libraries/{lib}/circ-desks``.

    Beyond code/name: UNVERIFIED(library.circ_desk_fields).
    """

    code: str
    name: Text = None
    has_hold_shelf: Flag = None


class RsLibraryRef(AlmaModel):
    code: Code = CodeValue()


class RoleParameter(AlmaModel):
    """A parameter of a staff role, e.g. the circulation desk a desk operator works at.
    UNVERIFIED(staff.circ_desk_parameter): ``{"type", "scope", "value"}``, each {value, desc}."""

    type: Code = CodeValue()
    scope: Code = CodeValue()
    value: Code = CodeValue()


class UserRole(AlmaModel):
    """An entry of a user's ``user_role[]`` (captures/user_with_rs_library.json)."""

    role_type: Code = CodeValue()
    scope: Code = CodeValue()
    status: Code = CodeValue()
    parameter: ListOf[RoleParameter] = ()


class User(AlmaModel):
    """``GET /users/{id}`` (full view).

    Holds no name, contact or identifier: the harness never needs them, and a model's
    repr ends up in reports (Allure records step arguments).
    """

    primary_id: str
    record_type: Code = CodeValue()
    user_group: Code = CodeValue()
    campus_code: Code = CodeValue()
    account_type: Code = CodeValue()
    status: Code = CodeValue()
    rs_library: ListOf[RsLibraryRef] = ()  # UNVERIFIED(patron.no_rs_library_shape) when empty
    user_role: ListOf[UserRole] = ()

    @property
    def rs_library_codes(self) -> tuple[str, ...]:
        """The patron's RS library codes; empty entries (``{"code": {"value": ""}}``) dropped."""
        return tuple(ref.code.value for ref in self.rs_library if ref.code.value)


class UserBrief(AlmaModel):
    """An entry of ``GET /users``: brief, without ``rs_library``."""

    primary_id: str
    status: Code = CodeValue()
    link: Text = None


class ProfileTypeDetails(AlmaModel):
    """The protocol sub-object of a partner (``iso_details``, ``ncip_p2p_details``, ...)."""

    request_expiry_type: Code = CodeValue()
    expiry_time: int | None = None  # UNVERIFIED(partner.expiry_time_field)
    iso_symbol: Text = None
    ill_server: Text = None  # where the partner's requests go (alma_p2p.targets)


class ProfileDetails(AlmaModel):
    profile_type: Text = None
    iso_details: ProfileTypeDetails | None = None
    iso_18626_details: ProfileTypeDetails | None = None
    ncip_p2p_details: ProfileTypeDetails | None = None
    fulfillment_network_details: ProfileTypeDetails | None = None

    @property
    def protocol(self) -> ProfileTypeDetails | None:
        for details in (
            self.iso_details,
            self.iso_18626_details,
            self.ncip_p2p_details,
            self.fulfillment_network_details,
        ):
            if details is not None:
                return details
        return None


class PartnerDetails(AlmaModel):
    code: str
    name: Text = None
    status: Text = None
    profile_details: ProfileDetails = ProfileDetails()
    system_type: Code = CodeValue()
    borrowing_supported: Flag = None
    borrowing_workflow: Text = None
    lending_supported: Flag = None
    lending_workflow: Text = None
    locate_profile: Code = CodeValue()
    holding_code: Text = None
    institution_code: Text = None  # UNVERIFIED(partner.institution_code_field)


class Partner(AlmaModel):
    """``GET /partners[/{code}]``."""

    partner_details: PartnerDetails

    @property
    def code(self) -> str:
        return self.partner_details.code


class Job(AlmaModel):
    """``GET /conf/jobs``.

    UNVERIFIED(jobs.schedule_desc_time): whether ``schedule.desc`` gives the time.
    """

    id: str
    name: Text = None
    description: Text = None
    type: Code = CodeValue()
    category: Code = CodeValue()
    schedule: Code = CodeValue()
    next_run: Text = None
    status: Code = CodeValue()  # UNVERIFIED(jobs.status_field): how Alma shows an active job


class JobInstance(AlmaModel):
    """A run of a job (``GET /conf/jobs/{id}/instances``)."""

    id: str
    submit_date: Text = None
    end_date: Text = None
    status: Code = CodeValue()


class CodeTableRow(AlmaModel):
    code: str
    description: Text = None
    enabled: Flag = None
    default: Flag = None


def code_table_rows(data: Any) -> list[dict[str, Any]]:
    """A code table answer's rows. UNVERIFIED(code_table.row_key): under row, a list; also
    read under rows.row (the XML's nesting) and as one object for a table of one row."""
    if not isinstance(data, dict):
        return []
    rows = data.get("row")
    if rows is None and isinstance(data.get("rows"), dict):
        rows = data["rows"].get("row")
    if isinstance(rows, dict):
        rows = [rows]
    return [r for r in rows or [] if isinstance(r, dict)]


class CodeTable(AlmaModel):
    """``GET /conf/code-tables/{name}``; UNVERIFIED(code_table.row_key) rows under row."""

    name: Text = None
    description: Text = None
    row: ListOf[CodeTableRow] = ()

    @model_validator(mode="before")
    @classmethod
    def _rows(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {**value, "row": code_table_rows(value)}
        return value

    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.row)


class BibData(AlmaModel):
    mms_id: str
    title: Text = None
    suppress_from_publishing: Flag = None  # UNVERIFIED(item.bib_suppress_field)


class HoldingData(AlmaModel):
    holding_id: Text = None
    in_temp_location: Flag = None
    temp_library: Code = CodeValue()
    temp_location: Code = CodeValue()
    temp_policy: Code = CodeValue()


class ItemData(AlmaModel):
    pid: str
    barcode: Text = None
    base_status: Code = CodeValue()
    process_type: Code = CodeValue()
    library: Code = CodeValue()
    location: Code = CodeValue()
    policy: Code = CodeValue()
    requested: Flag = None


class Item(AlmaModel):
    """``GET /bibs/{mms}/holdings/{hid}/items/{pid}`` and ``GET /items?item_barcode=``."""

    bib_data: BibData
    holding_data: HoldingData = HoldingData()
    item_data: ItemData


class Page(AlmaModel, Generic[T]):
    """A list answer: the records plus Alma's ``total_record_count``."""

    records: tuple[T, ...] = ()
    total_record_count: int = Field(default=0, ge=0)


class RsRequest(AlmaModel):
    """A borrowing or lending request (``user_resource_sharing_request``).

    ``owner`` is a plain string (the RS library code); ``partner``, ``format`` and
    ``citation_type`` are code-table objects (alma-api.md §3.2, §4.1).
    """

    request_id: Text = None
    external_id: Text = None
    status: Code = CodeValue()
    owner: Text = None
    partner: Code = CodeValue()
    format: Code = CodeValue()
    citation_type: Code = CodeValue()
    title: Text = None
    mms_id: Text = None
    requester: Code = CodeValue()
    user_request: Code = CodeValue()
    barcode: Text = None


class ResourceMetadata(AlmaModel):
    title: Text = None
    mms_id: Code = CodeValue()


class RequestedLocation(AlmaModel):
    library: Code = CodeValue()


class RequestedResource(AlmaModel):
    """An entry of ``GET /task-lists/requested-resources``, the pick-from-shelf list
    (captures/requested_resources_list.json)."""

    resource_metadata: ResourceMetadata = ResourceMetadata()
    location: RequestedLocation = RequestedLocation()
