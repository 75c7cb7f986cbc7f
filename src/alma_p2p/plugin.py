"""The pytest plugin: options, fixtures, markers, and the cassette around each scenario.

Every test that uses the ``alma_institution`` fixture (the scenario binding module asks for
it) runs once per selected institution, with the institution's name as its test id. In
``replay`` mode each scenario runs inside its own cassette
(``cassettes/<institution>/<feature>/<scenario>.yaml``) with the network blocked; in
``record`` mode the cassette is written next to the old one and replaces it only when the
scenario passes; in ``live`` mode nothing is recorded.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from vcr.errors import CannotOverwriteExistingCassetteException

from alma_p2p import __version__
from alma_p2p.alma import (
    AlmaClient,
    AlmaConfigError,
    AlmaError,
    AlmaTransportError,
    AlmaUnauthorized,
    NotAnAlmaGateway,
    build_base_url,
)
from alma_p2p.attestations import ATTESTATIONS_FILE, Attestations, load_attestations
from alma_p2p.guide import GUIDE, TAG_PREFIX
from alma_p2p.ledger import Ledger
from alma_p2p.payloads import TestData
from alma_p2p.profile import Profile, ProfileError, load_profiles
from alma_p2p.recording import (
    REPLAY_BASE_URL,
    canonical_uri,
    cassette_path,
    make_vcr,
    read_metadata,
    redacted_exchange,
    write_metadata,
)
from alma_p2p.report import Readiness, ScenarioResult, verdict_of, write_reports
from alma_p2p.settings import Settings, SettingsError, api_key_variable, load_settings
from alma_p2p.writes import WriteGate, WriteSession, guarded

MARKERS = {
    "multi_library": "applies only to institutions with several resource sharing libraries",
    "single_library": "applies only to institutions with one resource sharing library",
    "borrowing": "needs the profile's borrowing section",
    "lending": "needs the profile's lending section",
    "writes": "creates records in Alma: runs only against a sandbox, cleans up after itself",
    "api": "a configuration item read through Alma's API",
    "behaviour": "a configuration item proven by how Alma behaves",
    "manual": "a configuration item Alma's API cannot read: a checklist line",
    "analytics": "a configuration item read through an Alma Analytics report",
    **{f"{TAG_PREFIX}{item.id}": f"proves the guide item '{item.title}'" for item in GUIDE},
}


@dataclass
class _RunState:
    config: pytest.Config
    settings: Settings
    profiles: dict[str, Profile] | None = None
    clients: dict[str, AlmaClient] = field(default_factory=dict)
    recorded: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)
    not_applicable: dict[str, int] = field(default_factory=dict)
    attestations: dict[str, Attestations] = field(default_factory=dict)
    results: list[ScenarioResult] = field(default_factory=list)
    not_applicable_items: set[tuple[str, str]] = field(default_factory=set)
    reports: list[Path] = field(default_factory=list)
    run_token: str = ""
    ledger: Ledger | None = None
    calls: dict[str, tuple[int, int, int, int | None]] = field(default_factory=dict)
    probes: dict[str, int] = field(default_factory=dict)  # preflight calls per institution
    gates: dict[str, WriteGate] = field(default_factory=dict)


STATE = pytest.StashKey[_RunState]()
SCENARIO = pytest.StashKey[tuple[str, str, Path]]()
FEATURE = pytest.StashKey[str]()
EVIDENCE = pytest.StashKey[list[str]]()
REPORT = pytest.StashKey[pytest.TestReport]()
WRITES = pytest.StashKey[WriteSession]()


class NetworkBlocked(OSError):
    """A connection attempted while replaying cassettes."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from alma_p2p import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alma", "Alma peer-to-peer acceptance harness")
    group.addoption(
        "--alma-mode",
        choices=("replay", "live", "record"),
        default=None,
        help="replay cassettes (default), run live against Alma, or record cassettes. "
        "Env: ALMA_MODE",
    )
    group.addoption(
        "--institution",
        action="append",
        default=None,
        metavar="NAME",
        help="run for this institution profile only (repeatable; default: every profile). "
        "Env: ALMA_INSTITUTIONS=a,b",
    )
    group.addoption(
        "--alma-base-url",
        default=None,
        help="Alma API gateway, overriding the profile's region. Env: ALMA_BASE_URL",
    )
    group.addoption(
        "--alma-rate",
        type=float,
        default=None,
        help="calls per second (default 10). Env: ALMA_RATE",
    )
    group.addoption(
        "--alma-timeout",
        type=float,
        default=None,
        help="seconds to wait for an answer (default 30). Env: ALMA_TIMEOUT",
    )
    group.addoption(
        "--profiles-dir", default=None, help="institution profiles. Env: ALMA_PROFILES_DIR"
    )
    group.addoption(
        "--cassettes-dir", default=None, help="cassette folder. Env: ALMA_CASSETTES_DIR"
    )
    group.addoption(
        "--alma-ledger",
        default=None,
        help="record of what runs created in Alma (default .alma-p2p/ledger.jsonl). "
        "Env: ALMA_LEDGER",
    )
    group.addoption(
        "--alma-report-dir",
        default=None,
        help="where the readiness report is written (default reports). Env: ALMA_REPORT_DIR",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    opt = config.getoption
    try:
        settings = load_settings(
            mode=opt("--alma-mode"),
            institutions=tuple(opt("--institution") or ()) or None,
            base_url=opt("--alma-base-url"),
            rate=opt("--alma-rate"),
            timeout=opt("--alma-timeout"),
            profiles_dir=_rooted(config, opt("--profiles-dir")),
            cassettes_dir=_rooted(config, opt("--cassettes-dir")),
            report_dir=_rooted(config, opt("--alma-report-dir")),
            ledger=_rooted(config, opt("--alma-ledger")),
        )
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
    folders = ("profiles_dir", "cassettes_dir", "report_dir", "ledger")
    settings = settings.model_copy(
        update={
            name: config.rootpath / getattr(settings, name)
            for name in folders
            if not getattr(settings, name).is_absolute()
        }
    )
    state = config.stash[STATE] = _RunState(config, settings, run_token=_run_token(settings))
    if settings.mode != "replay":
        state.ledger = Ledger(settings.ledger)
    # Profiles are checked up front, so a broken one is a one-screen usage error; a run
    # without a profiles folder (the harness's own tests) loads them only if asked to.
    if settings.institutions or settings.profiles_dir.is_dir():
        try:
            state.profiles = load_profiles(settings.profiles_dir, settings.institutions)
            state.attestations = {
                name: load_attestations(settings.profiles_dir / name / ATTESTATIONS_FILE)
                for name in state.profiles
            }
        except ProfileError as exc:
            raise pytest.UsageError(str(exc)) from None


def _run_token(settings: Settings) -> str:
    """Part of every external_id: fixed when cassettes are involved (so bodies match on
    replay), unique per run when live (so leftovers of two runs never mix)."""
    if settings.mode == "live":
        return "L" + datetime.now(UTC).strftime("%y%m%d%H%M%S")
    return "REC"


def _rooted(config: pytest.Config, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    return path if path.is_absolute() else Path(config.invocation_params.dir) / path


def _state(config: pytest.Config) -> _RunState:
    return config.stash[STATE]


def _profiles(config: pytest.Config) -> dict[str, Profile]:
    state = _state(config)
    if state.profiles is None:
        try:
            state.profiles = load_profiles(state.settings.profiles_dir, state.settings.institutions)
        except ProfileError as exc:
            raise pytest.UsageError(str(exc)) from None
    return state.profiles


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "alma_institution" in metafunc.fixturenames:
        names = list(_profiles(metafunc.config))
        metafunc.parametrize("alma_institution", names, ids=names, indirect=True, scope="session")


def pytest_collection_finish(session: pytest.Session) -> None:
    state = _state(session.config)
    if state.settings.mode == "replay" or state.profiles is None:
        return
    missing = [n for n in state.profiles if not state.settings.api_key_for(n)]
    if missing:
        names = ", ".join(api_key_variable(n) for n in missing)
        pytest.exit(
            f"--alma-mode={state.settings.mode} needs an Alma API key for {', '.join(missing)}: "
            f"set ALMA_API_KEY (or {names}) in the environment or in .env",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    per_institution: dict[str, list[pytest.Item]] = {}
    for item in session.items:
        if hasattr(item, "callspec") and "alma_institution" in item.callspec.params:
            name = str(item.callspec.params["alma_institution"])
            per_institution.setdefault(name, []).append(item)
    problems = [
        p
        for name, items in sorted(per_institution.items())
        for p in _preflight(state, state.profiles[name], items)
    ]
    if problems:
        pytest.exit(
            "Alma cannot be used as configured; nothing was run:\n"
            + "\n".join(f"  - {p}" for p in problems),
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


# The areas every run reads, with the cheap probe Alma offers for each (alma-api.md §1.2).
PROBES = (
    ("Configuration", "/conf/general"),
    ("Users", "/users/operation/test"),
    ("Resource Sharing Partners", "/partners/operation/test"),
    ("Task-lists", "/task-lists/test"),
)


# What @writes scenarios of each kind create, and the area that needs read/write for it.
WRITE_PROBES = (
    ("borrowing", "Users", "/users/operation/test"),  # borrowing requests under /users
    ("lending", "Resource Sharing Partners", "/partners/operation/test"),  # lending requests
)

# Calls a scenario may need, at most: the live demo measures under 3 on average; the rest
# leaves room for status polls and retries.
CALLS_PER_SCENARIO = 6


def _preflight(state: _RunState, profile: Profile, items: list[pytest.Item]) -> list[str]:
    """One call per API area before any scenario: the gateway, the key and its areas (with
    write permission where selected scenarios write to a sandbox), and whether Alma's daily
    call allowance still covers the selected scenarios."""
    scenarios = len(items)
    writing = [i for i in items if i.get_closest_marker("writes")]
    try:
        # Short timeout and few attempts: a wrong address should fail fast.
        client = _alma_for(state, profile, timeout=15.0, max_attempts=2)
    except AlmaConfigError as exc:
        return [f"{profile.name}: {exc}"]
    problems = []
    probes = PROBES + ((("Analytics", "/analytics/test"),) if profile.analytics else ())
    with client:
        for area, path in probes:
            try:
                client.get_json(path)
            except (NotAnAlmaGateway, AlmaTransportError) as exc:
                return [f"{profile.name}: {exc}"]  # no point asking the other areas
            except AlmaUnauthorized:
                problems.append(
                    f"{profile.name}: the API key lacks the '{area}' API area (read) for this "
                    "environment; add it in the Developer Network (Manage API Keys)"
                )
            except AlmaError as exc:
                problems.append(f"{profile.name}: {exc}")
        if writing and not problems:
            problems += _write_permissions(client, profile, writing)
        left, needed = client.stats.remaining, (scenarios + 1) * CALLS_PER_SCENARIO
        state.probes[profile.name] = client.stats.calls
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
    for kind, area, path in WRITE_PROBES:
        if not any(item.get_closest_marker(kind) for item in writing):
            continue
        try:
            client.check_write_permission(path)
        except AlmaUnauthorized:
            problems.append(
                f"{profile.name}: the API key may read but not write in the '{area}' API area; "
                f"the {kind} scenarios create requests in the sandbox. Give the key read/write "
                f"for '{area}' (Sandbox) in the Developer Network (Manage API Keys), or leave "
                "those scenarios out with -m 'not writes'"
            )
        except AlmaError as exc:
            problems.append(f"{profile.name}: {exc}")
    return problems


def not_applicable(item: pytest.Item, profile: Profile) -> str | None:
    """Why a scenario does not apply to an institution (None: it applies)."""
    if item.get_closest_marker("multi_library") and not profile.multi_library:
        return "one resource sharing library"
    if item.get_closest_marker("single_library") and profile.multi_library:
        return "several resource sharing libraries"
    if item.get_closest_marker("borrowing") and profile.borrowing is None:
        return "no borrowing section in the profile"
    if item.get_closest_marker("lending") and profile.lending is None:
        return "no lending section in the profile"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out scenario/institution pairs that do not apply; say why in the summary."""
    state = config.stash.get(STATE, None)
    if state is None or state.profiles is None:
        return
    keep, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = str(callspec.params.get("alma_institution")) if callspec else ""
        reason = not_applicable(item, state.profiles[name]) if name in state.profiles else None
        if reason is None:
            keep.append(item)
        else:
            dropped.append(item)
            state.not_applicable_items.update(
                (name, m.name.removeprefix(TAG_PREFIX))
                for m in item.iter_markers()
                if m.name.startswith(TAG_PREFIX)
            )
            state.not_applicable[f"{name}: {reason}"] = (
                state.not_applicable.get(f"{name}: {reason}", 0) + 1
            )
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        item.stash[REPORT] = report
        _collect(item, report)
    return report


def _collect(item: pytest.Item, report: pytest.TestReport) -> None:
    scenario = item.stash.get(SCENARIO, None)
    state = item.config.stash.get(STATE, None)
    if scenario is None or state is None:
        return
    names = {m.name for m in item.iter_markers()}
    empty: list[str] = []
    evidence = item.stash.get(EVIDENCE, empty)
    if report.skipped and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).removeprefix("Skipped: ")
    else:
        message = report.longreprtext if report.failed else ""
    state.results.append(
        ScenarioResult(
            institution=scenario[0],
            feature=item.stash.get(FEATURE, ""),
            scenario=scenario[1],
            guide_items=tuple(
                sorted(n.removeprefix(TAG_PREFIX) for n in names if n.startswith(TAG_PREFIX))
            ),
            kinds=tuple(sorted(names & {"api", "behaviour", "manual", "analytics"})),
            verdict=verdict_of(report.outcome, message),
            message=message,
            evidence=list(evidence),
        )
    )


def _allure_dir(config: pytest.Config) -> Path | None:
    value = getattr(config.option, "allure_report_dir", None)
    return Path(value) if value else None


def _attach_to_allure(response: httpx.Response) -> None:
    import allure

    request = response.request
    allure.attach(
        redacted_exchange(request.method, str(request.url), response.status_code, response.content),
        name=f"Alma: {request.method} {request.url.path.split('/almaws/v1', 1)[-1]}",
        attachment_type=allure.attachment_type.TEXT,
    )


ALLURE_CATEGORIES = [
    {
        "name": "Institution configuration fault",
        "description": "Alma answered, and what it says is configured differs from the profile",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s).*(Configuration >|Fulfillment >|fix it in Alma|expected ).*",
    },
    {
        "name": "Alma contract change",
        "description": "Alma's answer no longer has the shape the harness relies on",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r"(?s).*(contract|Replay miss).*",
    },
    {
        "name": "Harness or environment error",
        "description": "The harness could not ask Alma (settings, network, key, a bug)",
        "matchedStatuses": ["broken", "failed"],
    },
]


def _write_allure_extras(state: _RunState, folder: Path) -> None:
    assert state.profiles is not None
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"mode={state.settings.mode}",
        f"institutions={','.join(state.profiles)}",
        f"harness.version={__version__}",
    ]
    for name, profile in state.profiles.items():
        lines.append(f"{name}.region={profile.institution.region}")
        meta = read_metadata(state.settings.cassettes_dir / name)
        if state.settings.mode == "replay" and meta.get("recorded_on"):
            lines.append(f"{name}.cassettes.recorded_on={meta['recorded_on']}")
    (folder / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "categories.json").write_text(json.dumps(ALLURE_CATEGORIES, indent=2), "utf-8")


def _write_metadata(state: _RunState) -> None:
    assert state.profiles is not None
    recorded = {r.institution for r in state.results}
    for name in sorted(recorded):
        profile = state.profiles[name]
        write_metadata(
            state.settings.cassettes_dir / name,
            {
                "institution": name,
                "institution_code": profile.institution.code,
                "region": profile.institution.region,
                "gateway": "ALMA_BASE_URL" if state.settings.base_url else "region gateway",
                "recorded_on": datetime.now(UTC).date().isoformat(),
                "harness_version": __version__,
            },
        )


def _stale_cassettes(state: _RunState) -> list[str]:
    """Warnings for cassettes older than the sandbox refresh or the configured age."""
    assert state.profiles is not None
    warnings = []
    today = datetime.now(UTC).date()
    for name, profile in state.profiles.items():
        meta = read_metadata(state.settings.cassettes_dir / name)
        if not meta.get("recorded_on"):
            continue
        recorded = date.fromisoformat(str(meta["recorded_on"]))
        refreshed = profile.institution.sandbox_refreshed
        age = (today - recorded).days
        if refreshed is not None and recorded < refreshed:
            why = f"before the sandbox refresh of {refreshed}"
        elif age > state.settings.cassette_max_age_days:
            limit = state.settings.cassette_max_age_days
            why = f"{age} days ago (ALMA_CASSETTE_MAX_AGE_DAYS={limit})"
        else:
            continue
        warnings.append(
            f"cassettes of {name} were recorded on {recorded}, {why}: they may no longer show "
            f"what Alma does; re-record with make record ARGS='--institution {name}'"
        )
    return warnings


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or not state.results or state.profiles is None:
        return
    if state.settings.mode == "record":
        _write_metadata(state)
    allure_dir = _allure_dir(session.config)
    if allure_dir is not None:
        _write_allure_extras(state, allure_dir)
    readiness = Readiness(
        sorted({r.institution for r in state.results}),
        state.results,
        state.not_applicable_items,
    )
    state.reports = write_reports(readiness, state.settings.report_dir, state.settings.mode)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    try:
        return (yield)
    except CannotOverwriteExistingCassetteException as exc:
        pytest.fail(_replay_miss(item, exc), pytrace=False)


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def alma_settings(pytestconfig: pytest.Config) -> Settings:
    """The run's frozen settings."""
    return _state(pytestconfig).settings


@pytest.fixture(scope="session")
def alma_institution(request: pytest.FixtureRequest) -> Profile:
    """The institution profile this test runs for (one test per selected institution)."""
    return _profiles(request.config)[request.param]


def _alma_for(
    state: _RunState, profile: Profile, timeout: float | None = None, max_attempts: int = 4
) -> AlmaClient:
    """A client for an institution's real (or stand-in) Alma, as the settings say."""
    settings = state.settings
    transport = state.config.hook.pytest_alma_transport(
        config=state.config, institution=profile.name
    )
    return AlmaClient(
        transport=transport,
        base_url=settings.base_url or build_base_url(region=profile.institution.region),
        api_key=settings.api_key_for(profile.name) or "",
        rate_per_second=settings.rate,
        timeout=min(settings.timeout, timeout) if timeout else settings.timeout,
        max_attempts=max_attempts,
    )


@pytest.fixture(scope="session")
def alma_client(
    pytestconfig: pytest.Config, alma_settings: Settings, alma_institution: Profile
) -> Iterator[AlmaClient]:
    """One client per institution for the whole run (its GET cache spans the session)."""
    name = alma_institution.name
    try:
        if alma_settings.mode == "replay":
            client = AlmaClient(
                base_url=REPLAY_BASE_URL, api_key="replay", backoff=0, rate_per_second=None
            )
        else:
            client = _alma_for(_state(pytestconfig), alma_institution)
    except AlmaConfigError as exc:
        pytest.fail(f"{name}: {exc}", pytrace=False)
    state = _state(pytestconfig)
    state.clients[name] = client
    if _allure_dir(pytestconfig) is not None:
        client.on_response(_attach_to_allure)
    state.gates[name] = guarded(client)
    yield client
    stats = client.stats
    _state(pytestconfig).calls[name] = (
        stats.calls,
        stats.gets,
        len(stats.distinct_gets),
        stats.remaining,
    )
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


@pytest.fixture
def alma_evidence(request: pytest.FixtureRequest) -> list[str]:
    """Values read from Alma that a Then step shows in the readiness report."""
    evidence: list[str] = []
    request.node.stash[EVIDENCE] = evidence
    return evidence


@pytest.fixture(scope="session")
def alma_attestations(pytestconfig: pytest.Config, alma_institution: Profile) -> Attestations:
    """Who checked the institution's manual items, and when."""
    return _state(pytestconfig).attestations.get(alma_institution.name, Attestations([]))


@pytest.fixture
def alma_test_data(request: pytest.FixtureRequest, alma_institution: Profile) -> TestData:
    """Generated titles and external ids, stable for this scenario at this institution."""
    name = getattr(request.node, "originalname", request.node.name)
    return TestData(_state(request.config).run_token, f"{alma_institution.name}::{name}")


# -- the cassette around each scenario ---------------------------------------------


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    if "alma_institution" not in request.fixturenames:
        return
    state = _state(request.config)
    settings = state.settings
    institution = request.getfixturevalue("alma_institution").name
    base = Path(str(request.config.rootpath / (request.config.getini("bdd_features_base_dir"))))
    rel = os.path.relpath(feature.filename, base)
    path = cassette_path(settings.cassettes_dir, institution, rel, scenario.name)
    request.node.stash[SCENARIO] = (institution, scenario.name, path)
    request.node.stash[FEATURE] = feature.name
    tags = set(scenario.tags) | set(feature.tags)
    profile = request.getfixturevalue("alma_institution")
    if "manual" in tags or ("analytics" in tags and not _has_report(profile, tags)):
        return  # a person's check: no Alma call, no cassette
    if settings.mode == "live":
        if "writes" in set(scenario.tags) | set(feature.tags):
            _guard_writes(request, state, institution)
        return
    if settings.mode == "replay":
        if not path.is_file():
            pytest.fail(_missing_cassette(request.node, feature, scenario, path), pytrace=False)
        context = _replaying(path)
    else:
        context = _recording(state, request.node, path)
    context.__enter__()
    request.addfinalizer(lambda: context.__exit__(None, None, None))
    if "writes" in set(scenario.tags) | set(feature.tags):
        _guard_writes(request, state, institution)


def _has_report(profile: Profile, tags: set[str]) -> bool:
    items = {t.removeprefix(TAG_PREFIX) for t in tags if t.startswith(TAG_PREFIX)}
    return any(item in profile.analytics for item in items)


def _guard_writes(request: pytest.FixtureRequest, state: _RunState, institution: str) -> None:
    """Let a @writes scenario write only to a sandbox, and undo its writes afterwards."""
    client: AlmaClient = request.getfixturevalue("alma_client")
    general = client.general()
    if not general.is_sandbox:
        pytest.skip(
            f"refused to write: Alma reports environment_type={general.environment_type!r} "
            f"for {general.institution.value or institution}; scenarios that create requests "
            "run only against a sandbox (use a sandbox API key)"
        )
    session = WriteSession(
        client,
        state.gates[institution],
        institution,
        ledger=state.ledger,
        run_token=state.run_token,
    )
    request.node.stash[WRITES] = session

    def cleanup() -> None:
        report = session.close()
        if state.settings.mode != "replay":  # on replay nothing real was created
            state.left_behind.extend(f"{institution}: {line}" for line in report.left)

    request.addfinalizer(cleanup)


@pytest.fixture
def alma_writes(request: pytest.FixtureRequest) -> WriteSession:
    """The write session of a @writes scenario: creates through it are ledgered and undone."""
    session: WriteSession | None = request.node.stash.get(WRITES, None)
    if session is None:
        pytest.fail("alma_writes is only available in scenarios tagged @writes", pytrace=False)
    return session


@contextmanager
def _replaying(path: Path) -> Iterator[None]:
    recorder = make_vcr(record=False)
    with recorder.use_cassette(str(path)), _network_blocked():
        yield


@contextmanager
def _recording(state: _RunState, node: pytest.Item, path: Path) -> Iterator[None]:
    draft = path.with_name(path.stem + ".recording.yaml")
    draft.unlink(missing_ok=True)
    draft.parent.mkdir(parents=True, exist_ok=True)
    recorder = make_vcr(record=True)
    try:
        with recorder.use_cassette(str(draft)):
            yield
    finally:
        report = node.stash.get(REPORT, None)
        shown = _shown(node.config, path)
        passed = report is not None and report.passed
        if draft.is_file() and (passed or not path.exists()):
            # A failing scenario's recording only fills an empty place (a drift run into a
            # fresh folder); it never replaces a cassette that replays green.
            draft.replace(path)
            state.recorded.append(shown if passed else f"{shown} (scenario failed)")
        else:
            draft.unlink(missing_ok=True)
            if not passed:
                state.kept.append(shown)


@contextmanager
def _network_blocked() -> Iterator[None]:
    """Refuse every socket connection while replaying (pytest-recording's block_network)."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(_sock: socket.socket, address: Any) -> Any:
        raise NetworkBlocked(
            f"network access to {address!r} while replaying cassettes; "
            "use --alma-mode=live or --alma-mode=record to reach Alma"
        )

    socket.socket.connect = refuse  # type: ignore[assignment,method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[assignment,method-assign]
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]


# -- messages -----------------------------------------------------------------------


def _record_command(node: pytest.Item, institution: str) -> str:
    name = getattr(node, "originalname", node.name)
    return (
        "ALMA_API_KEY=… .venv/bin/pytest steps --alma-mode=record "
        f"--institution {shlex.quote(institution)} -k {shlex.quote(name)}"
    )


def _shown(config: pytest.Config, path: Path) -> str:
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)


def _missing_cassette(node: pytest.Item, feature: Any, scenario: Any, path: Path) -> str:
    institution = node.stash[SCENARIO][0]
    return (
        f"No cassette for this scenario at {institution}.\n"
        f"  Feature:  {feature.name} ({feature.rel_filename})\n"
        f"  Scenario: {scenario.name}\n"
        f"  Expected: {_shown(node.config, path)}\n"
        "Record it against your sandbox (or the demo stand-in, see README) with:\n"
        f"  {_record_command(node, institution)}"
    )


def _replay_miss(node: pytest.Item, exc: CannotOverwriteExistingCassetteException) -> str:
    institution, scenario, path = node.stash.get(SCENARIO, ("?", node.name, Path("?")))
    sent = exc.failed_request
    lines = [
        f"Replay miss at {institution}: the scenario sent a request its cassette does not hold.",
        f"  Scenario: {scenario}",
        f"  Cassette: {_shown(node.config, path)}",
        f"  Sent:     {sent.method} {canonical_uri(sent.uri)}",
    ]
    similar = getattr(exc, "similar_requests", None) or []
    if similar:
        nearest, _matched, failed = similar[0]
        lines.append(f"  Nearest:  {nearest.method} {nearest.uri}")
        for matcher, message in failed:
            text = " ".join(str(message).split())
            lines.append(f"    differs in {matcher}: {text[:300]}")
    elif getattr(exc, "reason", "") == "already_played":
        lines.append("  The scenario sent this request more often than when it was recorded.")
    lines += [
        "The scenario or Alma's answers changed since recording. Re-record it with:",
        f"  {_record_command(node, institution)}",
    ]
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.profiles or not (state.clients or state.not_applicable):
        return
    write = terminalreporter.write_line
    terminalreporter.section("Alma harness")
    write(f"mode: {state.settings.mode}; institutions: {', '.join(state.profiles)}")
    if state.settings.mode == "replay":
        for warning in _stale_cassettes(state):
            write(f"WARNING: {warning}")
    for reason, count in sorted(state.not_applicable.items()):
        write(f"not applicable, left out: {count} scenario(s) at {reason}")
    for name, (calls, gets, distinct, remaining) in sorted(state.calls.items()):
        left = f"; Alma reports {remaining} calls left today" if remaining is not None else ""
        spent = "answers replayed" if state.settings.mode == "replay" else "Alma calls"
        probes = state.probes.get(name)
        checked = f" (and {probes} preflight calls)" if probes else ""
        write(
            f"{name}: {calls} {spent} ({gets} GETs, {calls - gets} writes); "
            f"{distinct} distinct resources read{checked}{left}"
        )
    for line in state.left_behind:
        write(f"LEFT IN ALMA: {line}")
    if state.recorded:
        write(f"cassettes written: {len(state.recorded)}")
    for path in state.reports:
        write(f"readiness report: {_shown(config, path)}")
    for shown in state.kept:
        write(f"cassette NOT updated (scenario did not pass): {shown}")
    for shown in state.recorded:
        if shown.endswith("(scenario failed)"):
            write(f"recorded although the scenario failed: {shown}")
