"""The patron audit: every planted finding and nothing else, live and from a file; the
call economy; the budget; 429s; bad input; what a run prints."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from alma_p2p.alma import AlmaClient
from alma_p2p.audit import Rules
from alma_p2p.audit.progress import Progress
from alma_p2p.audit.rules import Patron
from alma_p2p.audit.run import audit_live
from alma_p2p.cli import main
from alma_p2p.profile import Profile, ProfileError, load_profile
from alma_p2p.standin import StandinApp, serve
from alma_p2p.standin.population import Population
from alma_p2p.standin.world import World
from tests.audit_helpers import KEY, NAME, audit_args, findings, profiles_for, pseudonymised
from tests.faults import PER_SECOND_BODY, READS, Faults

POP = Population(size=220, seed=5)
DAY = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    return profiles_for(POP, tmp_path)


@pytest.fixture
def rules(profiles: Path) -> Rules:
    return Rules(load_profile(profiles / NAME / "profile.yaml"))


@pytest.fixture
def alma(monkeypatch: pytest.MonkeyPatch):
    """Serve POP on 127.0.0.1 with its key in the environment; yields the running stand-in."""

    def start(**world: int):
        data = POP.world_data(key=KEY, **{"per_second": 1000, **world})
        context = serve(World.model_validate(data))
        standin = context.__enter__()
        monkeypatch.setenv("ALMA_BASE_URL", standin.base_url)
        monkeypatch.setenv("ALMA_API_KEY", KEY)
        started.append(context)
        return standin

    started: list = []
    yield start
    for context in started:
        context.__exit__(None, None, None)


# -- the rules ----------------------------------------------------------------------


def _patron(rs: tuple[str, ...], campus: str = "CAMPUS1", **kw: str) -> Patron:
    fields = {"status": "ACTIVE", "record_type": "PUBLIC", "user_group": "GRAD", **kw}
    return Patron("p1", fields["status"], fields["record_type"], fields["user_group"], campus, rs)


@pytest.mark.parametrize(
    ("patron", "kind"),
    [
        (_patron(("RS1",)), None),
        (_patron(()), "missing"),
        (_patron(("RS2",)), "wrong"),
        (_patron(("RS1", "RS2")), "multiple"),
        (_patron(("ARCHIVE",)), "not_rs"),
        (_patron(("RS1",), campus="NEWCAMPUS"), "unmapped"),
        (_patron(("RS2",), status="INACTIVE"), None),
        (_patron((), user_group="ALUMNI"), None),
        (_patron((), record_type="CONTACT"), None),
    ],
)
def test_one_finding_per_patron(rules: Rules, patron: Patron, kind: str | None) -> None:
    finding = rules.check(patron)
    assert (finding.kind if finding else None) == kind


def test_a_single_library_institution_has_nothing_to_audit(repo: Path) -> None:
    profile = load_profile(repo / "fixtures/institutions/demo-college/profile.yaml")
    if profile.multi_library:
        pytest.skip("demo-college has several RS libraries now")
    with pytest.raises(ValueError, match="nothing to audit"):
        Rules(profile)


def test_a_group_both_mapped_and_out_of_scope_is_refused() -> None:
    data = POP.profile_data()
    data["patron_rs_library"] = {
        "by": "user_group",
        "map": {"GRAD": "RS1", "FACULTY": "RS2"},
        "out_of_scope_groups": ["GRAD"],
    }
    with pytest.raises(ValueError, match="both mapped to an RS library and listed"):
        Profile.model_validate(data)


def test_the_profile_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x" / "profile.yaml"
    path.parent.mkdir()
    text = (tmp_path / "p.yaml").write_text
    del text
    import yaml

    data = POP.profile_data()
    data["patron_rs_library"]["out_of_scope_groups"] = "ALUMNI"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"out_of_scope_groups \(line \d+\)"):
        load_profile(path)


# -- live and from a file: every planted finding, nothing else ----------------------


@pytest.mark.socket
def test_live_finds_every_planted_patron_and_nothing_else(
    alma, profiles: Path, tmp_path: Path
) -> None:
    standin = alma()
    out = tmp_path / "mine"
    code = main(audit_args(profiles, out, "--live", "--show-identifiers", "--rate", "100"))
    assert code == 1
    assert findings(out) == POP.planted()
    # One list call per 100 users, one read per active patron; nothing else.
    log = standin.app.request_log
    lists = [r for r in log if r.path.endswith("/users")]
    reads = [r for r in log if r.path.count("/") == 4]
    active = sum(1 for p in POP.patrons() if p.status == "ACTIVE")
    assert (len(lists), len(reads), len(log)) == (3, active, 3 + active)
    assert len({r.path for r in reads}) == active
    row = json.loads((out / "readiness-row.json").read_text(encoding="utf-8"))
    assert row["verdict"] == "fail"
    assert sum(row["counts"].values()) == len(POP.planted())
    assert not (out / "checkpoint.json").read_text(encoding="utf-8").count('"complete": false')


def test_from_a_file_finds_the_same_with_no_call(profiles: Path, tmp_path: Path) -> None:
    users = tmp_path / "users.xml"
    POP.write_users_xml(users)
    out = tmp_path / "mine"
    args = audit_args(profiles, out, "--from-file", str(users), "--show-identifiers")
    assert main(args) == 1
    assert findings(out) == POP.planted()


def test_findings_are_pseudonyms_by_default(
    profiles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = tmp_path / "users.xml"
    POP.write_users_xml(users)
    monkeypatch.chdir(tmp_path)
    assert main(audit_args(profiles, Path("out"), "--from-file", str(users))) == 1
    assert findings(tmp_path / "out") == pseudonymised(POP.planted())


def test_a_clean_institution_passes(profiles: Path, tmp_path: Path) -> None:
    users = tmp_path / "users.xml"
    users.write_text(
        "<users><user><primary_id>a</primary_id><status>ACTIVE</status>"
        "<campus_code>CAMPUS2</campus_code><user_group>GRAD</user_group>"
        "<rs_libraries><rs_library><code>RS2</code></rs_library></rs_libraries></user></users>",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(audit_args(profiles, out, "--from-file", str(users))) == 0
    assert json.loads((out / "readiness-row.json").read_text())["verdict"] == "pass"
    assert "Nothing to fix" in (out / "summary.md").read_text(encoding="utf-8")


def test_the_summary_names_the_fix_and_the_mapping(profiles: Path, tmp_path: Path) -> None:
    users = tmp_path / "users.xml"
    POP.write_users_xml(users)
    out = tmp_path / "out"
    main(audit_args(profiles, out, "--from-file", str(users)))
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "Update/Notify Users" in text
    assert "setting Resource Sharing Library to RS1" in text
    assert "campus code NEWCAMPUS" in text
    assert "    CAMPUS2: RS2" in text
    assert "| Patron's resource sharing library (PALS) | fail |" in text


# -- the budget ----------------------------------------------------------------------


def test_little_left_today_stops_cleanly_and_says_when_to_continue(
    rules: Rules, tmp_path: Path
) -> None:
    with _client(Faults(), daily=250) as client:
        done = audit_live(client, rules, tmp_path, show_identifiers=True, rate=1000, today=DAY)
    assert not done.complete
    assert "calls are left today (X-Exl-Api-Remaining)" in done.reason
    assert "continue after midnight, when Alma renews the daily allowance (2026-03-02)" in (
        done.reason
    )
    assert "run the same command again" in done.reason
    cp = json.loads((tmp_path / "checkpoint.json").read_text(encoding="utf-8"))
    assert (cp["complete"], cp["next_offset"]) == (False, 200)
    # The next day: a full allowance, and the audit picks up where it stopped.
    faults = Faults()
    with _client(faults) as client:
        again = audit_live(client, rules, tmp_path, show_identifiers=True, rate=1000)
    assert again.complete
    assert findings(tmp_path) == POP.planted()
    assert again.calls == 1 + sum(1 for p in list(POP.patrons())[200:] if p.status == "ACTIVE")


def test_the_runs_own_budget_stops_it_too(rules: Rules, tmp_path: Path) -> None:
    with _client(Faults()) as client:
        done = audit_live(client, rules, tmp_path, show_identifiers=False, rate=1000, max_calls=150)
    assert not done.complete
    assert done.calls <= 150
    assert "--max-calls" in done.reason
    with _client(Faults()) as client:
        assert audit_live(client, rules, tmp_path, show_identifiers=False, rate=1000).complete
    assert findings(tmp_path) == pseudonymised(POP.planted())


class _RefusingReads(httpx.BaseTransport):
    """Alma's per-second 429 to every patron read, whatever the retries."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.count("/") == 4:
            return httpx.Response(429, json=PER_SECOND_BODY)
        return self.inner.handle_request(request)


def _client(faults: Faults, daily: int = 1_000_000, *, refuse_reads: bool = False) -> AlmaClient:
    """A client of POP's stand-in, in process, through ``faults``."""
    world = World.model_validate(POP.world_data(key=KEY, per_second=10_000, daily=daily))
    transport = faults(httpx.WSGITransport(app=StandinApp(world)))
    if refuse_reads:
        transport = _RefusingReads(transport)
    return AlmaClient(
        base_url="http://standin.invalid/almaws/v1",
        api_key=KEY,
        rate_per_second=None,
        backoff=0,
        transport=transport,
    )


def test_429s_are_retried_and_never_become_findings(rules: Rules, tmp_path: Path) -> None:
    faults = Faults(rate_429=0.15, methods_429=READS)
    with _client(faults) as client:
        done = audit_live(client, rules, tmp_path, show_identifiers=True, rate=1000)
    assert faults.injected["429"] > 10
    assert done.complete
    assert done.retries == faults.injected["429"]
    assert findings(tmp_path) == POP.planted()


def test_a_429_that_outlasts_the_retries_stops_the_run_without_a_finding(
    rules: Rules, tmp_path: Path
) -> None:
    with _client(Faults(), refuse_reads=True) as client:
        done = audit_live(client, rules, tmp_path, show_identifiers=False, rate=1000)
    assert not done.complete
    assert "Alma did not answer a call (GET /almaws/v1/users/Primary-" in done.reason
    assert not any(pid in done.reason for pid in POP.planted())
    assert "run the same command again" in done.reason
    assert done.checkpoint.findings == []
    assert done.checkpoint.next_offset == 0
    with _client(Faults()) as client:
        again = audit_live(client, rules, tmp_path, show_identifiers=False, rate=1000)
    assert again.complete
    assert findings(tmp_path) == pseudonymised(POP.planted())


# -- bad input -----------------------------------------------------------------------


def test_identifiers_need_a_folder_of_ones_own(
    profiles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["audit-patrons", "--institution", NAME, "--profiles-dir", str(profiles)]
    assert main([*args, "--from-file", "x.xml", "--show-identifiers"]) == 2
    assert "say where with --out DIR" in capsys.readouterr().err


def test_a_damaged_export_writes_nothing(
    profiles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.xml"
    POP.write_users_xml(users)
    users.write_text(users.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    out = tmp_path / "out"
    assert main(audit_args(profiles, out, "--from-file", str(users))) == 2
    assert "not well-formed XML at line" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_another_root_element_is_named(
    profiles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "items.xml"
    users.write_text("<items><item/></items>", encoding="utf-8")
    assert main(audit_args(profiles, tmp_path / "o", "--from-file", str(users))) == 2
    assert "root element is <items>, not <users>" in capsys.readouterr().err


def test_a_checkpoint_with_identifiers_is_not_continued_without(
    profiles: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALMA_API_KEY", KEY)
    out = tmp_path / "o"
    out.mkdir()
    (out / "checkpoint.json").write_text(
        json.dumps({"institution": NAME, "show_identifiers": True, "findings": []}),
        encoding="utf-8",
    )
    assert main(audit_args(profiles, out, "--live")) == 2
    assert "started with --show-identifiers" in capsys.readouterr().err


# -- progress --------------------------------------------------------------------------


def test_progress_is_quiet_off_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False)
    for done in range(0, 1001, 10):
        progress.update(done, 1000, done, 5000)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 11
    assert "calls left today" in lines[1]
    assert "to go" in lines[1]


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True)
    progress.update(10, 100, 10, None)
    progress.update(100, 100, 100, None, final=True)
    assert out.getvalue().count("\r") == 2
    assert out.getvalue().endswith("\n")


@pytest.mark.socket
def test_the_bench_figures_on_a_tiny_institution(capsys: pytest.CaptureFixture[str]) -> None:
    from alma_p2p.audit import bench

    assert bench.main(["100", "100", "0", "1000"]) == 0
    printed = capsys.readouterr().out
    assert re.search(
        r"calls (\d+) \(one list per 100 \+ one read per active patron: \1\); 429s 0", printed
    )
    assert "peak traced memory, 1,000 patrons" in printed


def test_a_damaged_checkpoint_says_how_to_start_afresh(rules: Rules, tmp_path: Path) -> None:
    (tmp_path / "checkpoint.json").write_text('{"institution": "big", "next_off', "utf-8")
    with _client(Faults()) as client, pytest.raises(ValueError, match="with --restart"):
        audit_live(client, rules, tmp_path, show_identifiers=False, rate=1000)
    with _client(Faults()) as client:
        done = audit_live(client, rules, tmp_path, show_identifiers=False, rate=1000, restart=True)
    assert done.complete
    assert findings(tmp_path) == pseudonymised(POP.planted())
