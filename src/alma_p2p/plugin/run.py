"""Options, settings and profiles: what the run is, resolved once at configure time.

Every test that uses the ``alma_institution`` fixture (the scenario binding module asks
for it) runs once per selected institution, with the institution's name as its test id.
Relative paths, from a flag, the environment or a default, are anchored at the rootdir.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_bdd.scenario import make_python_name

from alma_p2p.attestations import ATTESTATIONS_FILE, Attestations, load_attestations
from alma_p2p.facts import Facts, FactsError, institution_facts
from alma_p2p.guide import GUIDE, TAG_PREFIX
from alma_p2p.payloads import TestData
from alma_p2p.plugin.scenario import scenario_of
from alma_p2p.profile import Profile, ProfileError, load_profiles
from alma_p2p.recording import read_metadata
from alma_p2p.settings import Settings, SettingsError, load_settings
from alma_p2p.yamlfile import YamlFileError

MARKERS = {
    "multi_library": "applies only to institutions with several resource sharing libraries",
    "single_library": "applies only to institutions with one resource sharing library",
    "borrowing": "needs the profile's borrowing section",
    "lending": "needs the profile's lending section",
    "excluded_group": "needs the profile's borrowing.excluded_patron",
    "electronic_title": "needs the profile's borrowing.electronic_title",
    "override_blocks": "needs the profile's opt-in borrowing.override_blocks",
    "staff": "needs the profile's rs_staff accounts",
    "round_trip": "needs a consortium partner profiled in this run, with both API keys",
    "writes": "creates records in Alma: runs only against a sandbox, cleans up after itself",
    "api": "a configuration item read through Alma's API",
    "behaviour": "a configuration item proven by how Alma behaves",
    "manual": "a configuration item Alma's API cannot read: a checklist line",
    "analytics": "a configuration item read through an Alma Analytics report",
    **{f"{TAG_PREFIX}{item.id}": f"proves the guide item '{item.title}'" for item in GUIDE},
}

# Settings whose value is a path, anchored at the rootdir when relative.
PATHS = ("profiles_dir", "cassettes_dir", "report_dir", "ledger")


@dataclass
class Run:
    """The run as configured: settings, the selected profiles and their attestations."""

    settings: Settings
    run_token: str
    profiles: dict[str, Profile] | None = None  # None: no profiles folder (harness tests)
    attestations: dict[str, Attestations] = field(default_factory=dict)
    # What each institution's Alma is taken to do: calibrated facts, else the register's.
    facts: dict[str, Facts] = field(default_factory=dict)


RUN = pytest.StashKey[Run]()


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
    group.addoption(
        "--alma-consortium",
        default=None,
        metavar="NAME",
        help="the consortium's name, the title of the reports. Env: ALMA_CONSORTIUM",
    )


@pytest.hookimpl(tryfirst=True)  # the other modules read the run when they configure
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
            profiles_dir=opt("--profiles-dir"),
            cassettes_dir=opt("--cassettes-dir"),
            report_dir=opt("--alma-report-dir"),
            consortium=opt("--alma-consortium"),
            ledger=opt("--alma-ledger"),
        )
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
    settings = settings.model_copy(
        update={name: config.rootpath / getattr(settings, name) for name in PATHS}
    )
    run = config.stash[RUN] = Run(settings, run_token=_run_token(settings))
    # Profiles are checked up front, so a broken one is a one-screen usage error; a run
    # without a profiles folder (the harness's own tests) loads them only if asked to.
    if settings.institutions or settings.profiles_dir.is_dir():
        _load_profiles(run)
        if not config.option.collectonly:
            _check_places(run)


def _check_places(run: Run) -> None:
    """What the run reads and writes is there and writable before anything runs, so a long
    live run never fails at its end (its report and ledger) and replay never fails once per
    scenario for want of a folder."""
    settings = run.settings
    folder = settings.cassettes_dir
    if settings.mode == "replay":
        if not folder.is_dir():
            raise pytest.UsageError(
                f"no cassettes at {folder}: record them with "
                "ALMA_API_KEY=… pytest --alma-mode=record, "
                "or point --cassettes-dir / ALMA_CASSETTES_DIR at them"
            )
        for name in run.profiles or {}:
            try:
                read_metadata(folder / name)
            except YamlFileError as exc:
                raise pytest.UsageError(
                    f"{exc}\n(the record of when these cassettes were recorded; restore it "
                    f"from version control, or re-record with --alma-mode=record --institution "
                    f"{name})"
                ) from None
    _writable(settings.report_dir, "the readiness report", "--alma-report-dir / ALMA_REPORT_DIR")
    if settings.mode in ("live", "record"):
        _writable(settings.ledger.parent, "the ledger", "--alma-ledger / ALMA_LEDGER")


def _writable(folder: Path, what: str, knob: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".alma-p2p-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise pytest.UsageError(
            f"cannot write {what} to {folder} ({reason}): make the folder writable, or "
            f"choose another with {knob}"
        ) from None


def _load_profiles(run: Run) -> dict[str, Profile]:
    settings = run.settings
    try:
        run.profiles = load_profiles(settings.profiles_dir, settings.institutions)
        run.attestations = {
            name: load_attestations(settings.profiles_dir / name / ATTESTATIONS_FILE)
            for name in run.profiles
        }
        run.facts = {name: institution_facts(settings.profiles_dir, name) for name in run.profiles}
    except (ProfileError, FactsError) as exc:
        raise pytest.UsageError(str(exc)) from None
    return run.profiles


def _run_token(settings: Settings) -> str:
    """Part of every external_id: fixed when cassettes are involved (so bodies match on
    replay), unique per run when live (so leftovers of two runs never mix)."""
    if settings.mode == "live":
        return "L" + datetime.now(UTC).strftime("%y%m%d%H%M%S")
    return "REC"


def run_of(config: pytest.Config) -> Run:
    """The run's configuration (set in ``pytest_configure``)."""
    return config.stash[RUN]


def profiles_of(config: pytest.Config) -> dict[str, Profile]:
    """The selected institution profiles, loaded on first use."""
    run = run_of(config)
    return run.profiles if run.profiles is not None else _load_profiles(run)


def institution_of(item: pytest.Item) -> str | None:
    """The institution a collected test runs for (None: not a per-institution test)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "alma_institution" not in callspec.params:
        return None
    return str(callspec.params["alma_institution"])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "alma_institution" in metafunc.fixturenames:
        names = list(profiles_of(metafunc.config))
        metafunc.parametrize("alma_institution", names, ids=names, indirect=True, scope="session")


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def alma_settings(pytestconfig: pytest.Config) -> Settings:
    """The run's frozen settings."""
    return run_of(pytestconfig).settings


@pytest.fixture(scope="session")
def alma_institution(request: pytest.FixtureRequest) -> Profile:
    """The institution profile this test runs for (one test per selected institution)."""
    return profiles_of(request.config)[request.param]


@pytest.fixture(scope="session")
def alma_attestations(pytestconfig: pytest.Config, alma_institution: Profile) -> Attestations:
    """Who checked the institution's manual items, and when."""
    return run_of(pytestconfig).attestations.get(alma_institution.name, Attestations([]))


@pytest.fixture(scope="session")
def alma_facts(pytestconfig: pytest.Config, alma_institution: Profile) -> Facts:
    """The institution's Alma facts: ``alma_facts.value("lending.reject_status_code")`` is
    the value ``alma-p2p calibrate`` observed in its sandbox, else the register's assumption."""
    return run_of(pytestconfig).facts[alma_institution.name]


@pytest.fixture
def alma_test_data(request: pytest.FixtureRequest, alma_institution: Profile) -> TestData:
    """Generated titles and external ids, stable for this scenario at this institution.

    Seeded by the scenario's name as pytest-bdd makes a test name of it, so each example of
    a Scenario Outline has its own data.
    """
    scenario = scenario_of(request.node)
    name = (
        "test_" + make_python_name(scenario.name)
        if scenario is not None
        else getattr(request.node, "originalname", request.node.name)
    )
    return TestData(run_of(request.config).run_token, f"{alma_institution.name}::{name}")


def shown(config: pytest.Config, path: Path) -> str:
    """A path as a person reads it: relative to the rootdir when inside it."""
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)
