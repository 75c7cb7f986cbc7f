"""The institution profile: what one institution's peer-to-peer setup is expected to be.

A profile is ``fixtures/institutions/<name>/profile.yaml``. It states the Alma institution
code and region, its resource sharing (RS) libraries with their borrowing and lending
locations (CLSBORR / CLSLEND in WRLC's naming), how patrons map to RS libraries, its P2P
partners, and the test patrons the suite may read. ``load_profile`` validates it and raises
``ProfileError`` naming the file, the line, the path inside it and what is allowed.
``profile_json_schema()`` is the JSON Schema editors use (``make schema`` writes it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alma_p2p import yamlfile
from alma_p2p.alma.gateway import REGION_HOSTS

PROFILE_FILE = "profile.yaml"

Region = Literal["na", "eu", "ap", "aps", "ca", "cn"]
_CODE = r"^[A-Za-z0-9_\-.]+$"


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one screen and says what to fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Institution(_Strict):
    """The Alma institution this profile describes."""

    code: str = Field(pattern=_CODE, description="Alma institution code, e.g. 01ABC_INST")
    name: str = Field(min_length=1)
    region: Region = Field(description="Alma API region: " + ", ".join(REGION_HOSTS))
    sandbox_refreshed: date | None = Field(
        default=None, description="Date of the last sandbox refresh (older evidence is stale)"
    )
    expiry_job_time: str = Field(
        default="02:00",
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="When 'Expired Resource Sharing Requests' runs every day (WRLC: 02:00)",
    )
    attestation_max_age_days: int = Field(
        default=180, ge=1, description="A manual check older than this is shown as stale"
    )
    # UNVERIFIED(partner.sandbox_host_pattern): a sandbox host is told by its name alone.
    partner_targets: list[str] = Field(
        default_factory=lambda: ["*-psb.*"],
        min_length=1,
        description=(
            "Hosts (shell-style patterns) a partner's server may name in this sandbox; a "
            "partner whose requests go anywhere else refuses every write of the run"
        ),
    )
    expiry_job_recent_days: int = Field(
        default=2,
        ge=1,
        le=31,
        description=(
            "How many days before its next run the 'Expired Resource Sharing Requests' job "
            "must have run without failing to count as running"
        ),
    )


class RsLibrary(_Strict):
    """A library flagged as a resource sharing library, with its temporary locations."""

    code: str = Field(pattern=_CODE)
    name: str = Field(min_length=1)
    borrowing_location: str = Field(
        pattern=_CODE, description="Temporary borrowing location (CLSBORR in WRLC's guide)"
    )
    lending_location: str = Field(
        pattern=_CODE, description="Temporary lending location (CLSLEND in WRLC's guide)"
    )
    fulfillment_unit: str | None = Field(default=None, pattern=_CODE)
    circ_desk: str | None = Field(
        default=None, pattern=_CODE, description="The RS circulation desk of this library"
    )
    item_policy: str | None = Field(
        default=None, pattern=_CODE, description="Item policy for temporary borrowed items"
    )


class PatronMapping(_Strict):
    """How a patron's campus code or user group decides their RS library."""

    by: Literal["campus_code", "user_group"]
    map: dict[str, str] = Field(min_length=1, description="campus code or user group → RS library")
    out_of_scope_groups: list[str] = Field(
        default_factory=list,
        description="user groups whose patrons need no RS library (the patron audit skips them)",
    )

    @model_validator(mode="after")
    def _groups_apart(self) -> PatronMapping:
        both = (
            sorted(set(self.out_of_scope_groups) & set(self.map)) if self.by == "user_group" else []
        )
        if both:
            raise ValueError(
                f"user group(s) {', '.join(both)} are both mapped to an RS library and listed in "
                "out_of_scope_groups: keep each group in one of the two"
            )
        _unique(self.out_of_scope_groups, "patron_rs_library.out_of_scope_groups", "group")
        return self

    def key(self, campus_code: str | None, user_group: str | None) -> str | None:
        """The patron's value this mapping goes by: their campus code or their user group."""
        return campus_code if self.by == "campus_code" else user_group

    def rs_library_for(self, campus_code: str | None, user_group: str | None) -> str | None:
        """The RS library the patron's key maps to; None when the key is empty or unmapped."""
        key = self.key(campus_code, user_group)
        return None if key is None else self.map.get(key)


class Partner(_Strict):
    """A peer-to-peer partner as this institution should have it configured."""

    code: str = Field(pattern=_CODE)
    name: str | None = None
    borrowing_workflow: str | None = Field(default=None, pattern=_CODE)
    lending_workflow: str | None = Field(default=None, pattern=_CODE)
    expiry_days: int | None = Field(default=None, ge=1, le=365)


class TestPatron(_Strict):
    """A patron record kept in the sandbox for the suite (a 'DO NOT FILL' test account)."""

    __test__ = False  # not a pytest test class

    primary_id: str = Field(min_length=1)
    label: str | None = Field(default=None, description="How the suite names this patron")


class RsStaff(_Strict):
    """A staff account that runs resource sharing at one RS library (read-only check)."""

    primary_id: str = Field(min_length=1)
    rs_library: str = Field(pattern=_CODE, description="the RS library this person works at")
    label: str | None = Field(default=None, description="How the suite names this person")


class HeldTitle(_Strict):
    """A title the institution holds: a borrowing request for it must be refused (401604)."""

    title: str = Field(min_length=1)
    isbn: str | None = None


class PartnerHeldTitle(_Strict):
    """A title the institution does not hold and a P2P partner of its rota does."""

    title: str = Field(min_length=1)
    isbn: str | None = None
    partner: str = Field(pattern=_CODE, description="the partner that holds it")


class ReceivedRequest(_Strict):
    """A borrowing request that staff received by hand in the sandbox before the run.

    Alma has no API for receiving, so the suite reads what receiving produced: the
    temporary item, found by its barcode.
    """

    patron: str = Field(min_length=1, description="primary_id of the requesting test patron")
    external_id: str = Field(min_length=1, description="the request's external identifier")
    rs_library: str = Field(pattern=_CODE, description="the RS library that owns the request")
    item_barcode: str = Field(min_length=1, description="barcode given at receiving")


class ExcludedPatron(_Strict):
    """A test patron of a user group the Borrowing Resource Sharing rules do not let borrow."""

    patron: str = Field(min_length=1, description="primary_id of the test patron")
    user_group: str = Field(
        min_length=1, description="the patron's user group, which may not borrow from partners"
    )
    # UNVERIFIED(borrowing.excluded_group_refused): no source gives Alma's code.
    error: str = Field(
        pattern=r"^[0-9]{5,9}$",
        description="the error Alma refuses the request with (no source gives it: UNVERIFIED)",
    )


class Borrowing(_Strict):
    """Test data and expectations for borrowing requests created by the suite."""

    held_title: HeldTitle
    patron_without_rs_library: str | None = Field(
        default=None,
        description="primary_id of a test patron with no RS library (multi-library only)",
    )
    # UNVERIFIED(borrowing.no_rs_library_error): kept so profiles that set it still load.
    no_rs_library_error: Literal["401768", "401607"] = Field(
        default="401768",
        description="no longer read: the run takes the code from the institution's "
        "calibrated facts (alma-p2p calibrate); until then 401768 and 401607 both count",
    )
    received_requests: list[ReceivedRequest] = Field(default_factory=list)
    partner_held_title: PartnerHeldTitle | None = Field(
        default=None,
        description="a title a rota partner holds, for the scenario that sends a request on",
    )
    excluded_patron: ExcludedPatron | None = Field(
        default=None,
        description="a test patron whose user group may not borrow (omit: not checked)",
    )
    electronic_title: HeldTitle | None = Field(
        default=None,
        description="a title the institution holds only electronically (omit: not checked)",
    )
    override_blocks: bool = Field(
        default=False,
        description="also create (and remove) the electronic title's request with "
        "override_blocks=true, as staff may",
    )
    send_seconds: int = Field(
        default=60,
        ge=1,
        le=600,
        description="how long a new request may take to be sent to a partner",
    )


LendingStatus = Literal["REQUEST_CREATED_LEND", "LOCATE_FAILED", "REJECTED", "LOCATE_IN_PROCESS"]


class LendingCase(_Strict):
    """One lending-request case: a title in a given state at the lender, and the end state."""

    title: str | None = Field(default=None, description="omit for a title nobody holds")
    expect: list[LendingStatus] = Field(min_length=1)
    items: list[str] = Field(
        default_factory=list,
        description="barcodes of the title's items at the lender, to confirm before the "
        "request is sent that the test data still holds (all on loan; available but not "
        "requestable)",
    )
    policy: str | None = Field(
        default=None,
        pattern=_CODE,
        description="the item policy that keeps the items from resource sharing "
        "(not_requestable: confirmed on each item before the request is sent)",
    )


class Lending(_Strict):
    """Lending requests the suite sends to this institution, and how each must end."""

    rs_library: str = Field(pattern=_CODE)
    borrower_partner: str = Field(pattern=_CODE, description="partner the requests come from")
    not_held: LendingCase
    all_on_loan: LendingCase
    not_requestable: LendingCase
    electronic_only: LendingCase
    available: LendingCase
    settle_seconds: int = Field(
        default=60,
        ge=1,
        le=600,
        description="how long a lending request may take to reach its final status",
    )


AnalyticsItem = Literal["fulfillment_policies", "terms_of_use", "fulfillment_unit_rules"]


def rota_end(status: str | None, desc: str | None) -> Literal["rejected", "cancelled"] | None:
    """How a borrowing request at the end of its rota ended, read from its status:
    "Rejected by partner" (UNVERIFIED(round_trip.end_of_rota_status): code REJECTED guessed,
    so the description counts too), cancelled (any cancel but "Waiting for cancel response"),
    else None."""
    text = (desc or "").strip().lower()
    if status == "REJECTED" or text == "rejected by partner":
        return "rejected"
    code = (status or "").upper()
    if code != "CANCEL_REPLY" and (code.startswith("CANCEL") or text.startswith("cancel")):
        return "cancelled"
    return None


class RoundTrip(_Strict):
    """A request that travels to another member of the consortium and back (both members'
    API keys needed): the lender is another profile of the same profiles folder."""

    lender: str = Field(min_length=1, description="the lending member's profile folder name")
    partner: str = Field(pattern=_CODE, description="the lending member as a partner here")
    as_partner: str = Field(
        pattern=_CODE, description="this institution as a partner at the lending member"
    )
    supplied_title: HeldTitle = Field(description="a title the lender has on its shelf to lend")
    rejected_title: HeldTitle | None = Field(
        default=None, description="a title the lender rejects (its items all on loan)"
    )
    next_partner: str | None = Field(
        default=None,
        pattern=_CODE,
        description="the rota's partner after the lender; omit when the lender is the last",
    )
    # UNVERIFIED(round_trip.end_of_rota_status)
    end_of_rota_status: list[str] = Field(
        default_factory=lambda: ["REJECTED"],
        min_length=1,
        description="how a request rejected by the rota's last partner ends (UNVERIFIED)",
    )
    settle_seconds: int = Field(
        default=120, ge=1, le=900, description="how long each leg may take between members"
    )


class AnalyticsCheck(_Strict):
    """A saved Analytics report (subject area "Configurations (Limited)") and the rows it
    must contain; each expected row names only the columns that matter."""

    report: str = Field(min_length=2, description="report path, e.g. /shared/<inst>/Reports/…")
    expect: list[dict[str, str]] = Field(min_length=1, description="column heading → value")


class Profile(_Strict):
    """An institution's expected peer-to-peer configuration and its test data."""

    institution: Institution
    resource_sharing_libraries: list[RsLibrary] = Field(min_length=1)
    patron_rs_library: PatronMapping | None = Field(
        default=None, description="Required when there is more than one RS library"
    )
    partners: list[Partner] = Field(default_factory=list)
    test_patrons: list[TestPatron] = Field(default_factory=list)
    rs_staff: list[RsStaff] = Field(
        default_factory=list, description="staff accounts whose roles are checked (read-only)"
    )
    borrowing: Borrowing | None = Field(default=None, description="omit: no borrowing checks")
    lending: Lending | None = Field(default=None, description="omit: no lending checks")
    round_trip: RoundTrip | None = Field(
        default=None, description="omit: no round trip between members"
    )
    analytics: dict[AnalyticsItem, AnalyticsCheck] = Field(
        default_factory=dict, description="items checked through Alma Analytics"
    )

    # Set by the loader, not by the YAML.
    name: str = Field(default="", exclude=True, description="profile folder name")
    source: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        codes = [lib.code for lib in self.resource_sharing_libraries]
        _unique(codes, "resource_sharing_libraries", "code")
        _unique([p.code for p in self.partners], "partners", "code")
        _unique([p.primary_id for p in self.test_patrons], "test_patrons", "primary_id")
        if len(codes) > 1 and self.patron_rs_library is None:
            raise ValueError(
                "patron_rs_library is required when there are several resource sharing "
                f"libraries ({', '.join(codes)}): say how patrons map to them"
            )
        if self.patron_rs_library is not None:
            unknown = sorted(set(self.patron_rs_library.map.values()) - set(codes))
            if unknown:
                raise ValueError(
                    f"patron_rs_library.map names {', '.join(unknown)}, which are not among "
                    f"resource_sharing_libraries ({', '.join(codes)})"
                )
        for i, staff in enumerate(self.rs_staff):
            if staff.rs_library not in codes:
                raise ValueError(
                    f"rs_staff[{i}].rs_library {staff.rs_library} is not among "
                    f"resource_sharing_libraries ({', '.join(codes)})"
                )
        if self.round_trip is not None:
            partners = {p.code for p in self.partners}
            for name in ("partner", "next_partner"):
                code = getattr(self.round_trip, name)
                if code is not None and code not in partners:
                    raise ValueError(f"round_trip.{name} {code} is not among partners")
        self._check_lending(codes)
        self._check_borrowing(codes)
        return self

    def _check_lending(self, codes: list[str]) -> None:
        if self.lending is None:
            return
        if self.lending.rs_library not in codes:
            raise ValueError(
                f"lending.rs_library {self.lending.rs_library} is not among "
                f"resource_sharing_libraries ({', '.join(codes)})"
            )
        if self.lending.borrower_partner not in {p.code for p in self.partners}:
            raise ValueError(
                f"lending.borrower_partner {self.lending.borrower_partner} is not among partners"
            )

    def _check_borrowing(self, codes: list[str]) -> None:
        if self.borrowing is None:
            return
        patrons = {p.primary_id for p in self.test_patrons}
        for i, received in enumerate(self.borrowing.received_requests):
            if received.rs_library not in codes:
                raise ValueError(
                    f"borrowing.received_requests[{i}].rs_library {received.rs_library} is not "
                    f"among resource_sharing_libraries ({', '.join(codes)})"
                )
            if received.patron not in patrons:
                raise ValueError(
                    f"borrowing.received_requests[{i}].patron {received.patron} is not among "
                    "test_patrons"
                )
        excluded = self.borrowing.excluded_patron
        if excluded is not None and excluded.patron in patrons:
            raise ValueError(
                "borrowing.excluded_patron.patron must not also be listed in test_patrons "
                "(those are expected to be allowed to borrow)"
            )
        lacking = self.borrowing.patron_without_rs_library
        if lacking is not None and lacking in patrons:
            raise ValueError(
                "borrowing.patron_without_rs_library must not also be listed in test_patrons "
                "(those are expected to carry an RS library)"
            )

    @property
    def multi_library(self) -> bool:
        return len(self.resource_sharing_libraries) > 1

    @property
    def rs_library_codes(self) -> tuple[str, ...]:
        return tuple(lib.code for lib in self.resource_sharing_libraries)

    def rs_library(self, code: str) -> RsLibrary | None:
        return next((lib for lib in self.resource_sharing_libraries if lib.code == code), None)

    def rs_library_for(self, campus_code: str | None, user_group: str | None) -> str | None:
        """The RS library a patron should have: the only one, or the one ``patron_rs_library``
        maps their campus code or user group to (None when it maps neither)."""
        # The validator requires the mapping when there are several libraries; with one, the
        # one library wins over any mapping.
        if not self.multi_library or self.patron_rs_library is None:
            return self.rs_library_codes[0]
        return self.patron_rs_library.rs_library_for(campus_code, user_group)


def _unique(values: Iterable[str], where: str, field: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{where}: {field} {value!r} appears twice")
        seen.add(value)


def load_profile(path: Path) -> Profile:
    """Load and validate one ``profile.yaml``; the folder name is the profile's name."""
    try:
        text, data = yamlfile.read(path)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile ({exc.strerror})") from exc
    except yamlfile.YamlFileError as exc:
        raise ProfileError(str(exc)) from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping with 'institution' at the top")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        # The node tree (for line numbers) is built only when there is something to point at.
        raise ProfileError(describe_validation(path, exc, yaml.compose(text))) from exc
    return profile.model_copy(update={"name": path.parent.name, "source": str(path)})


def load_profiles(directory: Path, names: Iterable[str] = ()) -> dict[str, Profile]:
    """Profiles under ``directory``, all of them or those named (unknown names are an error)."""
    available = sorted(p.parent.name for p in directory.glob(f"*/{PROFILE_FILE}"))
    wanted = list(names) or available
    unknown = [n for n in wanted if n not in available]
    if unknown:
        listed = ", ".join(available) or f"none (no */{PROFILE_FILE} under {directory})"
        raise ProfileError(
            f"unknown institution {', '.join(unknown)} (--institution / ALMA_INSTITUTIONS); "
            f"available: {listed}"
        )
    if not wanted:
        raise ProfileError(
            f"no institution profiles under {directory}: add <name>/{PROFILE_FILE} "
            "(alma-p2p init --institution <name> makes one to fill in)"
        )
    return {name: load_profile(directory / name / PROFILE_FILE) for name in wanted}


def profile_json_schema() -> dict[str, Any]:
    """JSON Schema of ``profile.yaml`` for editors (yaml-language-server)."""
    schema = Profile.model_json_schema(mode="validation")
    schema["properties"].pop("name", None)
    schema["properties"].pop("source", None)
    schema["title"] = "Alma P2P institution profile"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def schema_text() -> str:
    return json.dumps(profile_json_schema(), indent=2, sort_keys=True) + "\n"


def describe_validation(
    path: Path, exc: ValidationError, root: yaml.Node | None, what: str = "profile"
) -> str:
    """One line per problem: the path inside the file, its line, and what is allowed."""
    lines = [f"{path}: {exc.error_count()} problem(s) in the {what}"]
    for err in exc.errors():
        loc = [p for p in err["loc"] if not str(p).startswith("function-")]
        where = _dotted(loc) or "(top level)"
        line = line_of(root, loc)
        at = f" (line {line})" if line else ""
        lines.append(f"  {where}{at}: {_explain(err)}")
    return "\n".join(lines)


def _dotted(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _explain(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against profile.schema.json)"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{err['input']!r} is not allowed; allowed: {expected}"
    if kind == "string_pattern_mismatch":
        return f"{err['input']!r} is not an Alma code (letters, digits, _ - . only)"
    if kind == "missing":
        return "required, but missing"
    message = str(err["msg"])
    return re.sub(r"^Value error, ", "", message)


def line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """The line of the deepest YAML node on ``loc`` (the parent's when a key is missing)."""
    found = node
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(found, yaml.MappingNode):
            child = next((v for k, v in found.value if k.value == part), None)
        elif isinstance(found, yaml.SequenceNode) and isinstance(part, int):
            child = found.value[part] if part < len(found.value) else None
        if child is None:
            break
        found = child
    return None if found is None else int(found.start_mark.line) + 1
