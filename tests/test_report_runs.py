"""Partial, stopped, parallel and merged runs: the readiness report knows what was run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alma_p2p import cli, resultfile
from alma_p2p.cli import demo_environment
from alma_p2p.plugin.deal import owner
from alma_p2p.plugin.workers import _institution_in
from alma_p2p.suite import FEATURES
from tests.suite_runner import REPO, STANDIN_BASE_URL, demo_world, run_live, run_pytest
from tests.test_config_scenarios_can_fail import BROKEN

INSTITUTIONS = ["demo-college", "demo-lender", "demo-university"]


def replay(tmp_path: Path, *args: str, folder: str = "reports") -> tuple[str, Path]:
    """``pytest`` replaying the repository's cassettes; its output and report folder."""
    reports = tmp_path / folder
    scratch = tmp_path / f"cwd-{folder}"
    scratch.mkdir(exist_ok=True)
    run = run_pytest(
        [str(FEATURES), "-p", "no:randomly", f"--alma-report-dir={reports}", *args],
        cwd=scratch,
    )
    return run.stdout + run.stderr, reports


def row(markdown: str, institution: str, item: str) -> str:
    """The line of ``item`` in ``institution``'s section of readiness.md."""
    section = markdown.split(f"\n## {institution}\n", 1)[1].split("\n## ", 1)[0]
    return next(line for line in section.splitlines() if line.startswith(f"| {item} |"))


def test_a_keyword_selection_never_turns_an_item_into_pass(tmp_path):
    _, reports = replay(tmp_path, "-k", "partner")
    text = (reports / "readiness.md").read_text()
    # The workflow item's other scenarios were left out: it is not proven.
    assert "**not run (not selected)**" in row(text, "demo-college", "Workflow Profiles")
    # A person's check the selection left out is not run, never pass nor n/a.
    tic = row(text, "demo-college", "Temporary Item Creation Rule")
    assert "**not run (not selected)**" in tic, tic
    assert "**n/a**" not in row(text, "demo-college", "Resource Sharing Library")
    assert "- **Selection:** -k partner" in text
    assert "- **Mode:** replay" in text
    assert "- **Cassettes recorded:** demo-college: " in text
    assert "STOPPED EARLY" not in text
    data = json.loads((reports / "readiness.json").read_text())
    assert data["version"] == resultfile.VERSION
    assert data["run"]["selection"] == {"-k": "partner"}
    assert {r["message"] for r in data["results"] if r["verdict"] == "not run"} == {"not selected"}


def test_a_run_stopped_at_its_first_failure_says_so(tmp_path):
    break_it, _, message = BROKEN["partner inactive"]
    world = demo_world()
    break_it(world)
    run = run_live(world, tmp_path, "--institution", "demo-college", "-x", "-p", "no:randomly")
    text = (tmp_path / "reports" / "readiness.md").read_text()
    assert "- **STOPPED EARLY:** stopping after 1 failures" in text, run.output[-2000:]
    assert "**not run (run stopped early)**" in text
    assert message in text
    html = (tmp_path / "reports" / "readiness.html").read_text()
    assert "STOPPED EARLY" in html


def test_every_failure_keeps_its_whole_fix_text(tmp_path):
    from alma_p2p.report import Readiness, ScenarioResult, render_html, render_markdown

    fix = "Set it Active. " * 80 + "END-OF-FIX"
    result = ScenarioResult(
        "demo-college", "Partners", "Active", ("partners",), ("api",), "fail", fix
    )
    readiness = Readiness(["demo-college"], [result])
    assert "END-OF-FIX" in render_markdown(readiness, "live")
    assert "END-OF-FIX" in render_html(readiness, "live")


def test_each_institution_has_an_anchor_the_consortium_table_links_to(tmp_path):
    _, reports = replay(tmp_path, "-k", "partner")
    text = (reports / "readiness.md").read_text()
    page = (reports / "readiness.html").read_text()
    for name in INSTITUTIONS:
        assert f'<a id="inst-{name}"></a>' in text
        assert f"[{name}](#inst-{name})" in text
        assert f"<section id='inst-{name}'>" in page
        assert f"href='#inst-{name}'" in page


# -- pytest -n ----------------------------------------------------------------------------


def _without_date(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("- **Run:**"))


def test_two_workers_make_the_same_report_and_summary_as_one_process(tmp_path):
    serial_out, serial = replay(tmp_path, folder="serial")
    parallel_out, parallel = replay(tmp_path, "-n", "2", folder="parallel")
    assert _without_date((parallel / "readiness.md").read_text()) == _without_date(
        (serial / "readiness.md").read_text()
    ), parallel_out[-3000:]
    for name in INSTITUTIONS:
        line = next(x for x in serial_out.splitlines() if x.startswith(f"{name}: "))
        assert line in parallel_out.splitlines(), parallel_out[-3000:]
    assert parallel_out.count("readiness report: ") == 3  # md, html, json: once


@pytest.mark.subprocess  # its workers are processes anyway; the timeout must be able to stop it
def test_two_workers_finish_a_selection_of_one_scenario_per_institution(tmp_path):
    # A worker holds back its last test until it is given more or told to stop; a worker
    # given one institution's single scenario, with another of its institutions still to
    # come, once waited for ever (pytest -n 2 -k sent_on_its_own never ended).
    args = [
        sys.executable, "-m", "pytest", str(FEATURES), "-n", "2", "-q", "-p", "no:randomly",
        "-p", "no:cacheprovider", "-k", "sent_on_its_own",
        f"--alma-report-dir={tmp_path / 'reports'}",
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            args, cwd=REPO, capture_output=True, text=True, timeout=90, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail("pytest -n 2 -k sent_on_its_own did not end within 90 s: a worker waits")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed" in proc.stdout, proc.stdout[-3000:]


@pytest.mark.subprocess  # a worker process dies on purpose
def test_a_worker_that_dies_ends_the_run_with_a_report_that_says_so(tmp_path):
    # A replacement worker would own no institution in the deal: the run must end (not hang,
    # not crash with an INTERNALERROR) and its report must say a worker stopped.
    (tmp_path / "dies.py").write_text(
        "import os\n"
        "def pytest_runtest_call(item):\n"
        "    if 'sent_on_its_own' in item.name and 'demo-college' in item.name:\n"
        "        os._exit(3)\n"
    )
    args = [
        sys.executable, "-m", "pytest", str(FEATURES), "-n", "2", "-q", "-p", "no:randomly",
        "-p", "no:cacheprovider", "-p", "dies", f"--alma-report-dir={tmp_path / 'reports'}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    try:
        proc = subprocess.run(
            args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a run whose worker died did not end within 120 s")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "INTERNALERROR" not in out, out[-3000:]
    report = (tmp_path / "reports" / "readiness.md").read_text()
    assert "a pytest-xdist worker stopped unexpectedly" in report, report[:3000]
    assert "alma-p2p sweep" in report


def test_institutions_are_dealt_to_workers_the_same_way_on_both_sides():
    names = ["b-inst", "a-inst", "c-inst-x"]
    assert [owner(n, names, 2) for n in sorted(names)] == [0, 1, 0]
    longest_first = sorted(names, key=len, reverse=True)
    assert _institution_in("steps/test_scenarios.py::test_x[a-inst]", longest_first) == "a-inst"
    assert _institution_in("steps/t.py::test_y[ex1-c-inst-x]", longest_first) == "c-inst-x"
    assert _institution_in("tests/test_a.py::test_z", longest_first) is None


def test_a_live_run_refuses_a_distribution_that_splits_institutions(tmp_path):
    env = demo_environment(STANDIN_BASE_URL, {})
    env["ALMA_API_KEY"] = "k"
    run = run_pytest(
        [str(FEATURES), "--alma-mode=live", "-n", "2", "--dist", "worksteal"],
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    output = run.stdout + run.stderr
    assert "--dist worksteal would split an institution's scenarios over workers" in output


# -- alma-p2p report merge -------------------------------------------------------------------


def _job(tmp_path: Path, institution: str) -> Path:
    _, reports = replay(tmp_path, "--institution", institution, folder=institution)
    return reports / "readiness.json"


def test_merge_builds_the_consortium_report_from_jobs_results(tmp_path, capsys):
    _, serial = replay(tmp_path, folder="all")
    files = [_job(tmp_path, name) for name in INSTITUTIONS]
    out = tmp_path / "merged"
    assert cli.main(["report", "merge", *map(str, files), "--output", str(out)]) == 0
    merged = (out / "readiness.md").read_text()
    whole = (serial / "readiness.md").read_text()
    consortium = whole.split("## Consortium", 1)[1]
    assert merged.split("## Consortium", 1)[1] == consortium
    assert "- **Selection:** merged 3 result files" in merged
    assert (out / "readiness.html").is_file()
    assert json.loads((out / "readiness.json").read_text())["institutions"] == INSTITUTIONS
    assert "written: " in capsys.readouterr().out


def test_merge_names_a_file_it_cannot_use_and_writes_nothing(tmp_path, capsys):
    good = _job(tmp_path, "demo-college")
    out = tmp_path / "merged"
    cases = {
        "not json": ("{oops", "not a result file (not JSON"),
        "other schema": (json.dumps({"schema": "x"}), "not a result file of alma-p2p"),
        "other version": (
            json.dumps({"schema": resultfile.SCHEMA, "version": 99}),
            "result file version 99, this harness reads version 1",
        ),
        "damaged": (
            json.dumps({"schema": resultfile.SCHEMA, "version": 1, "run": {}}),
            "damaged (KeyError",
        ),
    }
    for name, (text, message) in cases.items():
        bad = tmp_path / f"{name}.json"
        bad.write_text(text)
        assert cli.main(["report", "merge", str(good), str(bad), "--output", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err, (name, err)
        assert str(bad) in err
        assert len(err.splitlines()) == 1
    assert cli.main(["report", "merge", str(good), str(good), "--output", str(out)]) == 2
    assert "demo-college is in both" in capsys.readouterr().err
    assert cli.main(["report", "merge", str(tmp_path / "nope.json"), "--output", str(out)]) == 2
    assert "no such result file" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.subprocess  # the installed command, as CI's merge step runs it
def test_the_merge_command_runs_as_installed(tmp_path):
    good = _job(tmp_path, "demo-lender")
    exe = Path(sys.executable).parent / "alma-p2p"
    proc = subprocess.run(
        [str(exe), "report", "merge", str(good), "--output", str(tmp_path / "m")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "readiness.md").is_file()


# -- JUnit ----------------------------------------------------------------------------------


def test_junit_names_scenarios_for_people_and_carries_the_run_s_properties(tmp_path):
    import xml.etree.ElementTree as ET

    junit = tmp_path / "junit.xml"
    replay(tmp_path, "-k", "partner", "-n", "2", f"--junitxml={junit}")
    root = ET.parse(junit).getroot()
    suite = next(root.iter("testsuite"))
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["alma.mode"] == "replay"
    assert props["alma.institutions"] == ",".join(INSTITUTIONS)
    assert props["harness.version"]
    cases = list(root.iter("testcase"))
    assert cases
    for case in cases:
        institution = next(
            p.get("value") for p in case.iter("property") if p.get("name") == "institution"
        )
        assert case.get("name", "").endswith(f" [{institution}]")
        assert not case.get("classname", "").startswith("steps.")
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert (
        "Peer-to-peer partners",
        "Each partner is active for borrowing and lending [demo-college]",
    ) in names, sorted(names)[:5]


# -- progress while polling Alma ---------------------------------------------------------------


def test_polling_says_what_it_waits_for_at_most_once_per_period(monkeypatch):
    from alma_p2p import polling

    told: list[tuple[str, float, float]] = []
    now = [0.0]
    monkeypatch.setattr(polling, "PROGRESS", lambda *a: told.append(a))
    monkeypatch.setattr(polling, "PROGRESS_EVERY", 30.0)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(polling.DeadlineExceeded):
        polling.poll(
            lambda: "READY_TO_SEND", lambda s: False, what="request 1 being sent",
            deadline=120, interval=2, sleep=sleep, clock=lambda: now[0],
        )  # fmt: skip
    # 60 reads over 120 s; one line per 30 s, not one per read.
    assert [round(w) for _, w, _ in told] == [30, 60, 90]
    assert {(what, deadline) for what, _, deadline in told} == {("request 1 being sent", 120)}


def test_a_live_run_shows_which_scenario_waits_for_alma(tmp_path):
    world = demo_world()
    college = next(i for i in world["institutions"] if i["code"] == "01DEMO_COLLEGE")
    college["sends_automatically"] = False  # requests stay Ready to be sent: polls time out
    run = run_live(
        world, tmp_path, "--institution", "demo-college", "--alma-progress-every=20",
        "-k", "sent_on_its_own",
    )  # fmt: skip
    lines = [x for x in run.output.splitlines() if x.startswith("waiting ")]
    assert lines, run.output[-2000:]
    assert all("being sent — A new request is sent on its own" in x for x in lines), lines
    assert all(x.endswith("[demo-college]") for x in lines)
    assert "P2P-TEST" not in "\n".join(lines)  # no patron, no value read from Alma


def test_replay_says_nothing_about_waiting(tmp_path):
    output, _ = replay(tmp_path, "--alma-progress-every=0.001")
    assert "waiting " not in output


@pytest.mark.socket  # the workers are processes: they reach the stand-in on 127.0.0.1
@pytest.mark.subprocess
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "two workers"])
def test_a_live_run_asks_each_alma_only_the_calls_it_counts(tmp_path, workers):
    import re

    from alma_p2p.standin import serve
    from tests.suite_runner import standin_app

    app = standin_app(demo_world())
    keys = {i.code: i.api_keys[0].key for i in app.world.institutions if i.api_keys}
    reports = tmp_path / "reports"
    with serve(app) as standin:
        env = demo_environment(standin.base_url, keys)
        env["ALMA_RETRY_BACKOFF"] = "0"
        run = run_pytest(
            [str(FEATURES), "--alma-mode=live", *workers, "-p", "no:randomly",
             "--alma-rate=100", f"--alma-report-dir={reports}",
             f"--alma-ledger={tmp_path / 'ledger.jsonl'}"],
            cwd=tmp_path,
            env=env,
        )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    codes = {"demo-college": "01DEMO_COLLEGE", "demo-lender": "01DEMO_LENDER"}
    codes["demo-university"] = "01DEMO_STMARYS"
    for name, code in codes.items():
        line = re.search(
            rf"^{name}: (\d+) Alma calls .*\(and (\d+) preflight calls\)", output, re.MULTILINE
        )
        assert line, output[-3000:]
        counted = int(line[1]) + int(line[2])
        asked = sum(1 for r in app.request_log if r.institution == code)
        # Preflight ran once, on the institution's own worker; nothing went uncounted.
        assert asked == counted, (name, asked, counted)
    data = json.loads((reports / "readiness.json").read_text())
    assert data["institutions"] == INSTITUTIONS
    assert output.count("readiness report: ") == 3


def test_the_controller_gathers_every_worker_s_left_in_alma_and_calls():
    from types import SimpleNamespace

    from alma_p2p.plugin.clients import clients_of
    from alma_p2p.plugin.results import results_of
    from alma_p2p.plugin.workers import OUTPUT_KEY, _take_in
    from alma_p2p.plugin.writes import WRITES, Writes

    config = SimpleNamespace(stash=pytest.Stash())
    config.stash[WRITES] = Writes(None)

    def worker(name: str, left: list[str], calls: int) -> SimpleNamespace:
        result = {
            "institution": name, "feature": "F", "scenario": "S", "guide_items": ["partners"],
            "kinds": ["api"], "verdict": "pass", "message": "", "evidence": [],
        }  # fmt: skip
        output = {
            "ran": {f"t[{name}]": result}, "selected": {f"t[{name}]": result},
            "not_selected": {}, "stopped": "",
            "spent": {name: {"calls": calls, "gets": calls, "distinct": 1, "remaining": None}},
            "preflight_calls": {name: 5}, "preflight_unreachable": {}, "lost_answers": {},
            "left_behind": left, "written": [], "kept": [], "left_out_reasons": {},
            "left_out_items": [],
        }  # fmt: skip
        return SimpleNamespace(config=config, workeroutput={OUTPUT_KEY: output})

    _take_in(worker("demo-college", ["lending request 1 still active"], 10))
    _take_in(worker("demo-lender", ["lending request 2 still active"], 20))
    assert config.stash[WRITES].left_behind == [
        "lending request 1 still active",
        "lending request 2 still active",
    ]
    assert {n: s.calls for n, s in clients_of(config).spent.items()} == {
        "demo-college": 10,
        "demo-lender": 20,
    }
    assert sorted(results_of(config).ran) == ["t[demo-college]", "t[demo-lender]"]
