"""Write safety outside a scenario: the ledger, the sweep of leftovers, polling deadlines."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from alma_p2p import cli, payloads
from alma_p2p.alma import AlmaClient
from alma_p2p.ledger import Entry, Ledger
from alma_p2p.polling import DeadlineExceeded, poll
from alma_p2p.standin import StandinApp, World, serve
from alma_p2p.writes import WriteSession, guarded
from tests.suite_runner import REPO, demo_world, institution, run_pytest


def test_ledger_keeps_what_is_not_yet_removed(tmp_path):
    ledger = Ledger(tmp_path / "l.jsonl")
    ledger.creating(Entry("a", "borrowing", "u1", "X-1", "R"))
    ledger.creating(Entry("a", "borrowing", "u1", "X-2", "R"))
    ledger.creating(Entry("b", "lending", "P", "X-3", "R"))
    ledger.removed("a", "X-1", "cancelled")
    assert [e.external_id for e in ledger.outstanding()] == ["X-2", "X-3"]
    assert [e.external_id for e in ledger.outstanding("a")] == ["X-2"]


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
         "fixtures/standin/demo-world.yaml", "--port", "0"],
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
                [str(REPO / "steps"), "--alma-mode=live",
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
