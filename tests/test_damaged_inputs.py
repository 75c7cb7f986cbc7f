"""Every damaged input is a one-screen error naming the file, the place in it and the fix.

Each test damages one input the way a person or a disk does, and asserts the message (file,
place, fix), that no traceback or INTERNALERROR reaches the person, and, where it applies,
that nothing was run or written.
"""

from __future__ import annotations

import shutil
import socket
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from alma_p2p import files, yamlfile
from alma_p2p.attestations import Attestation, Attestations, load_attestations
from alma_p2p.cli import demo_environment
from alma_p2p.profile import ProfileError, load_profile
from alma_p2p.recording import read_metadata
from alma_p2p.standin import cli as standin_cli
from alma_p2p.standin.app import StandinApp
from alma_p2p.standin.world import World, WorldError, load_world
from alma_p2p.suite import FEATURES
from tests.suite_runner import DEMO_WORLD, REPO, TransportPlugin, demo_world, run_live, run_pytest

USAGE_ERROR = int(pytest.ExitCode.USAGE_ERROR)
HOLDS = "a-title-the-institution-holds-cannot-be-requested-from-a-partner.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Copies of the demo profiles and demo-college's cassettes, to damage."""
    shutil.copytree(REPO / "fixtures" / "institutions", tmp_path / "institutions")
    shutil.copytree(REPO / "cassettes" / "demo-college", tmp_path / "cassettes" / "demo-college")
    (tmp_path / "cwd").mkdir()
    return tmp_path


def acceptance(project: Path, *args: str) -> tuple[int, str]:
    """The acceptance suite in replay against the project's copies: exit code and output."""
    run = run_pytest(
        [
            str(FEATURES),
            "-p",
            "no:cacheprovider",
            f"--profiles-dir={project / 'institutions'}",
            f"--cassettes-dir={project / 'cassettes'}",
            f"--alma-report-dir={project / 'reports'}",
            *args,
        ],
        cwd=project / "cwd",
    )
    return run.returncode, run.stdout + run.stderr


def assert_one_screen(output: str) -> None:
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output


def refused(project: Path, *args: str) -> str:
    """The usage error of a run that must stop before anything runs or is written."""
    code, output = acceptance(project, *args)
    assert code == USAGE_ERROR, output[-3000:]
    assert_one_screen(output)
    assert " passed" not in output
    assert " failed" not in output
    assert not (project / "reports" / "readiness.md").exists()
    return output


# -- YAML files: not UTF-8, a duplicate key, an impossible date --------------------------


def test_a_profile_that_is_not_utf8_names_the_byte_and_says_save_as_utf8(project):
    profile = project / "institutions" / "demo-college" / "profile.yaml"
    text = profile.read_bytes()
    at = text.index(b"name:")
    profile.write_bytes(text[:at] + b"name: Coll\xe8ge\n" + text[text.index(b"\n", at) + 1 :])
    output = refused(project, "--institution", "demo-college")
    line = text[:at].count(b"\n") + 1
    assert (
        f"{profile}: not UTF-8 text: byte {at + 10} (line {line}) is 0xe8; save it as UTF-8"
        in output
    )


def test_a_duplicate_key_in_a_profile_names_both_lines(project):
    profile = project / "institutions" / "demo-college" / "profile.yaml"
    lines = profile.read_text().splitlines(keepends=True)
    region = next(i for i, line in enumerate(lines) if line.strip().startswith("region:"))
    lines.insert(region + 1, "  region: eu\n")
    profile.write_text("".join(lines))
    output = refused(project, "--institution", "demo-college")
    assert (
        f"{profile}: line {region + 2} (institution.region): key 'region' is given twice "
        f"(first on line {region + 1}, again on line {region + 2}); keep one" in output
    )


def test_an_impossible_date_in_a_profile_names_the_key_and_line(project):
    profile = project / "institutions" / "demo-university" / "profile.yaml"
    text = profile.read_text()
    assert "sandbox_refreshed: 2026-08-01" in text
    profile.write_text(
        text.replace("sandbox_refreshed: 2026-08-01", "sandbox_refreshed: 2026-02-30")
    )
    line = text[: text.index("sandbox_refreshed")].count("\n") + 1
    output = refused(project, "--institution", "demo-university")
    assert (
        f"{profile}: line {line} (institution.sandbox_refreshed): '2026-02-30' is not a date "
        "(day is out of range for month); write a real date as YYYY-MM-DD" in output
    )


def test_an_attestation_file_that_is_not_utf8_or_holds_an_impossible_date(project):
    path = project / "institutions" / "demo-university" / "attestations.yaml"
    good = path.read_text()
    path.write_bytes(good.encode().replace(b"Demo Systems", b"D\xffmo Systems", 1))
    output = refused(project, "--institution", "demo-university")
    assert f"{path}: not UTF-8 text: byte" in output
    assert "is 0xff; save it as UTF-8" in output

    path.write_text(good.replace("checked_on: 2026-09-15", "checked_on: 2026-09-31"))
    line = good[: good.index("checked_on: 2026-09-15")].count("\n") + 1
    with pytest.raises(ProfileError) as caught:
        load_attestations(path)
    assert str(caught.value) == (
        f"{path}: line {line} (attestations[0].checked_on): '2026-09-31' is not a date "
        "(day is out of range for month); write a real date as YYYY-MM-DD"
    )


def test_an_attestation_dated_in_the_future_is_refused_not_attested(project):
    path = project / "institutions" / "demo-university" / "attestations.yaml"
    good = path.read_text()
    path.write_text(good.replace("checked_on: 2026-09-15", "checked_on: 2062-09-15"))
    line = good[: good.index("checked_on: 2026-09-15")].count("\n") + 1
    with pytest.raises(ProfileError) as caught:
        load_attestations(path, today=date(2026, 11, 26))
    assert str(caught.value) == (
        f"{path}: 1 attestation(s) dated after today (2026-11-26)\n"
        f"  attestations[0].checked_on (line {line}): 2062-09-15 (workflow_profiles) has not "
        "happened yet; write the day the check was made"
    )
    # Tomorrow is within the grace for the date line; the day after is not.
    path.write_text(good.replace("checked_on: 2026-09-15", "checked_on: 2026-11-27"))
    assert load_attestations(path, today=date(2026, 11, 26))  # no error
    path.write_text(good.replace("checked_on: 2026-09-15", "checked_on: 2026-11-28"))
    with pytest.raises(ProfileError, match="dated after today"):
        load_attestations(path, today=date(2026, 11, 26))
    # Built without the file, a future entry is still never "attested".
    entry = Attestation(item="workflow_profiles", checked_by="X", checked_on=date(2062, 9, 15))
    profile = load_profile(REPO / "fixtures" / "institutions" / "demo-university" / "profile.yaml")
    judged = Attestations([entry], today=date(2026, 11, 26)).verdict("workflow_profiles", profile)
    assert judged.kind == "manual"
    # And the run stops before anything runs.
    future = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    path.write_text(good.replace("checked_on: 2026-09-15", f"checked_on: {future}"))
    output = refused(project, "--institution", "demo-university")
    assert "has not happened yet; write the day the check was made" in output


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda t: t.replace(b"submit_date:", b"subm\xc3it_date:", 1),
            "not UTF-8 text: byte {at} (line {line}) is 0xc3; save it as UTF-8",
        ),
        (
            lambda t: t.replace(b"birth_date: 1998-04-17", b"birth_date: 1998-02-29", 1),
            "line {line} (institutions[0].users[3].birth_date): '1998-02-29' is not a date",
        ),
    ],
    ids=["not-utf8", "impossible-date"],
)
def test_a_damaged_world_file_is_one_line_from_alma_standin(tmp_path, capsys, damage, expected):
    original = DEMO_WORLD.read_bytes()
    damaged = damage(original)
    at = next(i for i, (a, b) in enumerate(zip(original, damaged, strict=False)) if a != b)
    world = tmp_path / "world.yaml"
    world.write_bytes(damaged)
    line = damaged[:at].count(b"\n") + 1
    message = f"{world}: " + expected.format(at=at, line=line)
    with pytest.raises(WorldError) as caught:
        load_world(world)
    assert str(caught.value).startswith(message)
    assert standin_cli.main(["--world", str(world), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"alma-standin: {message}")
    assert err.count("\n") == 1


def test_a_duplicate_key_in_a_world_names_both_lines_and_merge_keys_still_work(tmp_path):
    world = tmp_path / "world.yaml"
    text = DEMO_WORLD.read_text()
    assert "<<:" in text  # the demo world overrides merged keys, which must stay allowed
    load_world(DEMO_WORLD)
    lines = text.splitlines(keepends=True)
    code = next(i for i, line in enumerate(lines) if line.lstrip().startswith("- code: "))
    indent = lines[code].index("-") + 2
    lines.insert(code + 1, " " * indent + "code: 01OTHER\n")
    world.write_text("".join(lines))
    with pytest.raises(WorldError) as caught:
        load_world(world)
    assert f"key 'code' is given twice (first on line {code + 1}, again on line {code + 2})" in str(
        caught.value
    )


# -- cassettes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda t: t[: t.index(b"response:")], "interactions[0] has no response (cut short?)"),
        (lambda t: t[: len(t) // 2] + b"\n  - {request: [", "not valid YAML: line"),
        (lambda t: bytes(range(256)) * 4, "not UTF-8 text: byte 128 (line 2) is 0x80"),
        (lambda t: t[: t.rindex(b"message:")], "interactions[4].response is cut short"),
        (
            lambda t: t[: t.rindex(b"\n- request:") + 1],
            "cut short after line 104: the closing 'version: 1' is missing",
        ),
    ],
    ids=["cut-after-a-request", "cut-mid-structure", "binary", "cut-in-a-status", "cut-between"],
)
def test_a_damaged_cassette_fails_its_scenario_naming_the_file_and_the_record_command(
    project, damage, expected
):
    cassette = project / "cassettes" / "demo-college" / "borrowing" / "request_routing" / HOLDS
    cassette.write_bytes(damage(cassette.read_bytes()))
    code, output = acceptance(
        project, "--institution", "demo-college", "-k", "holds_cannot or twice"
    )
    assert code == 1, output[-3000:]
    assert_one_screen(output)
    assert "Damaged cassette for this scenario at demo-college." in output
    assert f"{cassette}: {expected}" in output
    assert (
        "ALMA_API_KEY=… pytest --alma-mode=record --institution demo-college "
        "-k test_a_title_the_institution_holds_cannot_be_requested_from_a_partner" in output
    )
    assert " 1 failed, 1 passed" in output  # the other scenario still replays


def test_a_missing_cassettes_folder_is_one_usage_error_before_anything_runs(project):
    shutil.rmtree(project / "cassettes")
    output = refused(project, "--institution", "demo-college")
    assert (
        f"no cassettes at {project / 'cassettes'}: record them with ALMA_API_KEY=… "
        "pytest --alma-mode=record, or point --cassettes-dir / "
        "ALMA_CASSETTES_DIR at them" in output
    )
    assert output.count("no cassettes at") == 1


def test_a_damaged_recording_record_is_a_usage_error(project):
    meta = project / "cassettes" / "demo-college" / "_recording.yaml"
    meta.write_text(meta.read_text() + "region: eu\n")
    output = refused(project, "--institution", "demo-college")
    assert f"{meta}: line" in output
    assert "key 'region' is given twice" in output
    assert "restore it from version control, or re-record" in output


# -- folders the run writes --------------------------------------------------------------


def test_an_unwritable_report_folder_stops_the_run_before_anything_runs(project):
    blocker = project / "not-a-folder"
    blocker.write_text("a file where the report folder should be\n")
    code, output = acceptance(
        project, "--institution", "demo-college", f"--alma-report-dir={blocker / 'reports'}"
    )
    assert code == USAGE_ERROR, output[-3000:]
    assert_one_screen(output)
    assert f"cannot write the readiness report to {blocker / 'reports'} (" in output
    assert "make the folder writable, or choose another with --alma-report-dir / " in output
    assert "ALMA_REPORT_DIR" in output
    assert " passed" not in output
    assert blocker.read_text() == "a file where the report folder should be\n"


def test_an_unwritable_ledger_folder_stops_a_live_run_before_anything_runs(project):
    blocker = project / "not-a-folder"
    blocker.write_text("")
    app = StandinApp(World.model_validate(demo_world()))
    keys = {i.code: i.api_keys[0].key for i in app.world.institutions if i.api_keys}
    run = run_pytest(
        [
            str(FEATURES),
            "-p",
            "no:cacheprovider",
            "--alma-mode=live",
            "--institution=demo-college",
            f"--alma-report-dir={project / 'reports'}",
            f"--alma-ledger={blocker / 'ledger.jsonl'}",
        ],
        cwd=project / "cwd",
        env=demo_environment("http://standin.invalid/almaws/v1", keys),
        plugins=[TransportPlugin(app)],
    )
    output = run.stdout + run.stderr
    assert run.returncode == USAGE_ERROR, output[-3000:]
    assert_one_screen(output)
    assert f"cannot write the ledger to {blocker} (" in output
    assert "choose another with --alma-ledger / ALMA_LEDGER" in output
    assert not app.request_log  # nothing reached Alma
    assert not (project / "reports" / "readiness.md").exists()


def test_the_report_writer_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    report = tmp_path / "readiness.md"
    files.write_atomic(report, "the old report\n")

    def full_disk(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        files.write_atomic(report, "the new report, " * 10_000)
    assert report.read_text() == "the old report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["readiness.md"]  # no draft left behind


# -- the stand-in's port -----------------------------------------------------------------


def test_a_port_outside_0_to_65535_is_one_line_and_exit_2(capsys):
    assert standin_cli.main(["--world", str(DEMO_WORLD), "--port", "99999"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "alma-standin: --port 99999 is not a port: give one from 0 to 65535 (0 picks a free one)\n"
    )
    assert standin_cli.main(["--world", str(DEMO_WORLD), "--port", "-1"]) == 2


@pytest.mark.socket
def test_a_port_in_use_is_one_line_and_exit_2(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert standin_cli.main(["--world", str(DEMO_WORLD), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"alma-standin: cannot listen on 127.0.0.1:{port}: Address already in use; stop what "
        "listens there, or choose another --port (0 picks a free one)\n"
    )


# -- cassette dates ----------------------------------------------------------------------


@pytest.mark.standin
def test_a_partial_record_dates_only_the_cassettes_it_wrote(tmp_path):
    cassettes = tmp_path / "cassettes"
    shutil.copytree(REPO / "cassettes" / "demo-college", cassettes / "demo-college")
    meta_file = cassettes / "demo-college" / "_recording.yaml"
    meta = yaml.safe_load(meta_file.read_text())
    meta["cassettes"] = dict.fromkeys(meta["cassettes"], "2026-01-02")
    meta_file.write_text(yaml.safe_dump(meta, sort_keys=False))

    run = run_live(
        demo_world(),
        tmp_path,
        "--institution",
        "demo-college",
        "-k",
        "temporary_item",
        f"--cassettes-dir={cassettes}",
        mode="record",
    )
    assert run.returncode == 0, run.output[-2000:]
    after = yaml.safe_load(meta_file.read_text())
    today = datetime.now(UTC).date().isoformat()
    rewritten = {k for k, v in after["cassettes"].items() if v == today}
    assert rewritten == {k for k in meta["cassettes"] if "temporary_items" in k}
    assert rewritten
    assert len(after["cassettes"]) == len(meta["cassettes"])
    assert {v for k, v in after["cassettes"].items() if k not in rewritten} == {"2026-01-02"}
    assert after["institution_code"] == "01DEMO_COLLEGE"
    assert "recorded_on" not in after
    # Replay's staleness warning and the Allure environment go by the oldest cassette.
    assert read_metadata(cassettes / "demo-college")["recorded_on"] == "2026-01-02"


def test_the_committed_recording_records_date_every_cassette():
    for folder in sorted((REPO / "cassettes").iterdir()):
        dates = read_metadata(folder)["cassettes"]
        held = {
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*.yaml")
            if p.name != "_recording.yaml"
        }
        assert set(dates) == held, folder
        for value in dates.values():
            date.fromisoformat(value)


def test_yaml_reading_refuses_a_duplicate_key_only_where_written_twice():
    text = "base: &b {k: 1, j: 2}\nm:\n  <<: *b\n  k: 3\n"
    assert yamlfile.parse(text, "x.yaml")["m"] == {"k": 3, "j": 2}
    with pytest.raises(yamlfile.YamlFileError, match=r"x.yaml: line 3 \(a\.b\): key 'b'"):
        yamlfile.parse("a:\n  b: 1\n  b: 2\n", "x.yaml")
