"""The cassette around each scenario: replay with the network blocked, or record.

One cassette per scenario per institution (``<cassettes>/<institution>/<feature>/<scenario>.yaml``).
In ``replay`` mode a scenario runs inside its cassette with sockets refused; in ``record``
mode the cassette is written beside the old one and replaces it only when the scenario
passes; in ``live`` mode nothing is recorded.

Every knob is a fixture that a ``conftest.py`` may override, as pytest-recording's are:
``alma_record_mode``, ``alma_cassette_dir``, ``alma_vcr_config``, ``alma_poll_interval``;
``alma_cassette`` is the cassette itself.
"""

from __future__ import annotations

import shlex
import socket
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from vcr.errors import CannotOverwriteExistingCassetteException

from alma_p2p import __version__
from alma_p2p.plugin.run import profiles_of, run_of, shown
from alma_p2p.plugin.scenario import Scenario, outcome_of, scenario_of
from alma_p2p.profile import Profile
from alma_p2p.recording import (
    CassetteDamaged,
    canonical_uri,
    cassette_path,
    make_vcr,
    read_metadata,
    vcr_config,
    write_metadata,
)
from alma_p2p.settings import Settings
from alma_p2p.yamlfile import YamlFileError

RecordMode = Literal["replay", "record", "live"]


class NetworkBlocked(OSError):
    """A connection attempted while replaying cassettes."""


@dataclass
class Recorded:
    """What a record run wrote, and the cassettes it kept because their scenario failed."""

    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    institutions: set[str] = field(default_factory=set)
    # institution → cassette path inside its folder → the day it was written
    dates: dict[str, dict[str, str]] = field(default_factory=dict)


RECORDED = pytest.StashKey[Recorded]()
CASSETTE = pytest.StashKey[Path]()


def recorded_of(config: pytest.Config) -> Recorded:
    return config.stash.setdefault(RECORDED, Recorded())


# -- the knobs ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def alma_record_mode(alma_settings: Settings) -> RecordMode:
    """``replay`` (cassettes only), ``record`` (write cassettes), or ``live`` (none)."""
    return alma_settings.mode


@pytest.fixture(scope="session")
def alma_cassette_dir(alma_settings: Settings) -> Path:
    """The folder of every institution's cassettes."""
    return alma_settings.cassettes_dir


@pytest.fixture(scope="session")
def alma_vcr_config(alma_record_mode: RecordMode) -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR``: matching, scrubbing, record mode."""
    return vcr_config(record=alma_record_mode == "record")


@pytest.fixture(scope="session")
def alma_poll_interval(alma_record_mode: RecordMode) -> float:
    """Seconds between two reads of a changing status (none when replaying)."""
    return 0.0 if alma_record_mode == "replay" else 2.0


# -- the cassette -----------------------------------------------------------------------


@pytest.fixture
def alma_cassette(
    request: pytest.FixtureRequest,
    alma_record_mode: RecordMode,
    alma_cassette_dir: Path,
    alma_vcr_config: dict[str, Any],
) -> Iterator[Path | None]:
    """The running scenario's cassette (None in live mode): entered for the scenario."""
    scenario = scenario_of(request.node)
    if scenario is None or alma_record_mode == "live":
        yield None
        return
    path = cassette_path(
        alma_cassette_dir, scenario.institution, scenario.feature_path, scenario.name
    )
    request.node.stash[CASSETTE] = path
    if alma_record_mode == "replay":
        if not path.is_file():
            pytest.fail(_missing_cassette(request.node, scenario, path), pytrace=False)
        try:
            cassette = make_vcr(alma_vcr_config).use_cassette(str(path))
            cassette.__enter__()
        except CassetteDamaged as exc:
            pytest.fail(_damaged_cassette(request.node, scenario, exc), pytrace=False)
        try:
            with _network_blocked():
                yield path
        finally:
            cassette.__exit__(None, None, None)
        return
    with _recording(request.node, scenario, path, alma_vcr_config):
        yield path


@contextmanager
def _recording(
    node: pytest.Item, scenario: Scenario, path: Path, config: dict[str, Any]
) -> Iterator[None]:
    recorded = recorded_of(node.config)
    recorded.institutions.add(scenario.institution)
    draft = path.with_name(path.stem + ".recording.yaml")
    draft.unlink(missing_ok=True)
    draft.parent.mkdir(parents=True, exist_ok=True)
    try:
        with make_vcr(config).use_cassette(str(draft)):
            yield
    finally:
        report = outcome_of(node)
        where = shown(node.config, path)
        passed = report is not None and report.passed
        if draft.is_file() and (passed or not path.exists()):
            # A failing scenario's recording only fills an empty place (a drift run into a
            # fresh folder); it never replaces a cassette that replays green.
            draft.replace(path)
            recorded.written.append(where if passed else f"{where} (scenario failed)")
            folder = path.parents[len(Path(scenario.feature_path).parts)]  # <cassettes>/<inst>
            inside = path.relative_to(folder)
            recorded.dates.setdefault(scenario.institution, {})[inside.as_posix()] = (
                datetime.now(UTC).date().isoformat()
            )
        else:
            draft.unlink(missing_ok=True)
            if not passed:
                recorded.kept.append(where)


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except CannotOverwriteExistingCassetteException as exc:
        pytest.fail(_replay_miss(item, exc), pytrace=False)


# -- after the run ------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A record run stamps the cassettes it wrote (and only those) with the day, beside
    what each institution's set was recorded against."""
    config = session.config
    run = run_of(config)
    recorded = recorded_of(config)
    if run.settings.mode != "record" or run.profiles is None:
        return
    for name, written in sorted(recorded.dates.items()):
        profile = run.profiles[name]
        write_metadata(
            run.settings.cassettes_dir / name,
            {
                "institution": name,
                "institution_code": profile.institution.code,
                "region": profile.institution.region,
                "gateway": "ALMA_BASE_URL" if run.settings.base_url else "region gateway",
                "harness_version": __version__,
            },
            written,
        )


def stale_cassettes(config: pytest.Config) -> list[str]:
    """Warnings for cassettes older than the sandbox refresh or the configured age."""
    settings = run_of(config).settings
    warnings = []
    today = datetime.now(UTC).date()
    for name, profile in profiles_of(config).items():
        why = _staleness(settings, profile, today)
        if why is not None:
            warnings.append(
                f"cassettes of {name} were recorded on {why[0]}, {why[1]}: they may no longer "
                f"show what Alma does; re-record with make record ARGS='--institution {name}'"
            )
    return warnings


def _staleness(settings: Settings, profile: Profile, today: date) -> tuple[date, str] | None:
    try:
        meta = read_metadata(settings.cassettes_dir / profile.name)
    except YamlFileError:
        return None  # refused at configure time; this is the summary at the end
    if not meta.get("recorded_on"):
        return None
    recorded = date.fromisoformat(str(meta["recorded_on"]))
    refreshed = profile.institution.sandbox_refreshed
    age = (today - recorded).days
    if refreshed is not None and recorded < refreshed:
        return recorded, f"before the sandbox refresh of {refreshed}"
    if age > settings.cassette_max_age_days:
        limit = settings.cassette_max_age_days
        return recorded, f"{age} days ago (ALMA_CASSETTE_MAX_AGE_DAYS={limit})"
    return None


# -- messages -----------------------------------------------------------------------


def _record_command(node: pytest.Item, institution: str) -> str:
    name = getattr(node, "originalname", node.name)
    return (
        "ALMA_API_KEY=… pytest --alma-mode=record "
        f"--institution {shlex.quote(institution)} -k {shlex.quote(name)}"
    )


def _missing_cassette(node: pytest.Item, scenario: Scenario, path: Path) -> str:
    return (
        f"No cassette for this scenario at {scenario.institution}.\n"
        f"  Feature:  {scenario.feature} ({scenario.feature_path})\n"
        f"  Scenario: {scenario.name}\n"
        f"  Expected: {shown(node.config, path)}\n"
        "Record it against your sandbox (or the demo stand-in, see README) with:\n"
        f"  {_record_command(node, scenario.institution)}"
    )


def _damaged_cassette(node: pytest.Item, scenario: Scenario, exc: CassetteDamaged) -> str:
    return (
        f"Damaged cassette for this scenario at {scenario.institution}.\n"
        f"  Scenario: {scenario.name}\n"
        f"  {exc}\n"
        "Record it again against your sandbox (or the demo stand-in, see README) with:\n"
        f"  {_record_command(node, scenario.institution)}"
    )


def _replay_miss(node: pytest.Item, exc: CannotOverwriteExistingCassetteException) -> str:
    scenario = scenario_of(node)
    institution = scenario.institution if scenario else "?"
    path = node.stash.get(CASSETTE, None)
    where = shown(node.config, path) if path is not None else "?"
    sent = exc.failed_request
    lines = [
        f"Replay miss at {institution}: the scenario sent a request its cassette does not hold.",
        f"  Scenario: {scenario.name if scenario else node.name}",
        f"  Cassette: {where}",
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
