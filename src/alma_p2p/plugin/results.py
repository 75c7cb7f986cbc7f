"""What each scenario said, gathered into the readiness report and Allure's extras.

A scenario's verdict comes from its outcome, or, for a person's check, from the typed
outcome it raised (``alma_p2p.outcomes``): never from the wording of a message.

The report covers what was collected, not only what ran: a scenario that ``-k``, ``-m`` or
``--lf`` left out is *not run (not selected)*, one a stopped run (``-x``, Ctrl-C) never
reached is *not run (run stopped early)*. Under pytest-xdist each worker hands its results
to the controller (``alma_p2p.plugin.workers``), which writes the one report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeGuard

import httpx
import pytest

from alma_p2p import __version__
from alma_p2p.alma import (
    AlmaClient,
    AlmaDailyLimitReached,
    AlmaRateLimited,
    AlmaServerError,
    AlmaTransportError,
)
from alma_p2p.alma.errors import AlmaUnreachable
from alma_p2p.guide import TAG_PREFIX
from alma_p2p.outcomes import Outcome
from alma_p2p.plugin.allure_view import write_config
from alma_p2p.plugin.applicability import left_out_of, not_applicable
from alma_p2p.plugin.clients import clients_of
from alma_p2p.plugin.run import institution_of, run_of
from alma_p2p.plugin.scenario import scenario_of
from alma_p2p.recording import read_metadata, redacted_exchange
from alma_p2p.report import (
    NOT_SELECTED,
    STOPPED_EARLY,
    Readiness,
    RunInfo,
    ScenarioResult,
    verdict_of,
    write_reports,
)

EVIDENCE = pytest.StashKey[list[str]]()


@dataclass
class Results:
    """Every scenario's result, and the report files written from them."""

    scenarios: list[ScenarioResult] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    # By test id: what ran, what the selection left out, what was selected (to run).
    ran: dict[str, ScenarioResult] = field(default_factory=dict)
    not_selected: dict[str, ScenarioResult] = field(default_factory=dict)
    selected: dict[str, ScenarioResult] = field(default_factory=dict)
    stopped: str = ""  # why the run (or a worker of it) stopped early


RESULTS = pytest.StashKey[Results]()


def pytest_configure(config: pytest.Config) -> None:
    if allure_dir(config) is not None:
        clients_of(config).on_new.append(_attach_exchanges)


def results_of(config: pytest.Config) -> Results:
    return config.stash.setdefault(RESULTS, Results())


@pytest.fixture
def alma_evidence(request: pytest.FixtureRequest) -> list[str]:
    """Values read from Alma that a Then step shows in the readiness report."""
    evidence: list[str] = []
    request.node.stash[EVIDENCE] = evidence
    return evidence


# Alma could not be reached (no answer: refused, reset, timeout; or not reachable at
# preflight), or answered that it is down or busy (5xx, its own or a proxy's HTML page; a
# per-second 429), after the client's retries.
UNREACHABLE = (AlmaTransportError, AlmaUnreachable, AlmaServerError, AlmaRateLimited)
UNREACHABLE_LABEL = "Alma unreachable"


def unreachable(raised: BaseException | None) -> TypeGuard[BaseException]:
    """Whether a scenario ended because Alma could not be reached or kept refusing for load
    (after the client's retries): an *error*, never a configuration *fail*. A used-up daily
    allowance is not: waiting will not bring it back, and its message says what to do.
    A scenario not asked for want of Alma fails as ``pytest.fail`` does, caused by
    ``AlmaUnreachable``."""
    if isinstance(raised, pytest.fail.Exception) and raised.__cause__ is not None:
        raised = raised.__cause__
    return isinstance(raised, UNREACHABLE) and not isinstance(raised, AlmaDailyLimitReached)


def unreachable_message(raised: BaseException) -> str:
    """One line: the call and the reason, never a traceback."""
    line = " ".join(str(raised).split())[:400]
    return line if line.startswith(UNREACHABLE_LABEL) else f"{UNREACHABLE_LABEL}: {line}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> pytest.TestReport | None:
    """A scenario that ended because Alma could not be reached is reported with its one line
    at once: pytest's own report would first render (and then we would drop) a traceback
    through the client and httpx, about half a second per scenario when Alma goes down."""
    raised = call.excinfo.value if call.excinfo is not None else None
    if scenario_of(item) is None or not unreachable(raised):
        return None
    return pytest.TestReport(
        item.nodeid,
        item.location,
        dict.fromkeys(item.keywords, 1),
        "failed",
        f"error — {unreachable_message(raised)}",
        call.when,  # type: ignore[arg-type]  # "collect" never reaches an item's hook
        # As pytest's own report has them: what the scenario printed or logged so far.
        [(f"Captured {key} {when}", text) for when, key, text in item._report_sections],
        call.duration,
        call.start,
        call.stop,
        item.user_properties,
    )


def pytest_alma_scenario_ended(
    item: pytest.Item, report: pytest.TestReport, raised: BaseException | None
) -> None:
    scenario = scenario_of(item)
    if scenario is None:
        return
    names = {m.name for m in item.iter_markers()}
    evidence: list[str] = item.stash.get(EVIDENCE, [])
    given = raised.verdict if isinstance(raised, Outcome) else None
    if unreachable(raised):
        given = "error"
        message = unreachable_message(raised)
        # The terminal and JUnit show the verdict and the call, not a traceback: an error
        # of the environment, never read as a configuration failure.
        report.longrepr = f"error — {message}"
    elif report.skipped and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).removeprefix("Skipped: ")
    else:
        message = report.longreprtext if report.failed else ""
    result = ScenarioResult(
        institution=scenario.institution,
        feature=scenario.feature,
        scenario=scenario.name,
        guide_items=_guide_items(names),
        kinds=_kinds(names),
        verdict=verdict_of(report.outcome, given),
        message=message,
        evidence=list(evidence),
    )
    results = results_of(item.config)
    results.scenarios.append(result)
    results.ran[item.nodeid] = result


def _guide_items(names: set[str]) -> tuple[str, ...]:
    return tuple(sorted(n.removeprefix(TAG_PREFIX) for n in names if n.startswith(TAG_PREFIX)))


def _kinds(names: set[str]) -> tuple[str, ...]:
    return tuple(sorted(names & {"api", "behaviour", "manual", "analytics"}))


def _unrun(item: pytest.Item, why: str) -> ScenarioResult | None:
    """What the report says of a collected scenario that did not run (None: not one)."""
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    institution = institution_of(item)
    template = scenario_wrapper_template_registry.get(getattr(item, "obj", None))  # type: ignore[arg-type]
    if institution is None or template is None:
        return None
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example", {}) if callspec is not None else {}
    names = {m.name for m in item.iter_markers()}
    return ScenarioResult(
        institution=institution,
        feature=template.feature.name,
        scenario=template.render(example).name,
        guide_items=_guide_items(names),
        kinds=_kinds(names),
        verdict="not run",
        message=why,
    )


def pytest_deselected(items: list[pytest.Item]) -> None:
    """``-k``, ``-m``, ``--lf``: left out by the selection, not because they do not apply."""
    if not items:
        return
    config = items[0].config
    profiles = run_of(config).profiles or {}
    results = results_of(config)
    for item in items:
        name = institution_of(item)
        if name not in profiles or not_applicable(item, profiles[name]) is not None:
            continue
        found = _unrun(item, NOT_SELECTED)
        if found is not None:
            results.not_selected[item.nodeid] = found


def pytest_collection_finish(session: pytest.Session) -> None:
    results = results_of(session.config)
    for item in session.items:
        found = _unrun(item, STOPPED_EARLY)
        if found is not None:
            results.selected[item.nodeid] = found


def stop_reason(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> str:
    """Why the run stopped before its end ("" when it did not)."""
    if session.shouldstop:
        return str(session.shouldstop) if session.shouldstop is not True else "stopped"
    if session.shouldfail:
        return str(session.shouldfail)
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted"
    return ""


def all_results(results: Results) -> list[ScenarioResult]:
    """Every collected scenario in collection order: its result, else *not run* and why;
    the same report whether one process ran them or several."""
    out = [results.ran.get(k, r) for k, r in results.selected.items()]
    out += [r for k, r in results.ran.items() if k not in results.selected]
    out += [
        r
        for k, r in results.not_selected.items()
        if k not in results.ran and k not in results.selected
    ]
    return out


@pytest.hookimpl(trylast=True)  # after the workers module has gathered the workers' results
def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    config = session.config
    run = run_of(config)
    results = results_of(config)
    results.stopped = results.stopped or stop_reason(session, exitstatus)
    if not results.ran or run.profiles is None or hasattr(config, "workerinput"):
        return  # a worker's results go to the controller, which writes the report
    folder = allure_dir(config)
    if folder is not None:
        _write_allure_extras(config, folder)
    scenarios = all_results(results)
    unreached = any(k not in results.ran for k in results.selected)
    stopped = results.stopped or (STOPPED_EARLY if unreached else "")
    readiness = Readiness(
        sorted({r.institution for r in scenarios}),
        scenarios,
        left_out_of(config).items,
        facts=run.facts,
        run=run_info(config, stopped),
    )
    results.reports = write_reports(readiness, run.settings.report_dir, run.settings.mode)


def run_info(config: pytest.Config, stopped: str) -> RunInfo:
    run = run_of(config)
    profiles = run.profiles or {}
    selection = {}
    if config.option.keyword:
        selection["-k"] = config.option.keyword
    if config.option.markexpr:
        selection["-m"] = config.option.markexpr
    if getattr(config.option, "lf", False):
        selection["--lf"] = "last failed only"
    if run.settings.institutions:
        selection["institutions"] = ", ".join(run.settings.institutions)
    cassettes = {}
    if run.settings.mode == "replay":
        for name in profiles:
            recorded = read_metadata(run.settings.cassettes_dir / name).get("recorded_on")
            if recorded:
                cassettes[name] = str(recorded)
    return RunInfo(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        harness_version=__version__,
        mode=run.settings.mode,
        selection=selection,
        stopped_early=stopped,
        cassettes=cassettes,
        names={name: p.institution.name for name, p in profiles.items()},
    )


# -- Allure -----------------------------------------------------------------------------


def allure_dir(config: pytest.Config) -> Path | None:
    value = getattr(config.option, "allure_report_dir", None)
    return Path(value) if value else None


def _attach_exchanges(client: AlmaClient) -> None:
    client.on_response(_attach_to_allure)


def _attach_to_allure(response: httpx.Response) -> None:
    import allure

    request = response.request
    allure.attach(
        redacted_exchange(request.method, str(request.url), response.status_code, response.content),
        name=f"Alma: {request.method} {request.url.path.split('/almaws/v1', 1)[-1]}",
        attachment_type=allure.attachment_type.TEXT,
    )


# Allure puts a result in every category it matches: the configuration-fault category
# leaves out, by name, every failure that says Alma could not be reached.
UNREACHABLE_REGEX = (
    r"(Alma unreachable|AlmaTransportError|AlmaUnreachable|AlmaServerError|AlmaRateLimited"
    r"|→ no answer|→ 5\d\d |→ 429 )"
)
ALLURE_CATEGORIES = [
    {
        "name": "Institution configuration fault",
        "description": "Alma answered, and what it says is configured differs from the profile",
        "matchedStatuses": ["failed"],
        "messageRegex": rf"(?s)(?!.*{UNREACHABLE_REGEX}).*"
        r"(Configuration >|Fulfillment >|fix it in Alma|expected ).*",
    },
    {
        "name": "Alma contract change",
        "description": "Alma's answer no longer has the shape the harness relies on",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r"(?s).*(contract|Replay miss).*",
    },
    {
        "name": "Harness or environment error",
        "description": (
            "The harness could not ask Alma (settings, network, key, a bug), or Alma was "
            "unreachable or kept refusing for load after retries: not a configuration fault"
        ),
        "matchedStatuses": ["broken", "failed"],
    },
]


def _write_allure_extras(config: pytest.Config, folder: Path) -> None:
    run = run_of(config)
    assert run.profiles is not None
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"mode={run.settings.mode}",
        f"institutions={','.join(run.profiles)}",
        f"harness.version={__version__}",
    ]
    for name, profile in run.profiles.items():
        lines.append(f"{name}.region={profile.institution.region}")
        meta = read_metadata(run.settings.cassettes_dir / name)
        if run.settings.mode == "replay" and meta.get("recorded_on"):
            lines.append(f"{name}.cassettes.recorded_on={meta['recorded_on']}")
    (folder / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # Allure 2 reads categories.json; Allure 3 its configuration file (with the rest).
    (folder / "categories.json").write_text(json.dumps(ALLURE_CATEGORIES, indent=2), "utf-8")
    write_config(config, folder, ALLURE_CATEGORIES)
