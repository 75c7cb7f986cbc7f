"""@writes scenarios: only against a sandbox, every create ledgered, everything undone.

A scenario tagged @writes gets a write session (``alma_writes``) after ``/conf/general``
reports a sandbox and every partner of the profile sends to an allowed target
(``alma_p2p.targets``); elsewhere it is refused, with the reason. When it ends, even
by failing, the session removes what it created; what Alma keeps is listed as LEFT IN ALMA.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from alma_p2p.alma import AlmaClient
from alma_p2p.ledger import Ledger
from alma_p2p.outcomes import cannot_tell
from alma_p2p.plugin.clients import clients_of
from alma_p2p.plugin.run import run_of
from alma_p2p.profile import Profile
from alma_p2p.targets import read_partners, refusals, targets
from alma_p2p.writes import WriteSession


@dataclass(frozen=True)
class Refusal:
    """Why no write of the run is sent to an institution; ``unknown``: only because a
    partner's server could not be read (*cannot tell*), not because it is production."""

    text: str
    unknown: bool


@dataclass
class Writes:
    """The run's ledger (None when replaying: nothing real is created) and what it left."""

    ledger: Ledger | None
    left_behind: list[str] = field(default_factory=list)
    # Writes that reached Alma without an answer, by institution: the client's statistics
    # count only answered calls.
    lost_answers: dict[str, int] = field(default_factory=dict)
    # Institutions whose partners may reach production: every write of the run is refused.
    refused: dict[str, Refusal] = field(default_factory=dict)
    targets_checked: set[str] = field(default_factory=set)


WRITES = pytest.StashKey[Writes]()


def pytest_configure(config: pytest.Config) -> None:
    settings = run_of(config).settings
    config.stash[WRITES] = Writes(Ledger(settings.ledger) if settings.mode != "replay" else None)


@pytest.fixture
def alma_writes(
    request: pytest.FixtureRequest, alma_client: AlmaClient, alma_institution: Profile
) -> Iterator[WriteSession]:
    """The write session of a @writes scenario: what it creates is ledgered and undone."""
    if request.node.get_closest_marker("writes") is None:
        pytest.fail("alma_writes is only for scenarios tagged @writes", pytrace=False)
    institution = alma_institution.name
    general = alma_client.general()
    if not general.is_sandbox:
        pytest.skip(
            f"refused to write: Alma reports environment_type={general.environment_type!r} "
            f"for {general.institution.value or institution}; scenarios that create requests "
            "run only against a sandbox (use a sandbox API key)"
        )
    config = request.config
    writes = config.stash[WRITES]
    live = run_of(config).settings.mode == "live"
    _refuse_production_targets(alma_client, alma_institution, writes, live=live)
    session = WriteSession(
        alma_client,
        clients_of(config).gates[institution],
        institution,
        ledger=writes.ledger,
        run_token=run_of(config).run_token,
    )
    yield session
    settle(session, config)


def settle(session: WriteSession, config: pytest.Config) -> None:
    """Undo what the session created and note what Alma keeps (closing twice is harmless:
    the second time nothing is left to undo)."""
    writes = config.stash[WRITES]
    institution = session.institution
    report = session.close()
    if session.lost_answers:
        writes.lost_answers[institution] = (
            writes.lost_answers.get(institution, 0) + session.lost_answers
        )
        session.lost_answers = 0  # counted once
    if writes.ledger is not None:  # on replay nothing real was created
        writes.left_behind.extend(f"{institution}: {line}" for line in report.left)


def _refuse_production_targets(
    alma: AlmaClient, profile: Profile, writes: Writes, *, live: bool
) -> None:
    """Before a write: every partner's server is one the profile allows, or no write of the
    run is sent. Live, it is asked once per institution and run; recording or replaying,
    in each scenario, so each cassette holds the partners it was checked against."""
    name = profile.name
    if name not in writes.refused and (not live or name not in writes.targets_checked):
        found = targets(profile, read_partners(alma))  # Alma not answering: no write either
        writes.targets_checked.add(name)
        lines = refusals(profile, found)
        if lines:
            unknown = all(t.host is None for t in found if not t.allowed)
            writes.refused[name] = Refusal("; ".join(lines), unknown)
    refused = writes.refused.get(name)
    if refused is None:
        return
    text = f"refused every write of the run at {name}: {refused.text}"
    if refused.unknown:
        cannot_tell(text)
    pytest.fail(text, pytrace=False)
