"""Write safety outside a scenario: the ledger, the sweep of leftovers, polling deadlines."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from alma_p2p import cli, payloads
from alma_p2p.alma import AlmaAPIError, AlmaClient
from alma_p2p.alma.errors import AlmaTransportError
from alma_p2p.cleanup import Outcome
from alma_p2p.ledger import Entry, Ledger
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.standin import StandinApp, World, serve
from alma_p2p.suite import FEATURES
from alma_p2p.writes import WriteSession, guarded
from tests.suite_runner import (
    REPO,
    STANDIN_BASE_URL,
    ctrl_c_reaches_it,
    demo_world,
    institution,
    run_pytest,
)


class LosesAnswers(httpx.BaseTransport):
    """Lets a matching request reach the stand-in, then raises a read timeout instead of
    returning its answer: a write that reached Alma whose answer was lost."""

    def __init__(self, app: StandinApp, method: str, path_ends: str, times: int = 1) -> None:
        self._inner = httpx.WSGITransport(app=app)
        self._method, self._path_ends, self.times = method, path_ends, times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if (
            self.times
            and request.method == self._method
            and request.url.path.endswith(self._path_ends)
        ):
            self.times -= 1
            raise httpx.ReadTimeout("the answer never came back", request=request)
        return response


def lost_answer_session(app, key, institution, ledger, method, path_ends):
    alma = AlmaClient(
        base_url=STANDIN_BASE_URL,
        api_key=key,
        rate_per_second=None,
        transport=LosesAnswers(app, method, path_ends),
    )
    return WriteSession(alma, guarded(alma), institution, ledger=ledger, run_token="LOST")


def writes_logged(app, code):
    """What reached the stand-in that is not a read (self-tests aside)."""
    return [
        e
        for e in app.request_log
        if e.method != "GET" and e.institution == code and not e.path.endswith("/test")
    ]


@pytest.mark.socket  # the sweep command builds its own client, with no transport hook
def test_sweep_removes_what_an_interrupted_run_left(tmp_path, monkeypatch):
    app = StandinApp(World.model_validate(demo_world()))
    ledger = Ledger(tmp_path / "ledger.jsonl")
    with serve(app) as standin:
        # An interrupted run: the create was sent and written down, the cleanup never ran.
        alma = AlmaClient(base_url=standin.base_url, api_key="demo-university-key")
        session = WriteSession(
            alma, guarded(alma), "demo-university", ledger=ledger, run_token="L1"
        )
        body = payloads.borrowing_request(
            title="Left behind", external_id="P2PH-L1-x-01", pickup_library="WIN"
        )
        session.create_borrowing_request("P2P-TEST-WIN-01", body)
        alma.close()
        live = app._live["01DEMO_STMARYS"]
        assert len(live.borrowing) == 2

        monkeypatch.chdir(REPO)
        monkeypatch.setenv("ALMA_BASE_URL", standin.base_url)
        monkeypatch.setenv("ALMA_API_KEY_DEMO_UNIVERSITY", "demo-university-key")
        assert (
            cli.main(["sweep", "--institution", "demo-university", "--ledger", str(ledger.path)])
            == 0
        )

    assert [r["external_id"] for r in live.borrowing.values()] == ["DEMO-RECEIVED-WIN-01"]
    assert ledger.outstanding() == []


@pytest.mark.socket  # the sweep command builds its own client, with no transport hook
def test_sweep_refuses_production(tmp_path, monkeypatch, capsys):
    world = demo_world()
    institution(world, "01DEMO_STMARYS")["environment_type"] = "production"
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.creating(Entry("demo-university", "borrowing", "P2P-TEST-WIN-01", "P2PH-X", "L1"))
    app = StandinApp(World.model_validate(world))
    with serve(app) as standin:
        monkeypatch.chdir(REPO)
        monkeypatch.setenv("ALMA_BASE_URL", standin.base_url)
        monkeypatch.setenv("ALMA_API_KEY_DEMO_UNIVERSITY", "demo-university-key")
        code = cli.main(["sweep", "--institution", "demo-university", "--ledger", str(ledger.path)])
    assert code == 1
    assert "refused, Alma reports 'production'" in capsys.readouterr().out
    assert not [e for e in app.request_log if e.method != "GET"]


def test_a_borrowing_request_whose_answer_was_lost_is_found_and_removed(tmp_path):
    app = StandinApp(World.model_validate(demo_world()))
    ledger = Ledger(tmp_path / "ledger.jsonl")
    session = lost_answer_session(
        app, "demo-university-key", "demo-university", ledger, "POST", "/resource-sharing-requests"
    )
    body = payloads.borrowing_request(
        title="Lost answer", external_id="P2PH-LOST-b-01", pickup_library="WIN"
    )
    with pytest.raises(AlmaTransportError, match="timed out"):
        session.create_borrowing_request("P2P-TEST-WIN-01", body)
    live = app._live["01DEMO_STMARYS"]
    created = [r for r in live.borrowing.values() if r["external_id"] == "P2PH-LOST-b-01"]
    assert len(created) == 1, "the POST reached the stand-in"
    assert ledger.outstanding()[0].request_id is None  # ledgered, never completed

    report = session.close()

    assert [(s.outcome, s.item.request_id) for s in report.settled] == [
        (Outcome.REMOVED, created[0]["request_id"])
    ]
    assert not [r for r in live.borrowing.values() if r["external_id"] == "P2PH-LOST-b-01"]
    assert ledger.outstanding() == []
    # the lost create and the cancel both reached Alma, and are counted
    assert session.alma.stats.calls - session.alma.stats.gets + session.lost_answers == len(
        writes_logged(app, "01DEMO_STMARYS")
    )


def test_an_active_lending_request_whose_answer_was_lost_is_left_in_alma_with_its_id(tmp_path):
    app = StandinApp(World.model_validate(demo_world()))
    ledger = Ledger(tmp_path / "ledger.jsonl")
    session = lost_answer_session(
        app, "demo-lender-key", "demo-lender", ledger, "POST", "/lending-requests"
    )
    body = payloads.lending_request(
        partner="DEMO_STMARYS",
        owner="RIVER",
        title="Bridges of Riverbend",  # available: the request stays active
        external_id="P2PH-LOST-l-01",
    )
    with pytest.raises(AlmaTransportError, match="timed out"):
        session.create_lending_request("DEMO_STMARYS", body)
    live = app._live["01DEMO_LENDER"]
    (created,) = [r for r in live.lending.values() if r["external_id"] == "P2PH-LOST-l-01"]
    assert ledger.outstanding()[0].library == "RIVER"

    report = session.close()

    (settled,) = report.settled
    assert settled.outcome is Outcome.LEFT
    assert created["request_id"] in settled.line
    assert "Fulfillment > Resource Sharing > Lending Requests" in settled.line
    assert created["request_id"] in live.lending  # still there, as reported
    assert [e.external_id for e in ledger.outstanding()] == ["P2PH-LOST-l-01"]
    assert session.alma.stats.calls - session.alma.stats.gets + session.lost_answers == len(
        writes_logged(app, "01DEMO_LENDER")
    )


class LosingPlugin:
    """Answers the harness's transport hook with the stand-in, losing one create's answer."""

    def __init__(self, app: StandinApp, path_ends: str) -> None:
        self.app, self.path_ends = app, path_ends

    def pytest_alma_transport(self, config, institution):
        return LosesAnswers(self.app, "POST", self.path_ends)


@pytest.mark.standin
@pytest.mark.parametrize(
    ("name", "code", "path_ends", "select", "left"),
    [
        ("demo-university", "01DEMO_STMARYS", "/resource-sharing-requests",
         "each_campus_is_owned", False),
        ("demo-lender", "01DEMO_LENDER", "/lending-requests", "accepted", True),
    ],
)  # fmt: skip
def test_the_summary_counts_every_write_that_reached_alma(
    tmp_path, name, code, path_ends, select, left
):
    world = demo_world()
    for inst in world["institutions"]:
        inst["per_second_threshold"] = 10_000
    app = StandinApp(World.model_validate(world))
    keys = {i.code: i.api_keys[0].key for i in app.world.institutions if i.api_keys}
    (tmp_path / "cwd").mkdir()
    run = run_pytest(
        [str(FEATURES), "--alma-mode=live", "--alma-rate=100", "-p", "no:cacheprovider",
         "--institution", name, "-k", select,
         f"--alma-report-dir={tmp_path / 'reports'}",
         f"--alma-ledger={tmp_path / 'ledger.jsonl'}"],
        cwd=tmp_path / "cwd",
        env=cli.demo_environment(STANDIN_BASE_URL, keys),
        plugins=[LosingPlugin(app, path_ends)],
    )  # fmt: skip
    output = run.stdout + run.stderr
    summary = next(line for line in output.splitlines() if line.startswith(f"{name}: "))
    reached = len(writes_logged(app, code))
    assert reached >= 1
    assert f" {reached} writes, 1 of them unanswered)" in summary, output
    left_lines = [line for line in output.splitlines() if line.startswith("LEFT IN ALMA")]
    if left:
        (lost,) = list(app._live[code].lending.values())
        assert left_lines == [
            f"LEFT IN ALMA: {name}: lending request {lost['request_id']} (external id "
            f"{lost['external_id']}) from partner DEMO_STMARYS is still active "
            f"({lost['status']['value']}); the API cannot cancel it: "
            "reject it in Alma: Fulfillment > Resource Sharing > Lending Requests"
        ], output
    else:
        assert left_lines == [], output
        assert not [
            r for r in app._live[code].borrowing.values() if r["external_id"].startswith("P2PH")
        ]


def test_poll_returns_when_done_and_fails_at_the_deadline():
    values = iter(["LOCATE_IN_PROCESS", "LOCATE_IN_PROCESS", "REJECTED"])
    naps: list[float] = []
    assert (
        poll(lambda: next(values), lambda v: v != "LOCATE_IN_PROCESS", what="x", sleep=naps.append)
        == "REJECTED"
    )
    assert naps == [2.0, 2.0]
    ticks = itertools.count()
    with pytest.raises(DeadlineExceeded, match="not reached within 5 s"):
        poll(
            lambda: "LOCATE_IN_PROCESS",
            lambda v: False,
            what="x",
            deadline=5,
            interval=0,
            clock=lambda: next(ticks),
        )


@pytest.mark.subprocess  # the README's recipe: the alma-standin command, then pytest
@pytest.mark.socket
def test_live_run_against_the_alma_standin_command_passes(tmp_path):
    """The README's two-terminal recipe: alma-standin, then pytest --alma-mode=live."""
    with subprocess.Popen(
        [str(Path(sys.executable).parent / "alma-standin"), "--world",
         "src/alma_p2p/standin/worlds/demo-world.yaml", "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as server:  # fmt: skip
        try:
            assert server.stdout is not None
            banner = server.stdout.readline()
            base_url = banner.split(" at ", 1)[1].split(" ", 1)[0]
            assert base_url.startswith("http://127.0.0.1:")
            assert httpx.get(base_url + "/conf/test", timeout=5).status_code == 400  # no key
            # The second terminal: the suite, in this process (the same command, minus an
            # interpreter start), at the default call rate, over the socket.
            proc = run_pytest(
                [str(FEATURES), "--alma-mode=live",
                 "--institution", "demo-university", "-p", "no:cacheprovider", "-q",
                 f"--alma-report-dir={tmp_path / 'reports'}",
                 f"--alma-ledger={tmp_path / 'l.jsonl'}"],
                cwd=tmp_path,
                env={"ALMA_BASE_URL": base_url, "ALMA_API_KEY": "demo-university-key"},
            )  # fmt: skip
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "passed" in proc.stdout.splitlines()[-1]
        finally:
            server.terminate()
            server.wait(timeout=10)


# -- interrupted runs: a real stand-in server, a live run in a subprocess, then the sweep --

# Loaded into the interrupted run with -p: it pauses the run at a borrowing create, either
# before sending it (the create is ledgered) or after the stand-in processed it, and tells
# the test by a file where it stopped.
INTERRUPT_PLUGIN = """
import os, pathlib, time
import httpx

class Pausing(httpx.BaseTransport):
    def __init__(self):
        self._inner = httpx.HTTPTransport()
    def handle_request(self, request):
        create = request.method == "POST" and request.url.path.endswith(
            "/resource-sharing-requests")
        point = os.environ["INTERRUPT_AT"]
        if create and point == "before-send":
            self._pause()
        response = self._inner.handle_request(request)
        if create and point == "after-processed":
            response.read()
            self._pause()
        return response
    def _pause(self):
        pathlib.Path(os.environ["INTERRUPT_MARK"]).write_text("paused")
        time.sleep(60)

def pytest_alma_transport(config, institution):
    return Pausing()
"""


def wait_for(path: Path, proc: subprocess.Popen[str], deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while not path.exists():
        assert proc.poll() is None, f"the run ended before it paused: {proc.communicate()}"
        assert time.monotonic() < end, "the run did not reach its pause within 60 s"
        time.sleep(0.05)


@pytest.mark.subprocess
@pytest.mark.socket
@pytest.mark.parametrize("point", ["before-send", "after-processed"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_run_leaves_nothing_the_sweep_does_not_settle(
    tmp_path, monkeypatch, capsys, point, sig
):
    (tmp_path / "interrupt_plugin.py").write_text(INTERRUPT_PLUGIN)
    ledger = tmp_path / "ledger.jsonl"
    mark = tmp_path / "paused"
    with subprocess.Popen(
        [str(Path(sys.executable).parent / "alma-standin"), "--world",
         "src/alma_p2p/standin/worlds/demo-world.yaml", "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as server:  # fmt: skip
        try:
            assert server.stdout is not None
            base_url = server.stdout.readline().split(" at ", 1)[1].split(" ", 1)[0]
            assert base_url.startswith("http://127.0.0.1:")
            env = {k: v for k, v in os.environ.items() if not k.startswith("ALMA_")}
            env.update(
                ALMA_BASE_URL=base_url, ALMA_API_KEY="demo-university-key",
                INTERRUPT_AT=point, INTERRUPT_MARK=str(mark),
                PYTHONPATH=str(tmp_path), PYTEST_ADDOPTS="",
            )  # fmt: skip
            with subprocess.Popen(
                [sys.executable, "-m", "pytest", str(FEATURES), f"--rootdir={REPO}",
                 "--alma-mode=live", "--institution", "demo-university",
                 "-k", "each_campus_is_owned", "-p", "interrupt_plugin",
                 "-p", "no:cacheprovider", f"--alma-ledger={ledger}",
                 f"--alma-report-dir={tmp_path / 'reports'}"],
                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, preexec_fn=ctrl_c_reaches_it,  # noqa: PLW1509
            ) as run:  # fmt: skip
                try:
                    wait_for(mark, run)
                    ledgered = [json.loads(line) for line in ledger.read_text().splitlines()]
                    assert ledgered[-1]["event"] == "creating"  # ledgered before it is sent
                    run.send_signal(sig)
                    output, _ = run.communicate(timeout=60)
                finally:
                    run.kill()
            if sig == signal.SIGINT:
                assert "KeyboardInterrupt" in output, output
            created = [
                (r["owner"], r["external_id"])
                for r in map(json.loads, ledger.read_text().splitlines())
                if r["event"] == "creating"
            ]
            assert created

            for name in [n for n in os.environ if n.startswith("ALMA_")]:
                monkeypatch.delenv(name)
            monkeypatch.chdir(REPO)
            monkeypatch.setenv("ALMA_BASE_URL", base_url)
            monkeypatch.setenv("ALMA_API_KEY_DEMO_UNIVERSITY", "demo-university-key")
            code = cli.main(["sweep", "--institution", "demo-university", "--ledger", str(ledger)])
            swept = capsys.readouterr().out
            assert code == 0, swept
            if sig == signal.SIGKILL:  # nothing was cleaned up: the sweep settles it
                outcome = "already gone" if point == "before-send" else "removed"
                assert f"demo-university: {outcome}: borrowing request" in swept, swept
            else:  # the run's teardown settled it
                assert swept == "demo-university: nothing left behind\n", swept
            with AlmaClient(base_url=base_url, api_key="demo-university-key") as alma:
                for user, external_id in created:
                    with pytest.raises(AlmaAPIError) as missing:
                        alma.borrowing_request(user, external_id, by_external_id=True)
                    assert "40166450" in missing.value.codes
        finally:
            server.terminate()
            server.wait(timeout=10)
