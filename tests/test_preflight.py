"""Live runs check the gateway, the key and its API areas once, before any scenario."""

from __future__ import annotations

import re
import socket

import pytest

from tests.suite_runner import demo_world, institution, run_live

pytestmark = pytest.mark.standin


@pytest.mark.socket  # a real connection, refused: what the harness says when nothing listens
def test_nothing_listening_stops_the_run_on_one_screen(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_live(
        demo_world(), tmp_path, "--institution", "demo-college",
        f"--alma-base-url=http://127.0.0.1:{port}/almaws/v1", over="network",
    )  # fmt: skip
    assert run.returncode == 4
    assert "Alma cannot be used as configured; nothing was run" in run.output
    assert "GET /almaws/v1/conf/general → no answer" in run.output
    assert run.outcomes == {}


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
