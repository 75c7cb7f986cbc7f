"""Steps about the temporary resource sharing locations of each RS library."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pytest_bdd import then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.alma.models import Location
from alma_p2p.facts import Facts
from alma_p2p.guide import BY_ID
from alma_p2p.outcomes import cannot_tell
from alma_p2p.profile import Profile, RsLibrary
from alma_p2p.suite.steps.common import fail_with

LOCATIONS = BY_ID["temporary_locations"]
LOCATION_DESKS = "location.circ_desk_fields"


@dataclass
class TempLocation:
    library: RsLibrary
    role: str  # "borrowing" | "lending"
    code: str
    found: Location | None

    @property
    def name(self) -> str:
        return f"{self.role} location {self.code} of {self.library.code}"


@when(
    "the temporary locations of each resource sharing library are read from Alma",
    target_fixture="temp_locations",
)
def _(alma: AlmaClient, alma_institution: Profile) -> list[TempLocation]:
    out = []
    for library in alma_institution.resource_sharing_libraries:
        existing = {loc.code for loc in alma.locations(library.code)}
        for role, code in (
            ("borrowing", library.borrowing_location),
            ("lending", library.lending_location),
        ):
            found = alma.location(library.code, code) if code in existing else None
            out.append(TempLocation(library, role, code, found))
    return out


def _existing(
    locations: list[TempLocation], institution: str
) -> list[tuple[TempLocation, Location]]:
    """Each temporary location Alma has, with what Alma holds for it."""
    present = [(t, t.found) for t in locations if t.found is not None]
    if not present:
        pytest.fail(
            f"{institution}: none of the temporary locations exists, so this cannot be checked "
            "(see the scenario that checks they exist)",
            pytrace=False,
        )
    return present


@then("every temporary location exists")
def _(temp_locations: list[TempLocation], alma_institution: Profile) -> None:
    fail_with(
        [
            f"{t.name} does not exist: add it "
            f"({LOCATIONS.fix('location', library=t.library.code)}), Fulfillment Unit ending "
            "in _FU, or correct the code in profile.yaml"
            for t in temp_locations
            if t.found is None
        ],
        f"{alma_institution.name}: temporary resource sharing locations missing:",
    )


@then("every temporary location is in the profile's fulfillment unit")
def _(
    temp_locations: list[TempLocation], alma_institution: Profile, alma_evidence: list[str]
) -> None:
    problems = []
    for t, found in _existing(temp_locations, alma_institution.name):
        unit = found.fulfillment_unit.value
        alma_evidence.append(f"{t.library.code}/{t.code} fulfillment_unit={unit}")
        expected = t.library.fulfillment_unit
        if expected is None:
            problems.append(
                f"{t.library.code}: the profile names no fulfillment_unit, so {t.name} "
                f"(in {unit or 'none'}) cannot be checked; add it to profile.yaml"
            )
        elif unit != expected:
            problems.append(
                f"{t.name} is in fulfillment unit {unit or 'none'}, expected {expected}: edit "
                f"the location ({LOCATIONS.fix('location', library=t.library.code)}) and set its "
                "Fulfillment Unit"
            )
    fail_with(problems, f"{alma_institution.name}: temporary locations in the wrong unit:")


@then("every temporary location has the resource sharing desk for check in, check out and reshelve")
def _(
    temp_locations: list[TempLocation],
    alma_institution: Profile,
    alma_evidence: list[str],
    alma_facts: Facts,
) -> None:
    problems, unlisted = [], []
    # UNVERIFIED(location.circ_desk_fields): a location's answer lists its desks, unless
    # calibration found this Alma leaves circ_desk out (as a real capture does).
    listed = alma_facts.is_calibrated(LOCATION_DESKS) and alma_facts.value(LOCATION_DESKS) == (
        alma_facts.register.fact(LOCATION_DESKS).assumed
    )
    for t, found in _existing(temp_locations, alma_institution.name):
        desk_code = t.library.circ_desk
        if desk_code is None:
            problems.append(f"{t.library.code}: the profile names no circ_desk to check")
            continue
        if not found.lists_circ_desk and not listed:
            unlisted.append((t, desk_code))
            continue
        desk = next((d for d in found.circ_desk if d.circ_desk_code == desk_code), None)
        alma_evidence.append(
            f"{t.library.code}/{t.code} desks="
            + ",".join(d.circ_desk_code or "?" for d in found.circ_desk)
        )
        fix = LOCATIONS.fix("desk", library=t.library.code, location=t.code, desk=desk_code)
        if desk is None:
            problems.append(f"{t.name} has no circulation desk {desk_code}: {fix}")
        elif not (desk.check_in and desk.check_out and desk.reshelve):
            missing = [
                n
                for n, v in (
                    ("check in", desk.check_in),
                    ("check out", desk.check_out),
                    ("reshelve", desk.reshelve),
                )
                if not v
            ]
            problems.append(f"{t.name}: desk {desk_code} lacks {', '.join(missing)}: {fix}")
    fail_with(problems, f"{alma_institution.name}: temporary locations without the RS desk:")
    if unlisted:
        calibrated = alma_facts.is_calibrated(LOCATION_DESKS)
        checks = "; ".join(
            f"{t.name}: "
            + LOCATIONS.fix("desk", library=t.library.code, location=t.code, desk=desk)
            for t, desk in unlisted
        )
        cannot_tell(
            "Alma's answer for a location lists no circulation desks at all (no circ_desk; "
            + (
                "calibrated so"
                if calibrated
                else "not calibrated: alma-p2p calibrate --institution " + alma_institution.name
            )
            + f"), so the API cannot show the RS desk. Check by hand: {checks}"
        )
