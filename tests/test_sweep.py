"""``alma-p2p sweep``, in process against the stand-in: it reports only what Alma confirms,
goes on past a damaged ledger line or a failing institution, and says by its exit status
whether anything is left."""

from __future__ import annotations

import os

import httpx
import pytest

from alma_p2p import cli, payloads
from alma_p2p.alma import AlmaClient
from alma_p2p.ledger import Entry, Ledger
from alma_p2p.standin import StandinApp, World
from tests.suite_runner import REPO, STANDIN_BASE_URL, demo_world

pytestmark = pytest.mark.standin

UNIVERSITY, LENDER = "01DEMO_STMARYS", "01DEMO_LENDER"
KEYS = {"demo-university": "demo-university-key", "demo-lender": "demo-lender-key",
        "demo-college": "demo-college-key"}  # fmt: skip


@pytest.fixture
def app() -> StandinApp:
    world = demo_world()
    for inst in world["institutions"]:
        inst["per_second_threshold"] = 10_000
    return StandinApp(World.model_validate(world))


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in [n for n in os.environ if n.startswith("ALMA_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("ALMA_BASE_URL", STANDIN_BASE_URL)
    monkeypatch.setenv("ALMA_RATE", "100")
    monkeypatch.setenv("ALMA_RETRY_BACKOFF", "0")  # retries of an unreachable Alma wait no time
    for name, key in KEYS.items():
        monkeypatch.setenv(f"ALMA_API_KEY_{name.upper().replace('-', '_')}", key)
    return monkeypatch


def sweep(app, ledger, *institutions, transport=None):
    names = [a for n in institutions for a in ("--institution", n)]
    return cli.main(
        ["sweep", *names, "--ledger", str(ledger.path)],
        transport=transport or httpx.WSGITransport(app=app),
    )


def alma(app, key):
    return AlmaClient(
        base_url=STANDIN_BASE_URL,
        api_key=key,
        rate_per_second=None,
        transport=httpx.WSGITransport(app=app),
    )


def borrowing(app, external_id, user="P2P-TEST-WIN-01"):
    """A borrowing request made in the stand-in behind the harness's back: its id."""
    body = payloads.borrowing_request(
        title=external_id, external_id=external_id, pickup_library="WIN"
    )
    with alma(app, KEYS["demo-university"]) as client:
        return client.create_borrowing_request(user, body).request_id


def lending(app, external_id, title="Bridges of Riverbend"):
    body = payloads.lending_request(
        partner="DEMO_STMARYS", owner="RIVER", title=title, external_id=external_id
    )
    with alma(app, KEYS["demo-lender"]) as client:
        return client.create_lending_request("DEMO_STMARYS", body)


def ours(app, code):
    live = app._live[code]
    return sorted(
        r["external_id"]
        for r in [*live.borrowing.values(), *live.lending.values()]
        if r["external_id"].startswith("P2PH")
    )


def test_the_sweep_reports_only_what_alma_confirms(app, env, tmp_path, capsys):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    rid = borrowing(app, "P2PH-S-b-1")
    ledger.creating(Entry("demo-university", "borrowing", "P2P-TEST-WIN-01", "P2PH-S-b-1", "S"))
    ledger.created("demo-university", "P2PH-S-b-1", rid)
    borrowing(app, "P2PH-S-b-2")  # its answer was lost: no request id in the ledger
    ledger.creating(Entry("demo-university", "borrowing", "P2P-TEST-WIN-01", "P2PH-S-b-2", "S"))
    # killed before sending: Alma never saw it
    ledger.creating(Entry("demo-university", "borrowing", "P2P-TEST-WIN-01", "P2PH-S-b-3", "S"))
    active = lending(app, "P2PH-S-l-1")  # an answer lost, still active
    ledger.creating(Entry("demo-lender", "lending", "DEMO_STMARYS", "P2PH-S-l-1", "S", "RIVER"))
    ended = lending(app, "P2PH-S-l-2", title="A title nobody holds")
    ledger.creating(Entry("demo-lender", "lending", "DEMO_STMARYS", "P2PH-S-l-2", "S", "RIVER"))
    ledger.created("demo-lender", "P2PH-S-l-2", ended.request_id or "")

    code = sweep(app, ledger, "demo-university", "demo-lender")

    out = capsys.readouterr().out
    assert code == 1, out  # something is left
    assert ours(app, UNIVERSITY) == []
    assert ours(app, LENDER) == ["P2PH-S-l-1", "P2PH-S-l-2"]  # the API cannot remove them
    assert f"demo-university: removed: borrowing request {rid} (external id P2PH-S-b-1)" in out
    assert "demo-university: removed: borrowing request" in out.split("P2PH-S-b-1")[1]
    assert (
        "already gone: borrowing request (external id P2PH-S-b-3) of user P2P-TEST-WIN-01: "
        "Alma does not find it" in out
    )
    assert "demo-university: 2 removed, 1 already gone, 0 ended, 0 still there" in out
    assert (
        f"demo-lender: LEFT IN ALMA: lending request {active.request_id} (external id "
        "P2PH-S-l-1) from partner DEMO_STMARYS is still active" in out
    )
    assert "reject it in Alma: Fulfillment > Resource Sharing > Lending Requests" in out
    assert f"demo-lender: ended: lending request {ended.request_id}" in out
    assert [e.external_id for e in ledger.outstanding()] == ["P2PH-S-l-1"]
    # Swept again: only what is still there, and the exit status says so.
    assert sweep(app, ledger, "demo-university", "demo-lender") == 1
    assert "demo-university: nothing left behind" in capsys.readouterr().out


def test_nothing_left_exits_0(app, env, tmp_path, capsys):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    rid = borrowing(app, "P2PH-S-b-1")
    ledger.creating(Entry("demo-university", "borrowing", "P2P-TEST-WIN-01", "P2PH-S-b-1", "S"))
    ledger.created("demo-university", "P2PH-S-b-1", rid)
    assert sweep(app, ledger, "demo-university") == 0
    assert ours(app, UNIVERSITY) == []
    assert sweep(app, ledger, "demo-university") == 0
    assert capsys.readouterr().out.endswith("demo-university: nothing left behind\n")


def test_a_damaged_ledger_line_is_named_and_the_rest_is_swept(app, env, tmp_path, capsys):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.creating(Entry("demo-university", "borrowing", "P2P-TEST-WIN-01", "P2PH-S-b-1", "S"))
    with ledger.path.open("a") as handle:
        handle.write('{"event": "creat\n')
    borrowing(app, "P2PH-S-b-2")
    ledger.creating(Entry("demo-university", "borrowing", "P2P-TEST-WIN-01", "P2PH-S-b-2", "S"))

    code = sweep(app, ledger, "demo-university")

    out = capsys.readouterr().out
    assert code == 1  # what that line recorded is not known
    assert f"ledger {ledger.path} line 2: not JSON" in out
    assert "check that line by hand" in out
    assert ours(app, UNIVERSITY) == []
    assert "demo-university: 1 removed, 1 already gone" in out


class OneInstitutionDown(httpx.BaseTransport):
    """The stand-in, except that one key's calls never connect."""

    def __init__(self, app: StandinApp, key: str) -> None:
        self._inner, self._key = httpx.WSGITransport(app=app), key

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") == f"apikey {self._key}":
            raise httpx.ConnectError("connection refused", request=request)
        return self._inner.handle_request(request)


def test_one_institutions_error_is_reported_and_the_others_are_swept(app, env, tmp_path, capsys):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.creating(Entry("demo-college", "borrowing", "P2P-TEST-01", "P2PH-S-c-1", "S"))
    borrowing(app, "P2PH-S-b-1")
    ledger.creating(Entry("demo-university", "borrowing", "P2P-TEST-WIN-01", "P2PH-S-b-1", "S"))

    code = sweep(
        app,
        ledger,
        "demo-college",
        "demo-university",
        transport=OneInstitutionDown(app, KEYS["demo-college"]),
    )

    out = capsys.readouterr().out
    assert code == 1
    assert "demo-college: could not sweep (GET /almaws/v1/conf/general → no answer" in out
    assert "its 1 request(s) stay in the ledger: run `alma-p2p sweep` again" in out
    assert ours(app, UNIVERSITY) == []
    assert [e.institution for e in ledger.outstanding()] == ["demo-college"]


def test_a_folder_as_the_ledger_is_a_one_line_error(app, env, tmp_path, capsys):
    code = cli.main(["sweep", "--ledger", str(tmp_path)], transport=httpx.WSGITransport(app=app))
    err = capsys.readouterr().err
    assert code == 2
    assert (
        err == f"alma-p2p: the ledger {tmp_path} is a folder; give the ledger file: --ledger FILE\n"
    )
    assert app.request_log == []


def test_a_ledger_given_that_does_not_exist_is_a_one_line_error(app, env, tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    code = cli.main(["sweep", "--ledger", str(missing)], transport=httpx.WSGITransport(app=app))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"alma-p2p: no ledger at {missing}; give the file your runs wrote")
    assert err.count("\n") == 1
    env.setenv("ALMA_LEDGER", str(missing))
    assert cli.main(["sweep"], transport=httpx.WSGITransport(app=app)) == 2
    assert app.request_log == []


@pytest.mark.parametrize(
    "argv",
    [["sweep", "--instituton", "x"], ["sweep", "-k", "x"], ["schema", "--bogus"],
     ["facts", "extra"], ["drift", "a", "b", "--bogus"]],
)  # fmt: skip
def test_unknown_arguments_are_refused_with_the_usage(argv, app, env, capsys, monkeypatch):
    swept = []
    monkeypatch.setattr(cli, "sweep", lambda *a, **k: swept.append(a) or 0)
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: alma-p2p")
    assert "error: unrecognized arguments:" in err
    assert swept == []


def test_the_demo_commands_still_hand_the_rest_to_pytest(monkeypatch):
    handed = []
    monkeypatch.setattr(cli, "_run_against_standin", lambda mode, rest: handed.append(rest) or 0)
    assert cli.main(["record-demo", "-k", "routing"]) == 0
    assert handed == [["-k", "routing"]]


def test_the_sweep_honours_alma_timeout_and_alma_rate(app, env, tmp_path, monkeypatch):
    env.setenv("ALMA_TIMEOUT", "7.5")
    env.setenv("ALMA_RATE", "4")
    made: list[dict[str, object]] = []
    timeouts: list[object] = []

    class Spy(AlmaClient):
        def __init__(self, **kwargs):
            made.append(kwargs)
            super().__init__(**kwargs)

    class Timed(httpx.BaseTransport):
        def handle_request(self, request):
            timeouts.append(request.extensions["timeout"]["read"])
            return httpx.WSGITransport(app=app).handle_request(request)

    monkeypatch.setattr("alma_p2p.connect.AlmaClient", Spy)  # the one client factory
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.creating(Entry("demo-university", "borrowing", "P2P-TEST-WIN-01", "P2PH-S-b-1", "S"))
    assert sweep(app, ledger, "demo-university", transport=Timed()) == 0
    assert [(m["timeout"], m["rate_per_second"]) for m in made] == [(7.5, 4.0)]
    assert timeouts
    assert set(timeouts) == {7.5}


def test_entries_of_an_institution_without_a_profile_are_named(app, env, tmp_path, capsys):
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.creating(Entry("gone-college", "borrowing", "u1", "P2PH-S-g-1", "S"))
    assert sweep(app, ledger) == 1
    out = capsys.readouterr().out
    assert "gone-college: 1 left behind, but no profile 'gone-college'" in out
    assert "demo-university: nothing left behind" in out
