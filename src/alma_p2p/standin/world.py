"""The stand-in's world file: the institutions it plays, as plain data.

A world is YAML with a list of ``institutions``; each holds what Alma would hold for it
(keys with their API areas, libraries with locations and desks, users, partners, jobs,
code tables, bibs with holdings and items, and borrowing requests staff have received).
``load_world`` validates it and raises ``WorldError`` naming the file and the path inside.
Settings Alma keeps but does not expose through its API (an RS library's lending flags and
default borrowing location) are here too, because the stand-in acts on them.

``facts: {<fact id>: <switch word>}``, on an institution or at the top of the world (for
every institution, and for keys no institution holds), makes the stand-in play an
alternative of a fact of the register of Alma facts instead of the assumed value, e.g.
``facts: {lending.reject_status_code: REJECT}``. The words are the register's ``switch``
values; an unknown fact or word is a ``WorldError`` naming the line.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alma_p2p import yamlfile
from alma_p2p.facts import load_register

Permission = Literal["R", "RW"]


class WorldError(ValueError):
    """A world file that cannot be served; one screen, says where and what."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The fact whose switch the older ``no_rs_library_error`` setting also gives.
NO_RS_LIBRARY = "borrowing.no_rs_library_error"


def _check_switches(raw: Any) -> dict[str, str]:
    """Each fact id is in the register and each value one of the words it can be played as."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("facts: a mapping of fact id to switch word is expected")
    # YAML reads 401607 and 403 as numbers; the switch words are text.
    switches = {str(k): str(v) for k, v in raw.items()}
    register = load_register()
    for fact_id, word in switches.items():
        if fact_id not in register:
            raise ValueError(
                f"{fact_id}: no such fact in the register of Alma facts "
                "(src/alma_p2p/facts.yaml); ids are like lending.reject_status_code"
            )
        words = register.fact(fact_id).switches
        if not words:
            raise ValueError(f"{fact_id}: the stand-in cannot play this fact's alternatives")
        if word not in words:
            raise ValueError(f"{fact_id}: {word!r} is not one of {', '.join(words)}")
    return switches


Switches = dict[str, str]


class ApiKey(_Data):
    key: str = Field(min_length=1)
    areas: dict[str, Permission] = Field(description="API area → R or RW")


class DeskLink(_Data):
    code: str
    check_in: bool = True
    check_out: bool = True
    reshelve: bool = True


class Location(_Data):
    code: str
    name: str
    external_name: str | None = None
    type: Literal["OPEN", "CLOSED", "REMOTE"] = "OPEN"
    fulfillment_unit: str | None = None
    suppress_from_publishing: bool = False
    circ_desks: list[DeskLink] = Field(default_factory=list)


class CircDesk(_Data):
    code: str
    name: str
    has_hold_shelf: bool = False


class LendingSetup(_Data):
    """The RS library's Lending Information flags (WRLC guide, step 4); not in the API."""

    automatically_locate: bool = True
    reject_when_no_available: bool = True
    reject_when_no_requestable: bool = True
    reject_when_only_electronic: bool = True


class Library(_Data):
    code: str
    name: str
    description: str | None = None
    resource_sharing: bool = False
    campus: str | None = None
    default_location: str | None = None
    borrowing_default_location: str | None = Field(
        default=None, description="RS borrowing Default Location; none gives 402039"
    )
    lending: LendingSetup = LendingSetup()
    circ_desks: list[CircDesk] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)


class Role(_Data):
    """A staff role on a user record (the code table UserRoles)."""

    code: str = Field(description="role type code, e.g. 32 Circulation Desk Operator")
    desc: str
    scope: str = Field(description="a library code, or the institution code")
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    desks: list[str] = Field(default_factory=list, description="circulation desks it covers")


class User(_Data):
    primary_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    birth_date: date | None = None
    user_group: str | None = None
    campus_code: str | None = None
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    record_type: Literal["PUBLIC", "STAFF", "CONTACT"] = "PUBLIC"
    account_type: Literal["INTERNAL", "EXTERNAL"] = "INTERNAL"
    barcode: str | None = None
    rs_libraries: list[str] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list, description="staff roles")
    raw: dict[str, Any] = Field(
        default_factory=dict, description="JSON merged over the rendered record"
    )


class Partner(_Data):
    code: str
    name: str
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    profile_type: str = "ISO"
    iso_symbol: str | None = None
    ill_server: str | None = Field(default=None, description="where its requests go")
    system_type: str = "ALMA"
    borrowing_supported: bool = True
    borrowing_workflow: str = "DEFAULT_BOR_WF"
    lending_supported: bool = True
    lending_workflow: str = "DEFAULT_LEND_WF"
    request_expiry_type: Literal["EXPIRY_TIME", "INTEREST_DATE", "NO_EXPIRY"] = "EXPIRY_TIME"
    expiry_time: int | None = None
    locate_profile: str | None = None
    holding_code: str | None = None
    institution_code: str | None = None
    avg_supply_time: int = 4
    delivery_delay: int = 0
    currency: str = "USD"


class Schedule(_Data):
    value: str
    desc: str


class JobRun(_Data):
    id: str
    submit_date: str
    status: Literal["COMPLETED_SUCCESS", "COMPLETED_FAILED", "COMPLETED_WARNING", "RUNNING"] = (
        "COMPLETED_SUCCESS"
    )


class Job(_Data):
    id: str
    name: str
    description: str | None = None
    type: Literal["SCHEDULED", "MANUAL", "OTHER"] = "SCHEDULED"
    category: str = "FULFILLMENT"
    schedule: Schedule = Schedule(value="NOT_SCHEDULED", desc="Not scheduled")
    active: bool = True
    next_run: str | None = None
    runs: list[JobRun] = Field(default_factory=list, description="newest first")


class CodeRow(_Data):
    code: str
    description: str
    enabled: bool = True
    default: bool = False


class CodeTable(_Data):
    description: str | None = None
    rows: list[CodeRow] = Field(default_factory=list)
    scopes: dict[str, list[CodeRow]] = Field(
        default_factory=dict, description="library code → rows (library-scoped tables)"
    )


class Item(_Data):
    pid: str
    barcode: str
    policy: str | None = None
    base_status: Literal["0", "1"] = "1"
    process_type: str | None = None
    requested: bool = False
    requestable_for_rs: bool = Field(
        default=True, description="requestable for resource sharing per fulfillment policy"
    )


class Holding(_Data):
    holding_id: str
    library: str
    location: str
    temp_library: str | None = None
    temp_location: str | None = None
    temp_policy: str | None = None
    in_temp_location: bool = False
    items: list[Item] = Field(default_factory=list)


class Bib(_Data):
    mms_id: str
    title: str
    author: str | None = None
    isbn: str | None = None
    suppress_from_publishing: bool = False
    electronic: bool = Field(default=False, description="has electronic services")
    holdings: list[Holding] = Field(default_factory=list)


class BorrowingRequest(_Data):
    """A borrowing request already in Alma (e.g. received by staff before the run)."""

    request_id: str
    external_id: str
    user: str
    owner: str
    title: str
    status: str = "RECEIVED_PHYSICALLY"  # UNVERIFIED(borrowing.received_status_code)
    status_desc: str = "Physically received by library"
    partner: str | None = None
    mms_id: str | None = None


class AnalyticsReport(_Data):
    """A saved Analytics report: column headings and rows of text."""

    columns: list[str] = Field(min_length=1)
    rows: list[list[str]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _widths(self) -> AnalyticsReport:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"row {i} has {len(row)} values for {len(self.columns)} columns")
        return self


class Delays(_Data):
    """How long this Alma takes to move a new request on (0: at the next read). Not a fact
    about Alma (the register's facts say *what* happens): a knob for ``make bench`` to give
    a live run Alma-like waits."""

    send: float = Field(
        default=0, ge=0, le=600, description="seconds a new borrowing request stays in locate"
    )
    locate: float = Field(
        default=0, ge=0, le=600, description="seconds a new lending request stays in locate"
    )


class Institution(_Data):
    code: str
    name: str
    environment_type: Literal["sandbox", "production"] = "sandbox"
    alma_url: str | None = None
    today: date = date(2026, 1, 1)
    per_second_threshold: int = Field(default=25, ge=1)
    daily_threshold: int = Field(default=100_000, ge=1)
    no_rs_library_error: Literal["401768", "401607"] = "401768"
    facts: Switches = Field(
        default_factory=dict,
        description="fact id → the alternative the stand-in plays (facts.yaml switch words)",
    )
    rota: list[str] = Field(
        default_factory=list, description="partners the rota template puts on a new request"
    )
    borrowing_excluded_groups: list[str] = Field(
        default_factory=list,
        description="user groups the Borrowing Resource Sharing rules do not let borrow",
    )
    # UNVERIFIED(borrowing.excluded_group_refused): the code is the world's guess.
    excluded_group_error: str = "401652"
    sends_automatically: bool = Field(
        default=True, description="a sending borrowing request rule applies to the rota"
    )
    delays: Delays = Field(default_factory=Delays)
    api_keys: list[ApiKey] = Field(default_factory=list)
    libraries: list[Library] = Field(default_factory=list)
    users: list[User] = Field(default_factory=list)
    partners: list[Partner] = Field(default_factory=list)
    jobs: list[Job] = Field(default_factory=list)
    code_tables: dict[str, CodeTable] = Field(default_factory=dict)
    bibs: list[Bib] = Field(default_factory=list)
    borrowing_requests: list[BorrowingRequest] = Field(default_factory=list)
    analytics_reports: dict[str, AnalyticsReport] = Field(
        default_factory=dict, description="report path → report"
    )

    _facts = field_validator("facts", mode="before")(_check_switches)

    @model_validator(mode="after")
    def _references(self) -> Institution:
        libraries = {lib.code for lib in self.libraries}
        for user in self.users:
            unknown = set(user.rs_libraries) - libraries
            if unknown:
                raise ValueError(
                    f"user {user.primary_id}: rs_libraries {sorted(unknown)} are not libraries "
                    f"of {self.code} ({', '.join(sorted(libraries))})"
                )
        chosen = self.facts.get(NO_RS_LIBRARY, self.no_rs_library_error)
        if "no_rs_library_error" in self.model_fields_set and chosen != self.no_rs_library_error:
            raise ValueError(
                f"no_rs_library_error {self.no_rs_library_error} and facts: "
                f"{NO_RS_LIBRARY}: {chosen} disagree; give only the facts entry"
            )
        return self

    def plays(self, fact_id: str) -> str:
        """The switch word of the alternative this institution plays for a fact."""
        if fact_id in self.facts:
            return self.facts[fact_id]
        if fact_id == NO_RS_LIBRARY:
            return self.no_rs_library_error
        switch = load_register().fact(fact_id).switch
        if switch is None:  # pragma: no cover - a programming error, not a world's
            raise KeyError(f"{fact_id} has no switch words in src/alma_p2p/facts.yaml")
        return switch

    def library(self, code: str) -> Library | None:
        return next((lib for lib in self.libraries if lib.code == code), None)

    def user(self, primary_id: str) -> User | None:
        return self._users_by_id.get(primary_id.lower())

    @cached_property
    def _users_by_id(self) -> dict[str, User]:
        # primary_id is case-insensitive (alma-api.md §2.1); the first of a repeated id wins.
        index: dict[str, User] = {}
        for user in self.users:
            index.setdefault(user.primary_id.lower(), user)
        return index

    def partner(self, code: str) -> Partner | None:
        return next((p for p in self.partners if p.code == code), None)

    @property
    def rs_libraries(self) -> list[Library]:
        return [lib for lib in self.libraries if lib.resource_sharing]


class ReleaseQuirks(_Data):
    """Changes an Alma release might make to every answer, to test the drift report.

    Not Alma behaviour: a way to play "after the monthly release" with the same world.
    """

    rename: dict[str, str] = Field(default_factory=dict, description="JSON key → new name")
    wrap_in_value: list[str] = Field(
        default_factory=list, description='keys whose string value becomes {"value": …}'
    )


class World(_Data):
    institutions: list[Institution] = Field(min_length=1)
    latency_ms: int = Field(
        default=0, ge=0, le=10_000, description="time every answer takes, like Alma's round trip"
    )
    release_quirks: ReleaseQuirks = ReleaseQuirks()
    facts: Switches = Field(
        default_factory=dict,
        description="fact id → alternative for every institution (and for unknown keys); "
        "an institution's own facts: override it",
    )

    _facts = field_validator("facts", mode="before")(_check_switches)

    @model_validator(mode="before")
    @classmethod
    def _institutions_inherit_facts(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("facts"), dict):
            return data
        shared = data["facts"]
        institutions = data.get("institutions")
        if isinstance(institutions, list):
            data = {
                **data,
                "institutions": [
                    {**i, "facts": {**shared, **(i.get("facts") or {})}}
                    if isinstance(i, dict)
                    else i
                    for i in institutions
                ],
            }
        return data

    def plays(self, fact_id: str) -> str:
        """The switch word the world as a whole plays (for a caller no key names)."""
        if fact_id in self.facts:
            return self.facts[fact_id]
        switch = load_register().fact(fact_id).switch
        if switch is None:  # pragma: no cover - a programming error, not a world's
            raise KeyError(f"{fact_id} has no switch words in src/alma_p2p/facts.yaml")
        return switch

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, data: Any) -> Any:
        # Top-level "x-..." keys hold YAML anchors shared by the institutions.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not str(k).startswith("x-")}
        return data

    @model_validator(mode="after")
    def _unique_keys(self) -> World:
        seen: dict[str, str] = {}
        for inst in self.institutions:
            for key in inst.api_keys:
                if key.key in seen:
                    raise ValueError(f"an API key is given to both {seen[key.key]} and {inst.code}")
                seen[key.key] = inst.code
        return self


def load_world(path: Path) -> World:
    """Read and validate a world file."""
    try:
        _text, data = yamlfile.read(Path(path))
    except OSError as exc:
        raise WorldError(f"{path}: cannot read the world file ({exc.strerror})") from exc
    except yamlfile.YamlFileError as exc:
        raise WorldError(str(exc)) from None
    try:
        return World.model_validate(data)
    except ValidationError as exc:
        root = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yamlfile.SafeLoader)
        problems = []
        for err in exc.errors()[:10]:
            where = ""
            for part in err["loc"]:
                where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
            message = err["msg"].removeprefix("Value error, ")
            named = re.match(r"([a-z][a-z0-9_.]*): ", message)
            loc = [*err["loc"], named.group(1)] if named and err["loc"][-1:] == ("facts",) else []
            line = _line_of(root, loc or list(err["loc"]))
            at = f"line {line}, " if line else ""
            problems.append(f"{at}{where or '(top level)'}: {message}")
        raise WorldError(f"{path}: " + "; ".join(problems)) from exc


def _line_of(node: yaml.Node | None, loc: list[str | int]) -> int | None:
    """The 1-based line of the deepest node of ``loc`` the YAML document has."""
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line
