"""Before any scenario of a live or record run: can Alma be used as configured?

One call per API area and institution: the gateway answers as Alma, the key belongs to the
profile's institution (``/conf/general``), the key has each area the selection needs
(read/write where @writes scenarios write to a sandbox), and Alma's daily allowance still
covers the selection. Anything wrong stops the run on one screen, before any write.

Preflight retries like any read. An institution whose Alma still does not answer (or keeps
answering 5xx or 429) is not a configuration fault: its scenarios that ask Alma end as
*error (Alma unreachable)* without a call, and the other institutions run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from alma_p2p.alma import (
    AlmaClient,
    AlmaConfigError,
    AlmaError,
    AlmaRateLimited,
    AlmaServerError,
    AlmaTransportError,
    AlmaUnauthorized,
    NotAnAlmaGateway,
)
from alma_p2p.alma.errors import AlmaDailyLimitReached, AlmaUnreachable
from alma_p2p.alma.gateway import ANALYTICS_PROBE, READ_PROBES, WRITE_PROBES
from alma_p2p.plugin.clients import live_client
from alma_p2p.plugin.deal import owns
from alma_p2p.plugin.run import institution_of, run_of
from alma_p2p.plugin.scenario import scenario_of
from alma_p2p.profile import PROFILE_FILE, Profile
from alma_p2p.settings import api_key_variable

# Calls a scenario may need, at most: the live demo measures under 3 on average; the rest
# leaves room for status polls and retries.
CALLS_PER_SCENARIO = 6


@dataclass
class Preflight:
    """Calls spent on preflight, per institution (the summary adds them to the run's), and
    the institutions whose Alma did not answer it (with the reason, one line)."""

    calls: dict[str, int] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)


class _Unreachable(Exception):
    """Preflight could not reach an institution's Alma (after the client's retries)."""


PREFLIGHT = pytest.StashKey[Preflight]()


def preflight_of(config: pytest.Config) -> Preflight:
    return config.stash.setdefault(PREFLIGHT, Preflight())


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    run = run_of(config)
    if run.settings.mode == "replay" or run.profiles is None:
        return
    missing = [n for n in run.profiles if not run.settings.api_key_for(n)]
    if missing:
        names = ", ".join(api_key_variable(n) for n in missing)
        pytest.exit(
            f"--alma-mode={run.settings.mode} needs an Alma API key for {', '.join(missing)}: "
            f"set ALMA_API_KEY (or {names}) in the environment or in .env",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    per_institution: dict[str, list[pytest.Item]] = {}
    for item in session.items:
        name = institution_of(item)
        # Under pytest -n, each worker asks only the Almas of the institutions it runs.
        if name is not None and owns(config, name):
            per_institution.setdefault(name, []).append(item)
    problems = [
        p
        for name, items in sorted(per_institution.items())
        for p in _preflight(config, run.profiles[name], items)
    ]
    if problems:
        pytest.exit(
            "Alma cannot be used as configured; nothing was run:\n"
            + "\n".join(f"  - {p}" for p in problems),
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


class _Refusing(httpx.BaseTransport):
    """The transport of an institution whose Alma did not answer preflight: sends nothing."""

    def __init__(self, institution: str, cause: str) -> None:
        self._error = (institution, cause)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise _not_asked(*self._error)


@pytest.hookimpl(tryfirst=True)
def pytest_alma_transport(config: pytest.Config, institution: str) -> httpx.BaseTransport | None:
    """No call at all to an Alma that did not answer preflight (the sandbox guard's read of a
    @writes scenario included): each fails at once as unreachable."""
    cause = preflight_of(config).unreachable.get(institution)
    return _Refusing(institution, cause) if cause is not None else None


@pytest.hookimpl(trylast=True)
def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    """A scenario that asks Alma, at an institution whose Alma did not answer preflight,
    ends at once as *error (Alma unreachable)*, without a call."""
    found = scenario_of(request.node)
    if found is None or not found.asks_alma:
        return
    cause = preflight_of(request.config).unreachable.get(found.institution)
    if cause is not None:
        raise _not_asked(found.institution, cause)


def _not_asked(institution: str, cause: str) -> BaseException:
    """``AlmaUnreachable``, raised as pytest shows a ``pytest.fail(pytrace=False)``: its one
    line, not a traceback of the harness's internals (``results.unreachable`` reads the
    cause)."""
    error = AlmaUnreachable(institution, cause)
    failure = pytest.fail.Exception(str(error), pytrace=False)
    failure.__cause__ = error
    return failure


def _preflight(config: pytest.Config, profile: Profile, items: list[pytest.Item]) -> list[str]:
    try:
        # A short timeout, and the retries of any read: a busy Alma is not a wrong address.
        client = live_client(config, profile, timeout=15.0)
    except AlmaConfigError as exc:
        return [f"{profile.name}: {exc}"]
    with client:
        try:
            return _probe(client, profile, items)
        except _Unreachable as exc:
            preflight_of(config).unreachable[profile.name] = str(exc)
            return []
        finally:
            preflight_of(config).calls[profile.name] = client.stats.calls


def _probe(client: AlmaClient, profile: Profile, items: list[pytest.Item]) -> list[str]:
    scenarios = len(items)
    writing = [i for i in items if i.get_closest_marker("writes")]
    problems = []
    probes = READ_PROBES + ((ANALYTICS_PROBE,) if profile.analytics else ())
    for probe in probes:
        try:
            if probe.path == "/conf/general":
                client.get_json(probe.path)
                reached = client.institution_code(profile.institution.code)
                wrong = _other_institution(profile, reached)
                if wrong:
                    return [wrong]  # nothing more is asked of another institution's Alma
            else:
                # UNVERIFIED(gateway.probe_body_format): JSON, XML or a plain-text OK; only
                # the status says whether the key may use the area, so the body is not read.
                client.get_text(probe.path, accept="application/json")
        except NotAnAlmaGateway as exc:
            return [f"{profile.name}: {exc}"]  # no point asking the other areas
        except AlmaUnauthorized:
            problems.append(
                f"{profile.name}: the API key lacks the '{probe.area}' API area (read) for "
                "this environment; add it in the Developer Network (Manage API Keys)"
            )
        except AlmaError as exc:
            _raise_if_transient(exc)
            problems.append(f"{profile.name}: {exc}")
    if writing and not problems:
        problems += _write_permissions(client, profile, writing)
    left, needed = client.stats.remaining, (scenarios + 1) * CALLS_PER_SCENARIO
    if not problems and left is not None and left < needed:
        problems.append(
            f"{profile.name}: Alma reports {left} API calls left today (X-Exl-Api-Remaining) "
            f"and {scenarios} selected scenarios may need up to {needed}. The allowance is "
            "shared with production and every other integration and starts again at midnight: "
            "run later, or select fewer scenarios (-k, -m, --institution)"
        )
    return problems


def _raise_if_transient(exc: AlmaError) -> None:
    """Alma did not answer, or answered that it is down or busy, after the retries."""
    if isinstance(exc, AlmaDailyLimitReached):
        return
    if isinstance(exc, AlmaTransportError | AlmaServerError | AlmaRateLimited):
        raise _Unreachable(" ".join(str(exc).split())) from exc


def _other_institution(profile: Profile, code: str | None) -> str | None:
    """A problem when the key reaches another institution than the profile's (``code``, as
    ``AlmaClient.institution_code`` reads it: UNVERIFIED(gateway.general_institution_code)).
    """
    expected = profile.institution.code
    variable = api_key_variable(profile.name)
    where = f"{profile.name}/{PROFILE_FILE}"
    if not code:
        return (
            f"{profile.name}: Alma's /conf/general did not say which institution the API key "
            f"belongs to, so the harness cannot check it is {expected} (institution.code in "
            f"{where}); nothing was sent. Check the key in {variable} (or ALMA_API_KEY) in the "
            "Developer Network (Manage API Keys)"
        )
    if str(code).strip().upper() == expected.upper():
        return None
    return (
        f"{profile.name}: the API key belongs to institution {code}, but the profile is for "
        f"{expected} (institution.code in {where}); nothing was sent, so nothing was written "
        f"to {code}. Set {variable} (or ALMA_API_KEY) to a key of {expected}'s sandbox, or "
        f"correct institution.code in the profile"
    )


def _write_permissions(
    client: AlmaClient, profile: Profile, writing: list[pytest.Item]
) -> list[str]:
    """Read/write in the areas the selected @writes scenarios create things in (a sandbox only:
    elsewhere those scenarios are refused anyway)."""
    try:
        if not client.general().is_sandbox:
            return []
    except AlmaError as exc:
        _raise_if_transient(exc)
        return [f"{profile.name}: {exc}"]
    problems = []
    for kind, probe in WRITE_PROBES.items():
        if not any(item.get_closest_marker(kind) for item in writing):
            continue
        try:
            client.check_write_permission(probe.path)
        except AlmaUnauthorized:
            problems.append(
                f"{profile.name}: the API key may read but not write in the '{probe.area}' API "
                f"area; the {kind} scenarios create requests in the sandbox. Give the key "
                f"read/write for '{probe.area}' (Sandbox) in the Developer Network (Manage API "
                "Keys), or leave those scenarios out with -m 'not writes'"
            )
        except AlmaError as exc:
            _raise_if_transient(exc)
            problems.append(f"{profile.name}: {exc}")
    return problems
