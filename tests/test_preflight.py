"""Live runs check the gateway, the key and its API areas once, before any scenario."""

from __future__ import annotations

import re
import socket

import pytest

from alma_p2p.cli import demo_environment
from alma_p2p.settings import api_key_variable
from alma_p2p.standin import StandinApp, World
from alma_p2p.suite import FEATURES
from tests import faults
from tests.suite_runner import (
    STANDIN_BASE_URL,
    STANDIN_PER_SECOND,
    TransportPlugin,
    demo_world,
    institution,
    run_live,
    run_pytest,
)

pytestmark = pytest.mark.standin


@pytest.mark.socket  # a real connection, refused: what the harness says when nothing listens
def test_nothing_listening_is_alma_unreachable_not_a_configuration_fault(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_live(
        demo_world(), tmp_path, "--institution", "demo-college",
        f"--alma-base-url=http://127.0.0.1:{port}/almaws/v1", over="network",
    )  # fmt: skip
    assert run.returncode == 1
    assert re.search(
        r"^demo-college: \d+ scenario\(s\) error \(Alma unreachable\): it did not answer "
        r"preflight \(GET /almaws/v1/conf/general → no answer: ConnectError",
        run.output,
        re.MULTILINE,
    ), run.output[-3000:]
    assert "check ALMA_BASE_URL and the network" in run.output
    assert set(run.outcomes.values()) == {"failed", "skipped"}  # a person's checks still run
    readiness = (tmp_path / "reports" / "readiness.md").read_text(encoding="utf-8")
    assert "**error**" in readiness
    assert "**fail**" not in readiness


def test_preflight_retries_like_any_read(tmp_path):
    # Five per-second 429s in a row on /conf/general: two tries (as preflight once made)
    # would have refused the run.
    mix = faults.Faults(leading_429s=5)

    run = run_live(demo_world(), tmp_path, "--institution", "demo-college", "-k", "partner",
                   transport=mix)  # fmt: skip

    assert run.returncode == 0, run.output[-3000:]
    assert mix.by_method["429", "GET"] == 5
    assert "passed" in run.outcomes.values()
    assert set(run.outcomes.values()) <= {"passed", "skipped"}


def _run_with_keys(tmp_path, swap: dict[str, str], *args: str, facts=None):
    """The live suite in process, with each profile's key taken from another institution
    (``swap``: profile name → the institution code whose key it gets)."""
    world = demo_world()
    world["facts"] = dict(facts or {})
    for inst in world["institutions"]:
        inst["per_second_threshold"] = STANDIN_PER_SECOND
    parsed = World.model_validate(world)
    keys = {i.code: i.api_keys[0].key for i in parsed.institutions if i.api_keys}
    env = demo_environment(STANDIN_BASE_URL, keys)
    for name, code in swap.items():
        env[api_key_variable(name)] = keys[code]
    env["ALMA_RETRY_BACKOFF"] = "0"
    app = StandinApp(parsed)
    scratch = tmp_path / "cwd"
    scratch.mkdir()
    run = run_pytest(
        [str(FEATURES), "--alma-mode=live", "-p", "no:cacheprovider",
         f"--alma-report-dir={tmp_path / 'reports'}", f"--alma-ledger={tmp_path / 'ledger'}",
         *args],
        cwd=scratch, env=env, plugins=[TransportPlugin(app)],
    )  # fmt: skip
    return run, app


def test_a_key_of_another_institution_stops_the_run_before_any_write(tmp_path):
    run, app = _run_with_keys(
        tmp_path, {"demo-college": "01DEMO_STMARYS"}, "--institution", "demo-college"
    )

    assert run.returncode == 4, run.stdout[-3000:]
    assert (
        "demo-college: the API key belongs to institution 01DEMO_STMARYS, but the profile "
        "is for 01DEMO_COLLEGE (institution.code in demo-college/profile.yaml); nothing was "
        "sent, so nothing was written to 01DEMO_STMARYS. Set ALMA_API_KEY_DEMO_COLLEGE (or "
        "ALMA_API_KEY) to a key of 01DEMO_COLLEGE's sandbox"
    ) in run.stdout
    assert "nothing was run" in run.stdout
    # /conf/general and the self-test naming the institution's code (UNVERIFIED
    # gateway.general_institution_code), and nothing else: above all, no POST.
    assert [(e.method, e.path) for e in app.request_log] == [
        ("GET", "/almaws/v1/conf/general"),
        ("GET", "/almaws/v1/conf/test"),
    ]


def test_a_key_of_another_institution_is_named_by_code_when_alma_gives_its_name(tmp_path):
    # gateway.general_institution_code=name: /conf/general's institution.value is the
    # name; the self-test's "institutionCode: X" names the code the message needs.
    run, app = _run_with_keys(
        tmp_path,
        {"demo-college": "01DEMO_STMARYS"},
        "--institution",
        "demo-college",
        facts={"gateway.general_institution_code": "name"},
    )

    assert run.returncode == 4, run.stdout[-3000:]
    assert "demo-college: the API key belongs to institution 01DEMO_STMARYS" in run.stdout
    assert [e.method for e in app.request_log] == ["GET", "GET"]


def test_every_institution_with_the_wrong_key_is_named(tmp_path):
    run, app = _run_with_keys(
        tmp_path, {"demo-college": "01DEMO_LENDER", "demo-lender": "01DEMO_COLLEGE"}
    )

    assert run.returncode == 4
    assert "demo-college: the API key belongs to institution 01DEMO_LENDER" in run.stdout
    assert "demo-lender: the API key belongs to institution 01DEMO_COLLEGE" in run.stdout
    assert "demo-university" not in run.stdout.split("nothing was run", 1)[1]
    # The other institution's preflight asks its write permission (a self-test that creates
    # nothing); no scenario ran, so no request was created anywhere.
    assert all(e.method == "GET" or e.path.endswith("/test") for e in app.request_log)
    assert {e.path for e in app.request_log if e.path.endswith("/conf/general")}


def test_a_key_without_an_api_area_is_named_before_anything_runs(tmp_path):
    world = demo_world()
    areas = institution(world, "01DEMO_LENDER")["api_keys"][0]["areas"]
    del areas["Task-lists"]

    run = run_live(world, tmp_path, "--institution", "demo-lender")

    assert run.returncode == 4
    assert "demo-lender: the API key lacks the 'Task-lists' API area (read)" in run.output
    assert run.outcomes == {}
    assert [e.path for e in run.app.request_log] == [
        "/almaws/v1/conf/general",
        "/almaws/v1/users/operation/test",
        "/almaws/v1/partners/operation/test",
        "/almaws/v1/task-lists/test",
    ]


def test_an_html_page_where_json_was_expected_names_the_setting_to_fix(tmp_path):
    # The institution's Alma UI address instead of the API gateway: a web page answers.
    run = run_live(
        demo_world(), tmp_path, "--institution", "demo-college", gateway_path="/discovery"
    )
    assert run.returncode == 4
    assert "this is not an Alma API gateway" in run.output
    assert "Check ALMA_BASE_URL (--alma-base-url) or the profile's region" in run.output
    assert run.outcomes == {}


def test_too_few_calls_left_today_stops_the_run_before_any_scenario(tmp_path):
    world = demo_world()
    institution(world, "01DEMO_COLLEGE")["daily_threshold"] = 60

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.returncode == 4
    assert "demo-college: Alma reports 55 API calls left today (X-Exl-Api-Remaining)" in (
        run.output
    )
    assert "run later, or select fewer scenarios (-k, -m, --institution)" in run.output
    assert run.outcomes == {}
    # The probes, nothing more: a GET per area, and a POST to /users/operation/test
    # because the selection writes borrowing requests.
    assert len(run.app.request_log) == 5


def test_enough_calls_left_for_a_narrow_selection_lets_it_run(tmp_path):
    world = demo_world()
    institution(world, "01DEMO_COLLEGE")["daily_threshold"] = 60

    run = run_live(world, tmp_path, "--institution", "demo-college", "-k", "partner")

    assert run.returncode == 0, run.output
    assert run.outcomes
    assert set(run.outcomes.values()) <= {"passed", "skipped"}
    # The summary's figures add up to what Alma (the stand-in) counted.
    found = re.search(
        r"demo-college: (\d+) Alma calls .*\(and (\d+) preflight calls\); "
        r"Alma reports (\d+) calls left today",
        run.output,
    )
    assert found, run.output
    calls, probes, left = map(int, found.groups())
    assert calls + probes == len(run.app.request_log)
    assert left == 60 - len(run.app.request_log)


def _read_only(world, code, area):
    keys = institution(world, code)["api_keys"][0]
    keys["areas"] = {**keys["areas"], area: "R"}  # a copy: the demo world shares one mapping


def test_a_key_that_cannot_write_where_scenarios_write_is_named_before_anything_runs(tmp_path):
    world = demo_world()
    _read_only(world, "01DEMO_LENDER", "Resource Sharing Partners")

    run = run_live(world, tmp_path, "--institution", "demo-lender")

    assert run.returncode == 4
    assert (
        "demo-lender: the API key may read but not write in the 'Resource Sharing Partners' "
        "API area; the lending scenarios create requests in the sandbox"
    ) in run.output
    assert "-m 'not writes'" in run.output
    assert run.outcomes == {}
    posts = [(e.method, e.path, e.status) for e in run.app.request_log if e.method != "GET"]
    assert posts == [("POST", "/almaws/v1/partners/operation/test", 400)]


def test_leaving_the_writing_scenarios_out_lets_a_read_only_key_run(tmp_path):
    world = demo_world()
    _read_only(world, "01DEMO_LENDER", "Resource Sharing Partners")

    run = run_live(world, tmp_path, "--institution", "demo-lender", "-m", "not writes")

    assert run.returncode == 0, run.output
    assert run.outcomes
    assert all(e.method == "GET" for e in run.app.request_log)


def test_write_permission_is_not_asked_of_a_production_environment(tmp_path):
    world = demo_world()
    institution(world, "01DEMO_COLLEGE")["environment_type"] = "production"
    _read_only(world, "01DEMO_COLLEGE", "Users")

    run = run_live(world, tmp_path, "--institution", "demo-college")

    assert run.returncode == 0, run.output  # the writing scenarios are refused, not failed
    assert all(e.method == "GET" for e in run.app.request_log)


@pytest.mark.parametrize("form", ["xml", "text"])
def test_self_tests_answering_xml_or_text_are_read_by_their_status(tmp_path, form):
    # UNVERIFIED(gateway.probe_body_format): the body is not read, whatever its format.
    world = demo_world()
    world["facts"] = {"gateway.probe_body_format": form}

    run = run_live(world, tmp_path, "--institution", "demo-lender")

    assert run.returncode == 0, run.output[-2000:]
    assert run.outcomes
    assert "/almaws/v1/task-lists/test" in [e.path for e in run.app.request_log]


def test_a_key_without_an_api_area_is_named_whatever_the_self_tests_body(tmp_path):
    world = demo_world()
    world["facts"] = {"gateway.probe_body_format": "xml"}
    del institution(world, "01DEMO_LENDER")["api_keys"][0]["areas"]["Task-lists"]

    run = run_live(world, tmp_path, "--institution", "demo-lender")

    assert run.returncode == 4
    assert "demo-lender: the API key lacks the 'Task-lists' API area (read)" in run.output
    assert run.outcomes == {}


@pytest.mark.parametrize(("environment", "writes"), [("sandbox", True), ("production", False)])
def test_environment_type_as_a_code_field_is_read_by_its_value(tmp_path, environment, writes):
    # UNVERIFIED(gateway.environment_type_form): {"value": "SANDBOX", "desc": ...}.
    world = demo_world()
    world["facts"] = {"gateway.environment_type_form": "code_table"}
    institution(world, "01DEMO_LENDER")["environment_type"] = environment

    run = run_live(world, tmp_path, "--institution", "demo-lender")

    assert run.returncode == 0, run.output[-2000:]
    wrote = any(e.method == "POST" for e in run.app.request_log)
    assert wrote == writes
    if not writes:
        assert "refused to write: Alma reports environment_type='PRODUCTION'" in run.output
