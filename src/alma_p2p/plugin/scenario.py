"""Who and what a running scenario is, and how it ended.

At the start of each scenario (pytest-bdd's ``before_scenario``) the scenario's identity is
kept on its test item; a scenario that asks Alma then enters its cassette
(``alma_cassette``) and, when tagged @writes, opens its write session (``alma_writes``),
in that order, so the write guard's own read is in the cassette.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from alma_p2p.guide import TAG_PREFIX
from alma_p2p.plugin.features import feature_base
from alma_p2p.profile import Profile


@dataclass(frozen=True)
class Scenario:
    """A scenario running at one institution."""

    institution: str
    feature: str  # the Feature's name
    feature_path: str  # the feature file, relative to the features folder
    name: str
    tags: frozenset[str]

    analytics_report: bool = False  # the profile names an Analytics report for its item

    @property
    def asks_alma(self) -> bool:
        """False for a person's check (a manual item, or an Analytics item without a report)."""
        return not (
            "manual" in self.tags or ("analytics" in self.tags and not self.analytics_report)
        )


SCENARIO = pytest.StashKey[Scenario]()
OUTCOME = pytest.StashKey[pytest.TestReport]()


def scenario_of(item: pytest.Item) -> Scenario | None:
    return item.stash.get(SCENARIO, None)


def outcome_of(item: pytest.Item) -> pytest.TestReport | None:
    """The report of the scenario's call (or of its setup, when setup did not pass)."""
    return item.stash.get(OUTCOME, None)


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    if "alma_institution" not in request.fixturenames:
        return
    profile: Profile = request.getfixturevalue("alma_institution")
    base = feature_base(request.config, Path(feature.filename))
    tags = frozenset(scenario.tags) | frozenset(feature.tags)
    items = {t.removeprefix(TAG_PREFIX) for t in tags if t.startswith(TAG_PREFIX)}
    found = Scenario(
        institution=profile.name,
        feature=feature.name,
        feature_path=os.path.relpath(feature.filename, base),
        name=scenario.name,
        tags=tags,
        analytics_report=any(item in profile.analytics for item in items),
    )
    request.node.stash[SCENARIO] = found
    if not found.asks_alma:
        return  # a person's check: no Alma call, no cassette
    request.getfixturevalue("alma_cassette")
    if "writes" in tags:
        request.getfixturevalue("alma_writes")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        item.stash[OUTCOME] = report
        raised = call.excinfo.value if call.excinfo is not None else None
        item.config.hook.pytest_alma_scenario_ended(item=item, report=report, raised=raised)
    return report
