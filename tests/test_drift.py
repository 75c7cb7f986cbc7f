"""Drift after an Alma release: a new recording against a world changed the way releases do."""

from __future__ import annotations

import json

import pytest

from alma_p2p import cli
from alma_p2p.alma.models import User
from alma_p2p.drift import compare, contract_paths, template
from tests.suite_runner import REPO, demo_world, institution, record_of, run_live

pytestmark = pytest.mark.standin


def test_templates_and_contract_paths():
    assert template("/users/P2P-1/resource-sharing-requests/9") == (
        "/users/{}/resource-sharing-requests/{}"
    )
    assert template("/conf/libraries/WIN/locations") == "/conf/libraries/{}/locations"
    paths = contract_paths(User)
    assert {"rs_library[].code.value", "campus_code.value", "primary_id"} <= paths


def test_a_release_that_renames_a_field_wraps_a_value_and_moves_a_job(tmp_path, capsys):
    world = demo_world()
    world["release_quirks"] = {
        "rename": {"fulfillment_unit": "fulfilment_unit"},
        "wrap_in_value": ["status"],  # partner status: "ACTIVE" → {"value": "ACTIVE"}
    }
    job = record_of(
        institution(world, "01DEMO_STMARYS")["jobs"], "name", "Expired Resource Sharing Requests"
    )
    job["schedule"] = {"value": "DAILY_0400", "desc": "Every day at 04:00"}
    recording = tmp_path / "recording"

    run = run_live(
        world,
        tmp_path,
        "--institution",
        "demo-university",
        f"--cassettes-dir={recording}",
        mode="record",
    )
    assert run.returncode == 1  # the release breaks scenarios; the recording is kept anyway
    assert (recording / "demo-university" / "configuration").is_dir()

    drift = compare(REPO / "cassettes", recording, ["demo-university"])
    shapes = {(s.endpoint, s.field, s.change): s.breaking for s in drift.shapes}
    assert shapes[("/conf/libraries/{}/locations/{}", "fulfillment_unit.value", "removed")]
    assert not shapes[("/conf/libraries/{}/locations/{}", "fulfilment_unit.value", "added")]
    assert shapes[("/partners", "partner[].partner_details.status", "type")]
    values = {(v.resource, v.field): (v.before, v.after) for v in drift.values}
    assert values[("/conf/jobs", "job[S1000000000001].schedule.desc")] == (
        '"Every day at 02:00"',
        '"Every day at 04:00"',
    )

    out = tmp_path / "drift.json"
    code = cli.main(
        ["drift", str(REPO / "cassettes"), str(recording), "--institution", "demo-university",
         "--json", str(out)]
    )  # fmt: skip
    assert code == 1
    assert "BREAKING for the harness's contract" in capsys.readouterr().out
    assert json.loads(out.read_text())["breaking"] is True


def test_an_unchanged_alma_has_no_drift(capsys):
    assert cli.main(["drift", str(REPO / "cassettes"), str(REPO / "cassettes")]) == 0
    assert "no breaking change**: 0 shape change(s), 0 configuration" in capsys.readouterr().out
