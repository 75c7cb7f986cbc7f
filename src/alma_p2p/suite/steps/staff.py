"""Steps about the staff who run resource sharing: their roles, read from their records."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_bdd import then, when

from alma_p2p.alma import AlmaAPIError, AlmaClient
from alma_p2p.alma.models import User, UserRole
from alma_p2p.facts import Facts
from alma_p2p.outcomes import broken_premise, cannot_tell
from alma_p2p.profile import Profile, RsStaff
from alma_p2p.suite.steps.common import fail_with

# Role type codes of Alma's code table UserRoles (developers.exlibrisgroup.com).
FULFILLMENT_MANAGER = "215"
DESK_ROLES = {"32": "Circulation Desk Operator", "221": "Circulation Desk Manager"}
# The Fulfillment Services Operator's code is not known: it is recognised by its name.
# UNVERIFIED(staff.fulfillment_operator_role)
FULFILLMENT_OPERATOR = "fulfillment services operator"
# Role codes the harness knows (and Patron): another code at the library may be the
# operator under a localised or renamed description.
KNOWN_ROLES = {FULFILLMENT_MANAGER, *DESK_ROLES, "51", "200"}
SCOPE_FACT = "staff.role_scope_library"
OPERATOR_FACT = "staff.fulfillment_operator_role"
DESK_FACT = "staff.circ_desk_parameter"
EDIT_ROLES = (
    "User Management > Manage Users > (find {user}) > Edit > User Roles > Add Role, scope {library}"
)


@dataclass(frozen=True)
class StaffRecord:
    staff: RsStaff
    user: User

    @property
    def who(self) -> str:
        return f"{self.staff.label or self.staff.primary_id} ({self.staff.primary_id})"


@when("the resource sharing staff accounts are read from Alma", target_fixture="staff_records")
def _(alma: AlmaClient, alma_institution: Profile) -> list[StaffRecord]:
    records = []
    for staff in alma_institution.rs_staff:
        try:
            user = alma.user(staff.primary_id)
        except AlmaAPIError as exc:
            if not exc.refusal or "401861" not in exc.codes:
                raise
            broken_premise(
                f"staff account {staff.primary_id} does not exist in Alma: correct rs_staff "
                "in profile.yaml (a refreshed sandbox holds production's staff)"
            )
        records.append(StaffRecord(staff, user))
    return records


def _active_at(user: User, library: str) -> list[UserRole]:
    # UNVERIFIED(staff.role_scope_library): a library-scoped role shows the library's code.
    return [r for r in user.user_role if r.status.value == "ACTIVE" and r.scope.value == library]


def _fulfillment(role: UserRole) -> bool:
    code, desc = role.role_type.value, (role.role_type.desc or "").strip().lower()
    return code == FULFILLMENT_MANAGER or desc == FULFILLMENT_OPERATOR


def _institution_wide(user: User, institution: str) -> list[UserRole]:
    """Active staff roles scoped to the institution: Alma may show a library role so
    (UNVERIFIED(staff.role_scope_library)), the library then only in a desk parameter."""
    return [
        r
        for r in user.user_role
        if r.status.value == "ACTIVE"
        and r.scope.value == institution
        and r.role_type.value != "200"
    ]


def _calibration(facts: Facts, fact_id: str) -> str:
    """What calibration found of a fact, when it found an alternative."""
    entry = facts.entry(fact_id)
    if entry is None or entry.status != "calibrated":
        return ""
    if entry.value == facts.register.fact(fact_id).assumed:
        return ""
    return f" (calibration found: {entry.value})"


@then("each holds the fulfillment and circulation desk roles of their resource sharing library")
def _(
    staff_records: list[StaffRecord],
    alma_institution: Profile,
    alma_evidence: list[str],
    alma_facts: Facts,
) -> None:
    desks = {lib.code: lib.circ_desk for lib in alma_institution.resource_sharing_libraries}
    problems, unknown = [], []
    for record in staff_records:
        library = record.staff.rs_library
        mine = _active_at(record.user, library)
        wide = _institution_wide(record.user, alma_institution.institution.code)
        alma_evidence.append(
            f"{record.staff.primary_id}: "
            + ", ".join(
                f"{r.role_type.value} {r.role_type.desc or ''} @{r.scope.value} "
                f"{r.status.value}".strip()
                for r in record.user.user_role
            )
        )
        fix = EDIT_ROLES.format(user=record.staff.primary_id, library=library)
        by_hand = f"look by hand at {record.who}'s roles ({fix})"
        if not any(_fulfillment(r) for r in mine):
            # UNVERIFIED(staff.fulfillment_operator_role): the operator is known by its
            # English description only; a role the harness does not know may be it.
            other = [
                f"{r.role_type.value} '{r.role_type.desc or ''}' @{r.scope.value}"
                for r in [*mine, *wide]
                if r.role_type.value not in KNOWN_ROLES or _fulfillment(r)
            ]
            if other:
                unknown.append(
                    f"{record.who} holds no role the harness knows as Fulfillment Services "
                    f"Operator or Manager scoped to {library}, but holds {', '.join(other)}, "
                    "which may be one (named in another language, or scoped to the "
                    f"institution){_calibration(alma_facts, OPERATOR_FACT)}"
                    f"{_calibration(alma_facts, SCOPE_FACT)}; {by_hand}"
                )
            else:
                problems.append(
                    f"{record.who} has no active Fulfillment Services Operator or Manager role "
                    f"scoped to {library}, so cannot work its resource sharing task lists: {fix}"
                )
        desk_roles = [r for r in mine if r.role_type.value in DESK_ROLES]
        if not desk_roles:
            wide_desks = [r for r in wide if r.role_type.value in DESK_ROLES]
            if wide_desks:
                unknown.append(
                    f"{record.who}'s circulation desk role is scoped to the institution, not "
                    f"to {library}{_calibration(alma_facts, SCOPE_FACT)}; {by_hand}"
                )
                continue
            problems.append(
                f"{record.who} has no active Circulation Desk Operator or Manager role scoped "
                f"to {library}, so cannot receive or ship at its desk: {fix}"
            )
            continue
        desk = desks.get(library)
        if desk is None:
            continue  # the profile names no RS desk for this library
        named = {p.value.value for r in desk_roles for p in r.parameter if p.value.value}
        if desk in named:
            continue
        if not named:
            # UNVERIFIED(staff.circ_desk_parameter): desks are named in parameter[].
            unknown.append(
                f"{record.who}'s circulation desk role at {library} names no desk in Alma's "
                f"answer{_calibration(alma_facts, DESK_FACT)}; look at the role's Circulation "
                f"Desk parameter for {desk} ({fix})"
            )
        else:
            problems.append(
                f"{record.who}'s circulation desk role at {library} covers "
                f"{', '.join(sorted(named))}, not the resource sharing desk {desk}: {fix}, "
                f"parameter Circulation Desk {desk}"
            )
    fail_with(problems, f"{alma_institution.name}: resource sharing staff lack roles:")
    if unknown:
        cannot_tell("; ".join(unknown))
