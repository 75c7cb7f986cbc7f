"""Scenario/institution pairs that do not apply are left out at collection, with reasons.

A multi-library check at a one-library college, or lending checks for a profile without a
``lending`` section, is deselected (never reported as passed); the summary says why and the
readiness report shows its guide items as n/a.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from alma_p2p.guide import TAG_PREFIX
from alma_p2p.plugin.run import institution_of, run_of
from alma_p2p.profile import Profile
from alma_p2p.settings import Settings, api_key_variable


@dataclass
class LeftOut:
    """What collection left out: counts per reason, and the (institution, guide item) pairs."""

    reasons: dict[str, int] = field(default_factory=dict)  # "<institution>: <why>" → count
    items: set[tuple[str, str]] = field(default_factory=set)


LEFT_OUT = pytest.StashKey[LeftOut]()


def left_out_of(config: pytest.Config) -> LeftOut:
    return config.stash.setdefault(LEFT_OUT, LeftOut())


def not_applicable(
    item: pytest.Item, profile: Profile, settings: Settings | None = None
) -> str | None:
    """Why a scenario does not apply to an institution (None: it applies)."""
    if item.get_closest_marker("multi_library") and not profile.multi_library:
        return "one resource sharing library"
    if item.get_closest_marker("single_library") and profile.multi_library:
        return "several resource sharing libraries"
    if item.get_closest_marker("borrowing") and profile.borrowing is None:
        return "no borrowing section in the profile"
    if item.get_closest_marker("lending") and profile.lending is None:
        return "no lending section in the profile"
    return _lifecycle_not_applicable(item, profile, settings)


def _lifecycle_not_applicable(
    item: pytest.Item, profile: Profile, settings: Settings | None
) -> str | None:
    """The test data the lifecycle scenarios need (issue 12), each optional in a profile."""
    borrowing = profile.borrowing
    if item.get_closest_marker("excluded_group") and (
        borrowing is None or borrowing.excluded_patron is None
    ):
        return "no borrowing.excluded_patron in the profile"
    if item.get_closest_marker("electronic_title") and (
        borrowing is None or borrowing.electronic_title is None
    ):
        return "no borrowing.electronic_title in the profile"
    if item.get_closest_marker("override_blocks") and (
        borrowing is None or not borrowing.override_blocks
    ):
        return "borrowing.override_blocks is not opted into in the profile"
    if item.get_closest_marker("staff") and not profile.rs_staff:
        return "no rs_staff in the profile"
    if item.get_closest_marker("round_trip"):
        return _round_trip_not_applicable(profile, settings)
    return None


def _round_trip_not_applicable(profile: Profile, settings: Settings | None) -> str | None:
    """A round trip needs the lending member's own key beside this institution's (a replay
    needs none: the cassette holds both sides)."""
    trip = profile.round_trip
    if trip is None:
        return "no round_trip in the profile"
    if settings is None or settings.mode == "replay":
        return None
    mine, theirs = settings.api_key_for(profile.name), settings.api_key_for(trip.lender)
    if not theirs or theirs == mine:
        return (
            f"no API key of {trip.lender}, the lending member: set "
            f"{api_key_variable(trip.lender)} beside {api_key_variable(profile.name)} "
            "(a round trip is never played by one institution)"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    profiles = run_of(config).profiles
    if profiles is None:
        return
    left_out = left_out_of(config)
    keep, dropped = [], []
    for item in items:
        name = institution_of(item) or ""
        settings = run_of(config).settings
        reason = not_applicable(item, profiles[name], settings) if name in profiles else None
        if reason is None:
            keep.append(item)
            continue
        dropped.append(item)
        left_out.items.update(
            (name, m.name.removeprefix(TAG_PREFIX))
            for m in item.iter_markers()
            if m.name.startswith(TAG_PREFIX)
        )
        key = f"{name}: {reason}"
        left_out.reasons[key] = left_out.reasons.get(key, 0) + 1
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
