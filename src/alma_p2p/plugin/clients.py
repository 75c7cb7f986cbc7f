"""The Alma client of each institution: one factory, the fixtures, and what each spent.

Every client the harness makes carries a closed write gate (``alma_p2p.writes``): only a
@writes scenario's write session opens it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from alma_p2p.alma import AlmaClient, AlmaConfigError
from alma_p2p.alma.http import MAX_ATTEMPTS
from alma_p2p.connect import client_for
from alma_p2p.plugin.run import run_of
from alma_p2p.profile import Profile
from alma_p2p.recording import REPLAY_BASE_URL
from alma_p2p.settings import Settings
from alma_p2p.writes import WriteGate, guarded


@dataclass(frozen=True)
class Spent:
    """What one institution's client spent in the run."""

    calls: int
    gets: int
    distinct: int
    remaining: int | None  # what Alma last said is left of the day's allowance


@dataclass
class Clients:
    """The run's clients (by institution), their write gates, and what they spent."""

    open: dict[str, AlmaClient] = field(default_factory=dict)
    gates: dict[str, WriteGate] = field(default_factory=dict)
    spent: dict[str, Spent] = field(default_factory=dict)
    # Called with each new client (the results module attaches exchanges to Allure).
    on_new: list[Callable[[AlmaClient], None]] = field(default_factory=list)


CLIENTS = pytest.StashKey[Clients]()


def clients_of(config: pytest.Config) -> Clients:
    return config.stash.setdefault(CLIENTS, Clients())


def live_client(
    config: pytest.Config,
    profile: Profile,
    *,
    timeout: float | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> AlmaClient:
    """A client for an institution's real (or stand-in) Alma, as the settings say.

    The transport comes from the ``pytest_alma_transport`` hook (None: the network).
    """
    transport: httpx.BaseTransport | None = config.hook.pytest_alma_transport(
        config=config, institution=profile.name
    )
    return client_for(
        run_of(config).settings,
        profile,
        transport=transport,
        timeout=timeout,
        max_attempts=max_attempts,
    )


def add_spent(config: pytest.Config, name: str, client: AlmaClient) -> None:
    """Count what ``client`` spent at institution ``name`` (its session client, or another
    client a scenario reads it with, e.g. the round trip's lending member)."""
    stats = client.stats
    mine = Spent(stats.calls, stats.gets, len(stats.distinct_gets), stats.remaining)
    before = clients_of(config).spent.get(name)
    if before is not None:
        mine = Spent(
            before.calls + mine.calls,
            before.gets + mine.gets,
            before.distinct + mine.distinct,
            mine.remaining if mine.remaining is not None else before.remaining,
        )
    clients_of(config).spent[name] = mine


def run_client(config: pytest.Config, settings: Settings, profile: Profile) -> AlmaClient:
    """A client for an institution as this run's mode wants it: one that answers from the
    cassettes in replay (the canonical host, no key, no waits), else ``live_client``; a
    configuration error fails the scenario with the institution's name."""
    try:
        if settings.mode == "replay":
            return AlmaClient(
                base_url=REPLAY_BASE_URL, api_key="replay", backoff=0, rate_per_second=None
            )
        return live_client(config, profile)
    except AlmaConfigError as exc:
        pytest.fail(f"{profile.name}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def alma_client(
    pytestconfig: pytest.Config, alma_settings: Settings, alma_institution: Profile
) -> Iterator[AlmaClient]:
    """One client per institution for the whole run (its GET cache spans the session)."""
    name = alma_institution.name
    client = run_client(pytestconfig, alma_settings, alma_institution)
    clients = clients_of(pytestconfig)
    clients.open[name] = client
    clients.gates[name] = guarded(client)
    for hook in clients.on_new:
        hook(client)
    yield client
    add_spent(pytestconfig, name, client)
    client.close()


@pytest.fixture
def alma(alma_settings: Settings, alma_client: AlmaClient) -> AlmaClient:
    """The institution's Alma client for this scenario.

    When cassettes are involved the GET cache starts empty for each scenario, so every
    cassette holds all that its scenario reads and replays on its own.
    """
    if alma_settings.mode != "live":
        alma_client.clear_cache()
    return alma_client
