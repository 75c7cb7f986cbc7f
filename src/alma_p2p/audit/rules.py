"""The finding for one patron: pure, no I/O.

A patron is in scope when active, not a contact record, not of a user group the
profile leaves out, and not the test patron the profile keeps without an RS library
(``borrowing.patron_without_rs_library``). Their expected RS library is the one the
profile's mapping gives their campus code or user group. One finding per patron,
the first that applies: ``unmapped`` (the mapping forgets their campus or group),
``missing`` (no RS library), ``multiple`` (more than one), ``not_rs`` (one library, not
flagged for resource sharing), ``wrong`` (another RS library).
"""

from __future__ import annotations

from dataclasses import dataclass

from alma_p2p.profile import Profile

FINDINGS: dict[str, str] = {
    "missing": "no RS library",
    "wrong": "the wrong RS library",
    "multiple": "more than one RS library",
    "not_rs": "a library not flagged for resource sharing",
    "unmapped": "a campus or user group the mapping does not name",
}


@dataclass(frozen=True)
class Patron:
    """What the audit reads of a user record."""

    primary_id: str
    status: str | None
    record_type: str | None
    user_group: str | None
    campus_code: str | None
    rs_libraries: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """One patron whose RS library is not what the profile's mapping says."""

    primary_id: str
    kind: str  # a key of FINDINGS
    campus_code: str | None
    user_group: str | None
    rs_libraries: tuple[str, ...]
    expected: str | None


class AuditError(ValueError):
    """The audit cannot run as asked; the message says what to do."""


class Rules:
    """The profile's mapping, ready to judge patrons."""

    def __init__(self, profile: Profile) -> None:
        mapping = profile.patron_rs_library
        if not profile.multi_library or mapping is None:
            raise AuditError(
                f"{profile.name}: one resource sharing library, so patrons need none on their "
                "record (Alma uses the only one): there is nothing to audit"
            )
        self.profile = profile
        self.mapping = mapping
        self.rs_libraries = frozenset(profile.rs_library_codes)
        self.out_of_scope = frozenset(mapping.out_of_scope_groups)
        # The test patron the profile keeps without an RS library on purpose.
        lacking = profile.borrowing.patron_without_rs_library if profile.borrowing else None
        self.exempt = frozenset({lacking.lower()} if lacking else ())

    @property
    def by(self) -> str:
        return self.mapping.by

    def active(self, status: str | None) -> bool:
        """Whether a user the list shows (status only) needs reading at all."""
        return (status or "ACTIVE").upper() == "ACTIVE"

    def in_scope(self, patron: Patron) -> bool:
        return (
            self.active(patron.status)
            and (patron.record_type or "PUBLIC").upper() != "CONTACT"
            and patron.user_group not in self.out_of_scope
            and patron.primary_id.lower() not in self.exempt
        )

    def check(self, patron: Patron) -> Finding | None:
        """The patron's finding; None when in order or out of scope."""
        if not self.in_scope(patron):
            return None
        expected = self.mapping.rs_library_for(patron.campus_code, patron.user_group)
        has = patron.rs_libraries
        if expected is None:
            kind = "unmapped"
        elif not has:
            kind = "missing"
        elif len(has) > 1:
            kind = "multiple"
        elif has[0] not in self.rs_libraries:
            kind = "not_rs"
        elif has[0] != expected:
            kind = "wrong"
        else:
            return None
        return Finding(
            patron.primary_id, kind, patron.campus_code, patron.user_group, has, expected
        )

    def key_of(self, finding: Finding) -> str | None:
        """The value of the field the mapping goes by."""
        return finding.campus_code if self.by == "campus_code" else finding.user_group
