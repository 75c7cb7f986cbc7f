"""Before any scenario of a live or record run: can Alma be used as configured?

One call per API area and institution: the gateway answers as Alma, the key has each area
the selection needs (read/write where @writes scenarios write to a sandbox), and Alma's
daily allowance still covers the selection. Anything wrong stops the run on one screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from alma_p2p.alma import (
    AlmaClient,
    AlmaConfigError,
    AlmaError,
    AlmaTransportError,
    AlmaUnauthorized,
    NotAnAlmaGateway,
)
from alma_p2p.alma.gateway import ANALYTICS_PROBE, READ_PROBES, WRITE_PROBES
from alma_p2p.plugin.clients import live_client
from alma_p2p.plugin.run import institution_of, run_of
from alma_p2p.profile import Profile
from alma_p2p.settings import api_key_variable

# Calls a scenario may need, at most: the live demo measures under 3 on average; the rest
# leaves room for status polls and retries.
CALLS_PER_SCENARIO = 6


@dataclass
class Preflight:
    """Calls spent on preflight, per institution (the summary adds them to the run's)."""

    calls: dict[str, int] = field(default_factory=dict)


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
        if name is not None:
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


def _preflight(config: pytest.Config, profile: Profile, items: list[pytest.Item]) -> list[str]:
    scenarios = len(items)
    writing = [i for i in items if i.get_closest_marker("writes")]
    try:
        # Short timeout and few attempts: a wrong address should fail fast.
        client = live_client(config, profile, timeout=15.0, max_attempts=2)
    except AlmaConfigError as exc:
        return [f"{profile.name}: {exc}"]
    problems = []
    probes = READ_PROBES + ((ANALYTICS_PROBE,) if profile.analytics else ())
    with client:
        for probe in probes:
            try:
                client.get_json(probe.path)
            except (NotAnAlmaGateway, AlmaTransportError) as exc:
                return [f"{profile.name}: {exc}"]  # no point asking the other areas
            except AlmaUnauthorized:
                problems.append(
                    f"{profile.name}: the API key lacks the '{probe.area}' API area (read) for "
                    "this environment; add it in the Developer Network (Manage API Keys)"
                )
            except AlmaError as exc:
                problems.append(f"{profile.name}: {exc}")
        if writing and not problems:
            problems += _write_permissions(client, profile, writing)
        left, needed = client.stats.remaining, (scenarios + 1) * CALLS_PER_SCENARIO
        preflight_of(config).calls[profile.name] = client.stats.calls
    if not problems and left is not None and left < needed:
        problems.append(
            f"{profile.name}: Alma reports {left} API calls left today (X-Exl-Api-Remaining) "
            f"and {scenarios} selected scenarios may need up to {needed}. The allowance is "
            "shared with production and every other integration and starts again at midnight: "
            "run later, or select fewer scenarios (-k, -m, --institution)"
        )
    return problems


def _write_permissions(
    client: AlmaClient, profile: Profile, writing: list[pytest.Item]
) -> list[str]:
    """Read/write in the areas the selected @writes scenarios create things in (a sandbox only:
    elsewhere those scenarios are refused anyway)."""
    try:
        if not client.general().is_sandbox:
            return []
    except AlmaError as exc:
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
            problems.append(f"{profile.name}: {exc}")
    return problems
