"""``alma-p2p calibrate`` against the stand-in, in process: the facts it writes, their
evidence, byte-identical reruns, drift, the sandbox guard, and no secret in the file."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alma_p2p import cli
from alma_p2p.calibrate import PROBES, CalibrationRefused, calibrate
from alma_p2p.calibrate.round_trip_probes import ROUND_TRIP_FACTS
from alma_p2p.facts import (
    CALIBRATED_FILE,
    UNEXPECTED,
    CalibratedFacts,
    FactsError,
    institution_facts,
    load_calibrated,
    load_register,
)
from alma_p2p.report import Readiness, render_html, render_markdown
from alma_p2p.settings import Settings, load_settings
from alma_p2p.standin import StandinApp
from tests.suite_runner import REPO, demo_world, institution, standin_app
from tests.suite_runner import _virtual_time as virtual_time
from tests.test_canary import CANARIES, canary_world

BASE = "http://standin.invalid/almaws/v1"
UNIVERSITY = "01DEMO_STMARYS"
LENDER = "01DEMO_LENDER"


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    folder = tmp_path / "institutions"
    shutil.copytree(REPO / "fixtures" / "institutions", folder)
    return folder


pytestmark = [pytest.mark.usefixtures("on_virtual_time")]


def settings_for(tmp_path: Path, profiles: Path, name: str) -> Settings:
    return load_settings(
        mode="live",
        institutions=(name,),
        base_url=BASE,
        rate=100,  # with the stand-in's per-second threshold lifted (unlimited_rate)
        profiles_dir=profiles,
        ledger=tmp_path / "ledger.jsonl",
    )


def key_of(world: dict[str, Any], code: str) -> str:
    return str(institution(world, code)["api_keys"][0]["key"])


def run(
    world: dict[str, Any],
    tmp_path: Path,
    profiles: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str = "demo-university",
    code: str = UNIVERSITY,
    today: date = date(2026, 11, 26),
) -> tuple[StandinApp, Any, list[str]]:
    monkeypatch.setenv(f"ALMA_API_KEY_{name.upper().replace('-', '_')}", key_of(world, code))
    app = standin_app(world)
    said: list[str] = []
    outcome = calibrate(
        name,
        settings=settings_for(tmp_path, profiles, name),
        transport=httpx.WSGITransport(app=app),
        today=today,
        say=said.append,
    )
    return app, outcome, said


def test_calibrating_the_demo_world_writes_each_answer_with_its_evidence(
    tmp_path, profiles, monkeypatch
):
    world = demo_world()
    app, outcome, said = run(world, tmp_path, profiles, monkeypatch)
    assert outcome.path == profiles / "demo-university" / CALIBRATED_FILE
    facts = load_calibrated(outcome.path)
    assert facts is not None
    assert facts.institution == UNIVERSITY
    register = load_register()
    assert set(facts.facts) == {f.id for f in register}
    got = facts.facts

    env = got["gateway.environment_type_form"]
    assert env.status == "calibrated"
    assert env.value == register.fact("gateway.environment_type_form").assumed
    assert env.date == date(2026, 11, 26)
    assert env.evidence is not None
    assert env.evidence.startswith("GET https://alma.invalid/almaws/v1/conf/general → 200")
    assert '"environment_type": "sandbox"' in env.evidence
    # The demo world plays the register's assumed answer to a wrong key (403).
    invalid = got["gateway.invalid_key_status"]
    assert invalid.value == register.fact("gateway.invalid_key_status").assumed
    assert invalid.evidence is not None
    assert "→ 403" in invalid.evidence
    # A write probe, with the profile's patron without an RS library; nothing left behind.
    no_rs = got["borrowing.no_rs_library_error"]
    assert no_rs.value == register.fact("borrowing.no_rs_library_error").assumed
    assert no_rs.evidence is not None
    assert "→ 400" in no_rs.evidence
    assert "401768" in no_rs.evidence
    assert not [line for line in said if "LEFT IN ALMA" in line]
    # (the Users self-test's POST, which creates nothing, asks whether the key may write)
    posts = [r for r in app.request_log if r.method == "POST" and not r.path.endswith("/test")]
    # Owner left to Alma by a patron of each of two RS libraries (one could be the default).
    assert [r.path for r in posts] == [
        "/almaws/v1/users/P2P-TEST-NORS-01/resource-sharing-requests",
        "/almaws/v1/users/P2P-TEST-TC-01/resource-sharing-requests",
        "/almaws/v1/users/P2P-TEST-WIN-01/resource-sharing-requests",
        # a made-up title, for borrowing.no_partner_holds_outcome
        "/almaws/v1/users/P2P-TEST-WIN-01/resource-sharing-requests",
        # a title a partner holds, for borrowing.send_on_after_locate
        "/almaws/v1/users/P2P-TEST-WIN-01/resource-sharing-requests",
        # a lending request owned by LAW, not an RS library (lending.owner_not_rs_library_code)
        "/almaws/v1/partners/DEMO_LENDER/lending-requests",
        # owned by the patron's library, picked up at the other (borrowing.pickup_other_library)
        "/almaws/v1/users/P2P-TEST-WIN-01/resource-sharing-requests",
        # the excluded patron's, refused (borrowing.excluded_group_refused)
        "/almaws/v1/users/P2P-TEST-ALUM-01/resource-sharing-requests",
    ]
    # The requests Alma created were cancelled and removed.
    deleted = sorted(r.path for r in app.request_log if r.method == "DELETE")
    assert len(deleted) == 5
    assert deleted[0].startswith("/almaws/v1/users/P2P-TEST-TC-01/resource-sharing-requests/")
    for path in deleted[1:]:
        assert path.startswith("/almaws/v1/users/P2P-TEST-WIN-01/resource-sharing-requests/")
    sent = got["borrowing.no_partner_holds_outcome"]
    assert sent.value == register.fact("borrowing.no_partner_holds_outcome").assumed
    assert sent.evidence is not None
    assert "resource-sharing-requests/<request id> → 200" in sent.evidence
    ledger = (tmp_path / "ledger.jsonl").read_text(encoding="utf-8")
    assert '"event": "created"' in ledger
    assert '"event": "removed"' in ledger
    for fact_id in (
        "location.circ_desk_fields",
        "jobs.status_field",
        "jobs.schedule_desc_time",
        "partner.expiry_time_field",
        "partner.institution_code_field",
        "item.bib_suppress_field",
        "gateway.probe_body_format",
        "lists.empty_page_shape",
        "lending.reject_status_code",
        "borrowing.request_sent_code",
        "library.unknown_library_code",
        "location.unknown_location_code",
        "gateway.unknown_path_answer",
        "borrowing.owner_when_omitted",
        "lists.invalid_paging_code",
        "code_table.unknown_table_code",
        "analytics.unknown_report_code",
        "jobs.instances_newest_first",
        "library.circ_desk_fields",
        "gateway.general_institution_code",
        "gateway.general_shape",
        "code_table.shape",
        "code_table.row_key",
        "jobs.documented_shape",
        "jobs.instance_shape",
        "patron.no_rs_library_shape",
        "borrowing.received_status_code",
        "lending.final_status_codes",
        "borrowing.cancelled_status_code",
        "item.unknown_item_code",
        "jobs.run_status_codes",
        "jobs.failed_run_status",
        "staff.fulfillment_operator_role",
        "staff.role_scope_library",
        "staff.circ_desk_parameter",
        "borrowing.temp_bib_suppressed",
        "analytics.rs_terms_of_use",
        "gateway.unsupported_method_answer",
        "lending.owner_not_rs_library_code",
        "borrowing.pickup_other_library",
        "borrowing.requester_form",
        "gateway.sandbox_per_second_threshold",
        "analytics.xml_shape",
    ):
        entry = got[fact_id]
        assert entry.status == "calibrated", (fact_id, entry)
        assert entry.value == register.fact(fact_id).assumed, (fact_id, entry)
    # What cannot be asked stays visibly assumed, with why.
    daily = got["gateway.daily_threshold_code"]
    assert daily.status == "assumed"
    assert daily.why is not None
    assert daily.why.startswith("cannot be probed")
    unauthorized = got["gateway.unauthorized_as_xml"]
    assert unauthorized.status == "assumed"
    assert unauthorized.why is not None
    assert "every API area" in unauthorized.why
    # Every fact that can be probed has a probe: none is left "not yet probed".
    not_yet = [i for i, f in got.items() if f.why and f.why.startswith("not yet probed")]
    assert not_yet == []


def test_every_fact_that_can_be_probed_has_a_probe():
    """A fact the register marks read or write-with-test-data is asked by calibration: by a
    probe of the registry, or by the round trip (which needs the lending member's key)."""
    asked = set(PROBES) | set(ROUND_TRIP_FACTS)
    unasked = [f.id for f in load_register() if f.probe_safety != "none" and f.id not in asked]
    assert unasked == []
    assert set(asked) <= {f.id for f in load_register()}


def test_a_second_calibration_of_an_unchanged_alma_changes_nothing(tmp_path, profiles, monkeypatch):
    world = demo_world()
    _, first, _ = run(world, tmp_path, profiles, monkeypatch)
    before = first.path.read_bytes()
    # Another day, a fresh stand-in (new tracking ids, a new run token): same bytes.
    _, second, said = run(world, tmp_path, profiles, monkeypatch, today=date(2026, 12, 3))
    assert second.path.read_bytes() == before
    assert second.drift == ()
    assert not [line for line in said if "DRIFT" in line]


def test_a_calibrated_value_that_changes_is_drift_and_the_file_follows_alma(
    tmp_path, profiles, monkeypatch
):
    world = demo_world()
    run(world, tmp_path, profiles, monkeypatch)
    institution(world, UNIVERSITY)["no_rs_library_error"] = "401607"
    _, outcome, said = run(world, tmp_path, profiles, monkeypatch, today=date(2026, 12, 3))
    register = load_register()
    alternative = register.fact("borrowing.no_rs_library_error").alternatives[0].value
    entry = load_calibrated(outcome.path).facts["borrowing.no_rs_library_error"]  # type: ignore[union-attr]
    assert entry.value == alternative
    assert entry.date == date(2026, 12, 3)
    assert len(outcome.drift) == 1
    assert said == [
        "demo-university: DRIFT borrowing.no_rs_library_error: was "
        "'401768 \"Patron is not affiliated with a resource sharing library\"' on 2026-11-26, "
        f"Alma now shows {alternative!r}"
    ]


def test_the_command_exits_1_on_drift_and_0_when_alma_agrees(
    tmp_path, profiles, monkeypatch, capsys
):
    world = demo_world()
    monkeypatch.setenv("ALMA_PROFILES_DIR", str(profiles))
    monkeypatch.setenv("ALMA_BASE_URL", BASE)
    monkeypatch.setenv("ALMA_RATE", "100")  # the stand-in's threshold is lifted; no need to wait
    monkeypatch.setenv("ALMA_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.setenv("ALMA_API_KEY_DEMO_UNIVERSITY", key_of(world, UNIVERSITY))

    def command() -> int:
        app = standin_app(world)
        return cli.calibrate("demo-university", transport=httpx.WSGITransport(app=app))

    assert command() == 0
    assert command() == 0
    institution(world, UNIVERSITY)["no_rs_library_error"] = "401607"
    assert command() == 1
    out = capsys.readouterr().out
    assert "DRIFT borrowing.no_rs_library_error" in out
    assert "facts calibrated" in out
    assert "still assumed" in out


def test_production_is_refused_before_anything_but_conf_general(tmp_path, profiles, monkeypatch):
    world = demo_world()
    institution(world, UNIVERSITY)["environment_type"] = "production"
    with pytest.raises(CalibrationRefused) as refused:
        run(world, tmp_path, profiles, monkeypatch)
    message = str(refused.value)
    assert "environment_type='production'" in message
    assert "sandbox API key" in message
    assert not (profiles / "demo-university" / CALIBRATED_FILE).exists()
    assert not (tmp_path / "ledger.jsonl").exists()


def test_production_sends_only_conf_general(tmp_path, profiles, monkeypatch):
    world = demo_world()
    institution(world, UNIVERSITY)["environment_type"] = "production"
    monkeypatch.setenv("ALMA_API_KEY_DEMO_UNIVERSITY", key_of(world, UNIVERSITY))
    app = standin_app(world)
    with pytest.raises(CalibrationRefused):
        calibrate(
            "demo-university",
            settings=settings_for(tmp_path, profiles, "demo-university"),
            transport=httpx.WSGITransport(app=app),
        )
    assert [(r.method, r.path) for r in app.request_log] == [("GET", "/almaws/v1/conf/general")]


def test_a_key_of_another_institution_is_refused(tmp_path, profiles, monkeypatch):
    world = demo_world()
    monkeypatch.setenv("ALMA_API_KEY_DEMO_UNIVERSITY", key_of(world, LENDER))
    app = standin_app(world)
    with pytest.raises(CalibrationRefused) as refused:
        calibrate(
            "demo-university",
            settings=settings_for(tmp_path, profiles, "demo-university"),
            transport=httpx.WSGITransport(app=app),
        )
    assert f"reaches institution {LENDER!r}" in str(refused.value)
    assert f"profile says {UNIVERSITY!r}" in str(refused.value)
    # /conf/general and the self-test that names the institution's code: reads only.
    assert [(r.method, r.path) for r in app.request_log] == [
        ("GET", "/almaws/v1/conf/general"),
        ("GET", "/almaws/v1/conf/test"),
    ]


def test_no_key_and_no_patron_value_reaches_the_facts_file(tmp_path, profiles, monkeypatch):
    world = canary_world()
    for name, code in (("demo-university", UNIVERSITY), ("demo-lender", LENDER)):
        _, outcome, _ = run(world, tmp_path, profiles, monkeypatch, name=name, code=code)
        text = outcome.path.read_text(encoding="utf-8")
        assert [c for c in CANARIES if c in text] == []
        # The key did travel with every call the evidence shows.
        assert "calibrated" in text
        assert key_of(world, code) not in text


def test_lending_write_probe_records_the_not_held_outcome(tmp_path, profiles, monkeypatch):
    app, outcome, said = run(demo_world(), tmp_path, profiles, monkeypatch, "demo-lender", LENDER)
    entry = load_calibrated(outcome.path).facts["lending.not_held_outcome"]  # type: ignore[union-attr]
    # The stand-in plays the AlmaAPITK capture: no match is LOCATE_FAILED at once.
    assert entry.value == load_register().fact("lending.not_held_outcome").assumed
    assert entry.evidence is not None
    assert entry.evidence.startswith("POST https://alma.invalid/almaws/v1/partners/DEMO_STMARYS/")
    assert '"value": "LOCATE_FAILED"' in entry.evidence
    timing = load_calibrated(outcome.path).facts["lending.auto_reject_timing"]  # type: ignore[union-attr]
    assert timing.value == load_register().fact("lending.auto_reject_timing").assumed
    assert timing.evidence is not None
    assert '"value": "REJECTED"' in timing.evidence
    # not held, all on loan (auto-reject timing), a made-up title (task list), the held
    # all-on-loan title again (locate by title), and two borrowing requests of its test
    # patron without an RS library (borrowing.owner_without_rs_library, single library)
    posts = [r for r in app.request_log if r.method == "POST" and not r.path.endswith("/test")]
    assert len(posts) == 6
    alone = load_calibrated(outcome.path).facts["borrowing.owner_without_rs_library"]  # type: ignore[union-attr]
    assert alone.value == load_register().fact("borrowing.owner_without_rs_library").assumed
    by_title = load_calibrated(outcome.path).facts["lending.locate_by_title"]  # type: ignore[union-attr]
    assert by_title.status == "calibrated", by_title
    assert by_title.value == load_register().fact("lending.locate_by_title").assumed
    assert by_title.evidence is not None
    assert '"mms_id": "99' in by_title.evidence
    listing = load_calibrated(outcome.path).facts["lending.task_list_includes_completed"]  # type: ignore[union-attr]
    assert listing.value == load_register().fact("lending.task_list_includes_completed").assumed
    assert listing.evidence is not None
    assert '"listed": true' in listing.evidence
    # Alma cannot cancel a lending request; a LOCATE_FAILED one is ended, nothing is left.
    assert not [line for line in said if "LEFT IN ALMA" in line]


def test_the_facts_view_prefers_the_calibrated_value(tmp_path, profiles, monkeypatch):
    world = demo_world()
    institution(world, UNIVERSITY)["no_rs_library_error"] = "401607"
    run(world, tmp_path, profiles, monkeypatch)
    facts = institution_facts(profiles, "demo-university")
    register = load_register()
    assert facts.value("borrowing.no_rs_library_error") == (
        register.fact("borrowing.no_rs_library_error").alternatives[0].value
    )
    assert facts.is_calibrated("borrowing.no_rs_library_error")
    # Not calibrated: the register's assumption.
    assert facts.value("gateway.daily_threshold_code") == (
        register.fact("gateway.daily_threshold_code").assumed
    )
    assert not facts.is_calibrated("gateway.daily_threshold_code")
    # Without a facts file, everything is the register's.
    bare = institution_facts(profiles, "demo-college")
    assert bare.calibrated is None
    assert bare.value("lending.reject_status_code") == "REJECTED"
    with pytest.raises(KeyError, match=r"no fact 'lending\.nope'"):
        bare.value("lending.nope")


def test_a_broken_facts_file_names_itself_and_the_way_out(tmp_path):
    path = tmp_path / CALIBRATED_FILE
    path.write_text(
        yaml.safe_dump({"institution": "X", "facts": {"a.b": {"status": "calibrated"}}}),
        encoding="utf-8",
    )
    with pytest.raises(FactsError) as broken:
        load_calibrated(path)
    assert str(path) in str(broken.value)
    assert "alma-p2p calibrate" in str(broken.value)
    assert "needs value, date and evidence" in str(broken.value)


def test_unexpected_answers_are_recorded_with_what_was_seen(tmp_path, profiles, monkeypatch):
    world = demo_world()
    # A partner whose institution_code is not a string: none of the register's values.
    world["release_quirks"] = {"wrap_in_value": ["institution_code"]}
    _, outcome, _ = run(world, tmp_path, profiles, monkeypatch)
    entry = load_calibrated(outcome.path).facts["partner.institution_code_field"]  # type: ignore[union-attr]
    assert entry.value == UNEXPECTED
    assert entry.seen is not None
    assert entry.seen.startswith("institution_code is {")


def test_the_readiness_report_lists_calibrated_and_assumed_facts(tmp_path, profiles, monkeypatch):
    world = demo_world()
    institution(world, UNIVERSITY)["no_rs_library_error"] = "401607"
    run(world, tmp_path, profiles, monkeypatch)
    readiness = Readiness(
        ["demo-college", "demo-university"],
        [],
        facts={n: institution_facts(profiles, n) for n in ("demo-college", "demo-university")},
    )
    md = render_markdown(readiness, "live")
    total = len(load_register())
    done = sum(
        1 for r in institution_facts(profiles, "demo-university").rows() if r[1] == "calibrated"
    )
    assert f"### Alma facts ({done} of {total} calibrated, {total - done} still assumed)" in md
    assert f"### Alma facts (0 of {total} calibrated, {total} still assumed)" in md
    assert (
        '| `borrowing.no_rs_library_error` | calibrated | 401607 "Resource sharing library '
        '(owner) is missing" | 2026-11-26 |' in md
    )
    assert "| `gateway.daily_threshold_code` | assumed |" in md
    assert "not calibrated: no alma-facts.yaml (run alma-p2p calibrate)" in md
    page = render_html(readiness, "live")
    assert "<h3>Alma facts (" in page
    assert "<code>borrowing.no_rs_library_error</code>" in page


FACTS_STEPS = """\
def test_facts(alma_facts, alma_institution):
    print("FACT", alma_institution.name, alma_facts.value("borrowing.no_rs_library_error"))
    print("FACT", alma_institution.name, alma_facts.is_calibrated("jobs.status_field"))
"""


def test_the_plugin_gives_each_institution_its_facts(pytester, tmp_path, profiles, monkeypatch):
    world = demo_world()
    institution(world, UNIVERSITY)["no_rs_library_error"] = "401607"
    run(world, tmp_path, profiles, monkeypatch)
    for name in ("ALMA_MODE", "ALMA_API_KEY", "ALMA_BASE_URL", "ALMA_INSTITUTIONS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_alma_facts_fixture=FACTS_STEPS)
    pytester.mkdir("cassettes")  # a replay run needs its cassettes folder
    result = pytester.runpytest("-s", f"--profiles-dir={profiles}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    register = load_register()
    no_rs = register.fact("borrowing.no_rs_library_error")
    result.stdout.fnmatch_lines(
        [
            f"*FACT demo-college {no_rs.assumed}",
            "*FACT demo-college False",
            f"*FACT demo-university {no_rs.alternatives[0].value}",
            "*FACT demo-university True",
        ]
    )


def test_a_broken_facts_file_stops_the_run_on_one_screen(pytester, profiles, monkeypatch):
    for name in ("ALMA_MODE", "ALMA_API_KEY", "ALMA_BASE_URL", "ALMA_INSTITUTIONS"):
        monkeypatch.delenv(name, raising=False)
    (profiles / "demo-college" / CALIBRATED_FILE).write_text("facts: [1\n", encoding="utf-8")
    pytester.makepyfile(test_alma_facts_fixture=FACTS_STEPS)
    result = pytester.runpytest(f"--profiles-dir={profiles}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*demo-college/alma-facts.yaml*alma-p2p calibrate*"])


def test_a_reject_code_alma_spells_otherwise_is_recorded_as_that_alternative(
    tmp_path, profiles, monkeypatch
):
    # The stand-in's workflow-step tables list the reject code it plays.
    world = demo_world()
    world["facts"] = {"lending.reject_status_code": "REJECT"}
    _, outcome, _ = run(world, tmp_path, profiles, monkeypatch)
    entry = load_calibrated(outcome.path).facts["lending.reject_status_code"]  # type: ignore[union-attr]
    assert entry.value == "REJECT"
    assert entry.evidence is not None
    assert '"code": "REJECT"' in entry.evidence
    final = load_calibrated(outcome.path).facts["lending.final_status_codes"]  # type: ignore[union-attr]
    assert final.value == load_register().fact("lending.final_status_codes").alternatives[0].value
    assert final.seen == "REJECT for REJECTED"


def test_another_reject_code_is_recorded_with_the_code_its_row_describes(
    tmp_path, profiles, monkeypatch
):
    world = demo_world()
    world["facts"] = {"lending.reject_status_code": "other"}
    _, outcome, _ = run(world, tmp_path, profiles, monkeypatch)
    entry = load_calibrated(outcome.path).facts["lending.reject_status_code"]  # type: ignore[union-attr]
    assert entry.value == load_register().fact("lending.reject_status_code").alternatives[-1].value
    assert entry.seen == "LENDER_REJECTED"
    assert entry.evidence is not None
    assert '"description": "Rejected the borrower request"' in entry.evidence


def test_the_command_without_a_key_says_which_variable_to_set(profiles, monkeypatch, capsys):
    for name in ("ALMA_API_KEY", "ALMA_API_KEY_DEMO_UNIVERSITY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALMA_PROFILES_DIR", str(profiles))
    assert cli.main(["calibrate", "--institution", "demo-university"]) == 2
    err = capsys.readouterr().err
    assert "demo-university: no API key; set ALMA_API_KEY_DEMO_UNIVERSITY" in err
    assert not (profiles / "demo-university" / CALIBRATED_FILE).exists()


def test_an_area_the_key_lacks_shows_the_unauthorized_form(tmp_path, profiles, monkeypatch):
    world = demo_world()
    key = institution(world, UNIVERSITY)["api_keys"][0]
    key["areas"] = {k: v for k, v in key["areas"].items() if k != "Analytics"}
    _, outcome, _ = run(world, tmp_path, profiles, monkeypatch)
    entry = load_calibrated(outcome.path).facts["gateway.unauthorized_as_xml"]  # type: ignore[union-attr]
    assert entry.value == load_register().fact("gateway.unauthorized_as_xml").assumed
    assert entry.evidence is not None
    assert entry.evidence.startswith("GET https://alma.invalid/almaws/v1/analytics/test → 400")
    assert "<errorCode>UNAUTHORIZED</errorCode>" in entry.evidence


class Failing(httpx.BaseTransport):
    """The stand-in, except that one path answers 503 (Alma failing, not Alma's answer)."""

    def __init__(self, app: StandinApp, path: str) -> None:
        self.inner = httpx.WSGITransport(app=app)
        self.path = path

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(self.path):
            return httpx.Response(
                503, text="Service Unavailable", headers={"Retry-After": "0"}, request=request
            )
        return self.inner.handle_request(request)


def test_a_failing_alma_is_no_observation_and_keeps_what_was_seen(tmp_path, profiles, monkeypatch):
    world = demo_world()
    _, first, _ = run(world, tmp_path, profiles, monkeypatch)
    before = first.path.read_bytes()
    settings = settings_for(tmp_path, profiles, "demo-university")
    app = standin_app(world)
    again = calibrate(
        "demo-university",
        settings=settings,
        transport=Failing(app, "/conf/jobs"),
        today=date(2026, 12, 3),
        say=lambda _: None,
    )
    assert again.drift == ()
    assert again.path.read_bytes() == before  # the earlier observation stands
    # Without an earlier observation, the fact stays assumed and says why.
    again.path.unlink()
    third = calibrate(
        "demo-university",
        settings=settings,
        transport=Failing(standin_app(world), "/conf/jobs"),
        say=lambda _: None,
    )
    entry = third.calibrated.facts["jobs.status_field"]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "answered HTTP 503; calibrate again later" in entry.why


class Rewriting(httpx.BaseTransport):
    """The stand-in, with the JSON answer of a GET whose path ends with a key rewritten:
    Alma answering in a form the stand-in has no switch for."""

    def __init__(self, app: StandinApp, edits: dict[str, Any]) -> None:
        self._inner = httpx.WSGITransport(app=app)
        self._edits = edits

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        edit = next((e for end, e in self._edits.items() if request.url.path.endswith(end)), None)
        if request.method != "GET" or edit is None:
            return response
        response.read()
        data = json.loads(response.content)
        edit(data)
        return httpx.Response(response.status_code, json=data, request=request)


def calibrated_with(
    edits: dict[str, Any], tmp_path: Path, profiles: Path, monkeypatch: pytest.MonkeyPatch
) -> CalibratedFacts:
    world = demo_world()
    monkeypatch.setenv("ALMA_API_KEY_DEMO_UNIVERSITY", key_of(world, UNIVERSITY))
    outcome = calibrate(
        "demo-university",
        settings=settings_for(tmp_path, profiles, "demo-university"),
        transport=Rewriting(standin_app(world), edits),
        today=date(2026, 11, 26),
        say=lambda _line: None,
    )
    return outcome.calibrated


def _alternative(fact_id: str, index: int) -> str:
    return load_register().fact(fact_id).alternatives[index].value


def _rows_nested(data: dict[str, Any]) -> None:
    data["rows"] = {"row": data.pop("row")}


def _rows_without_flags(data: dict[str, Any]) -> None:
    for row in data["row"]:
        row.pop("enabled", None)
        row.pop("default", None)


def _institution_as_string(data: dict[str, Any]) -> None:
    data["institution"] = data["institution"]["value"]


def _no_alma_url(data: dict[str, Any]) -> None:
    data.pop("alma_url", None)


def _no_next_run(data: dict[str, Any]) -> None:
    for job in data["job"]:
        job.pop("next_run", None)


def _runs_without_submit_date(data: dict[str, Any]) -> None:
    for instance in data["job_instance"]:
        instance.pop("submit_date", None)


def _empty_rs_library(data: dict[str, Any]) -> None:
    data["rs_library"] = [{"code": {"value": ""}}]


def _staff_cancel_renamed(data: dict[str, Any]) -> None:
    for row in data["row"]:
        if row["code"] == "CANCELLED":
            row["code"] = "CANCELLED_BY_STAFF"
    data["row"].append({"code": "CANCELLED", "description": "Cancelled by partner"})


def _job_codes_otherwise(data: dict[str, Any]) -> None:
    data["row"] = [{"code": "SUCCESS", "description": "Success"}, {"code": "ERROR"}]


def _received_renamed(data: dict[str, Any]) -> None:
    for row in data["row"]:
        if row["code"] == "RECEIVED_PHYSICALLY":
            row["code"] = "PHYSICALLY_RECEIVED"


@pytest.mark.parametrize(
    ("path", "edit", "fact_id", "index", "seen"),
    [
        ("/MandatoryLendingWorkflowSteps", _rows_nested, "code_table.row_key", 0, None),
        ("/MandatoryLendingWorkflowSteps", _rows_without_flags, "code_table.shape", 0, None),
        ("/conf/general", _no_alma_url, "gateway.general_shape", 0, None),
        # The sandbox guard reads a plain string as the code (the client's model does).
        ("/conf/general", _institution_as_string, "gateway.general_institution_code", 1, None),
        ("/conf/jobs", _no_next_run, "jobs.documented_shape", 0, "no next_run"),
        ("/systemJobStatus", _job_codes_otherwise, "jobs.run_status_codes", 0, "ERROR, SUCCESS"),
        ("/systemJobStatus", _job_codes_otherwise, "jobs.failed_run_status", 0, "ERROR, SUCCESS"),
        ("/instances", _runs_without_submit_date, "jobs.instance_shape", 0, None),
        ("/users/P2P-TEST-NORS-01", _empty_rs_library, "patron.no_rs_library_shape", 1, None),
        (
            "/MandatoryBorrowingWorkflowSteps",
            _staff_cancel_renamed,
            "borrowing.cancelled_status_code",
            0,
            "CANCELLED_BY_STAFF",
        ),
        (
            "/MandatoryBorrowingWorkflowSteps",
            _received_renamed,
            "borrowing.received_status_code",
            0,
            "PHYSICALLY_RECEIVED",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v else None,
)
def test_a_read_probe_records_the_alternative_alma_shows(
    path, edit, fact_id, index, seen, tmp_path, profiles, monkeypatch
):
    calibrated = calibrated_with({path: edit}, tmp_path, profiles, monkeypatch)
    entry = calibrated.facts[fact_id]
    assert entry.status == "calibrated", entry
    assert entry.value == _alternative(fact_id, index)
    assert entry.seen == seen
    assert entry.evidence


# The received item's own path: GET /items?item_barcode= is redirected there.
TEMP_ITEM = "/items/231000000000199"


def _in_temp_location(data: dict[str, Any]) -> None:
    """The received item as the register assumes it: in the RS library's temporary place."""
    holding = data["holding_data"]
    holding["in_temp_location"] = True
    holding["temp_library"] = {"value": "WIN", "desc": "Winona"}
    holding["temp_location"] = {"value": "CLSBORR", "desc": None}
    holding["temp_policy"] = {"value": "P2P_LOAN", "desc": None}


def _temp_in_another_library(data: dict[str, Any]) -> None:
    _in_temp_location(data)
    data["holding_data"]["temp_library"] = {"value": "TC", "desc": None}


def test_the_temporary_items_place_in_temp_fields_is_the_assumed_value(
    tmp_path, profiles, monkeypatch
):
    edits = {TEMP_ITEM: _in_temp_location}
    calibrated = calibrated_with(edits, tmp_path, profiles, monkeypatch)
    entry = calibrated.facts["borrowing.temp_item_place"]
    assert entry.status == "calibrated", entry
    assert entry.value == load_register().fact("borrowing.temp_item_place").assumed
    assert entry.evidence is not None
    assert '"in_temp_location": true' in entry.evidence


def test_a_temporary_item_in_another_library_is_unexpected(tmp_path, profiles, monkeypatch):
    edits = {TEMP_ITEM: _temp_in_another_library}
    entry = calibrated_with(edits, tmp_path, profiles, monkeypatch).facts[
        "borrowing.temp_item_place"
    ]
    assert entry.value == UNEXPECTED
    assert entry.seen == "temp_library TC, not WIN"


# What each probe's evidence shows it asked.
ITEM_READ = "/items/231000000000199 → 200"  # GET /items?item_barcode= is redirected there
REPORT_READ = "GET https://alma.invalid/almaws/v1/analytics/reports?path="
UNSUPPORTED = "PATCH https://alma.invalid/almaws/v1/users/operation/test → "


@pytest.mark.parametrize(
    ("fact_id", "switch", "index", "asked"),
    [
        # The demo world's received item sits in WIN's borrowing location as its home.
        ("borrowing.temp_item_place", "as_given", 1, ITEM_READ),
        ("borrowing.temp_item_place", "temp_not_in_temp", 0, ITEM_READ),
        ("borrowing.temp_item_place", "permanent", 1, ITEM_READ),
        ("borrowing.temp_bib_suppressed", "suppressed", None, ITEM_READ),
        ("borrowing.temp_bib_suppressed", "not_suppressed", 0, ITEM_READ),
        ("analytics.rs_terms_of_use", "included", None, REPORT_READ),
        ("analytics.rs_terms_of_use", "non_rs_only", 0, REPORT_READ),
        ("gateway.unsupported_method_answer", "60101", None, UNSUPPORTED),
        ("gateway.unsupported_method_answer", "405", 0, UNSUPPORTED),
        ("gateway.unsupported_method_answer", "unauthorized", 1, UNSUPPORTED),
    ],
)
def test_a_probe_records_what_the_standin_plays(
    fact_id, switch, index, asked, tmp_path, profiles, monkeypatch
):
    world = demo_world()
    world["facts"] = {fact_id: switch}
    _, outcome, _ = run(world, tmp_path, profiles, monkeypatch)
    entry = load_calibrated(outcome.path).facts[fact_id]  # type: ignore[union-attr]
    fact = load_register().fact(fact_id)
    assert entry.status == "calibrated", entry
    assert entry.value == (fact.assumed if index is None else fact.alternatives[index].value)
    assert entry.evidence is not None
    assert asked in entry.evidence


def test_a_temporary_bib_whose_item_carries_no_flag_is_not_asked(tmp_path, profiles, monkeypatch):
    world = demo_world()
    world["facts"] = {"item.bib_suppress_field": "absent"}
    _, outcome, _ = run(world, tmp_path, profiles, monkeypatch)
    entry = load_calibrated(outcome.path).facts["borrowing.temp_bib_suppressed"]  # type: ignore[union-attr]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "item.bib_suppress_field" in entry.why


def _calibrate_lender_with_a_waiting_request(
    facts: dict[str, str], tmp_path: Path, profiles: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Calibrate demo-lender after St Mary's asked it for a title it holds on the shelf
    (the probe only looks for a lending request Alma already holds)."""
    world = demo_world()
    world["facts"] = facts
    app = standin_app(world)
    key = key_of(world, LENDER)
    with httpx.Client(
        base_url=BASE,
        transport=httpx.WSGITransport(app=app),
        headers={"Authorization": f"apikey {key}", "Accept": "application/json"},
    ) as alma:
        body = {
            "external_id": "CALIBRATE-WAITING-1",
            "owner": "RIVER",
            "partner": {"value": "DEMO_STMARYS"},
            "format": {"value": "PHYSICAL"},
            "citation_type": {"value": "BK"},
            "title": "Bridges of Riverbend",
        }
        made = alma.post("/partners/DEMO_STMARYS/lending-requests", json=body)
        assert made.status_code == 200, made.text
    monkeypatch.setenv("ALMA_API_KEY_DEMO_LENDER", key)
    outcome = calibrate(
        "demo-lender",
        settings=settings_for(tmp_path, profiles, "demo-lender"),
        transport=httpx.WSGITransport(app=app),
        today=date(2026, 11, 26),
        say=lambda _line: None,
    )
    return load_calibrated(outcome.path).facts["round_trip.requested_resources_lending"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("switch", "index"), [("listed", None), ("not_listed", 0)])
def test_a_waiting_lending_request_on_the_pick_from_shelf_list_or_not(
    switch, index, tmp_path, profiles, monkeypatch
):
    fact_id = "round_trip.requested_resources_lending"
    entry = _calibrate_lender_with_a_waiting_request(
        {fact_id: switch}, tmp_path, profiles, monkeypatch
    )
    fact = load_register().fact(fact_id)
    assert entry.status == "calibrated", entry
    assert entry.value == (fact.assumed if index is None else fact.alternatives[index].value)
    assert entry.evidence is not None
    assert "task-lists/requested-resources?" in entry.evidence
    assert f'"of them listed": {1 if index is None else 0}' in entry.evidence


def test_no_waiting_lending_request_is_not_asked(tmp_path, profiles, monkeypatch):
    _, outcome, _ = run(demo_world(), tmp_path, profiles, monkeypatch, "demo-lender", LENDER)
    entry = load_calibrated(outcome.path).facts["round_trip.requested_resources_lending"]  # type: ignore[union-attr]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "no accepted lending request waits at RIVER" in entry.why


def test_a_key_that_may_not_write_in_users_does_not_ask_the_unsupported_method(
    tmp_path, profiles, monkeypatch
):
    world = demo_world()
    key = institution(world, UNIVERSITY)["api_keys"][0]
    key["areas"] = {**key["areas"], "Users": "R"}
    app, outcome, _ = run(world, tmp_path, profiles, monkeypatch)
    entry = load_calibrated(outcome.path).facts["gateway.unsupported_method_answer"]  # type: ignore[union-attr]
    assert entry.status == "assumed"
    assert entry.why is not None
    assert "may not write in Users" in entry.why
    assert "PATCH" not in {r.method for r in app.request_log}


def test_a_lender_whose_locate_does_not_match_by_title_is_recorded_as_such(
    tmp_path, profiles, monkeypatch
):
    world = demo_world()
    world["facts"] = {"lending.locate_by_title": "identifier"}
    # Nothing is located, so the other lending probes wait out their minute: on a clock of
    # the test's own (tests/suite_runner), not the wall's.
    with virtual_time():
        _, outcome, said = run(world, tmp_path, profiles, monkeypatch, "demo-lender", LENDER)
    entry = outcome.calibrated.facts["lending.locate_by_title"]
    assert entry.status == "calibrated", entry
    assert entry.value == _alternative("lending.locate_by_title", 0)
    assert entry.evidence is not None
    assert '"status": "LOCATE_FAILED"' in entry.evidence
    assert not [line for line in said if "LEFT IN ALMA" in line]


@pytest.mark.parametrize(("word", "index"), [("401608", 0), ("accepted", 1)])
def test_a_lending_owner_that_is_not_an_rs_library_is_recorded_as_alma_answers(
    word, index, tmp_path, profiles, monkeypatch
):
    world = demo_world()
    world["facts"] = {"lending.owner_not_rs_library_code": word}
    _, outcome, _ = run(world, tmp_path, profiles, monkeypatch)
    entry = outcome.calibrated.facts["lending.owner_not_rs_library_code"]
    assert entry.status == "calibrated", entry
    assert entry.value == _alternative("lending.owner_not_rs_library_code", index)
    assert entry.evidence is not None
    assert entry.evidence.startswith(
        "POST https://alma.invalid/almaws/v1/partners/DEMO_LENDER/lending-requests"
    )


@pytest.mark.parametrize(("word", "index"), [("owner_is_pickup", 0), ("refused", 1)])
def test_a_pickup_at_another_rs_library_is_recorded_as_alma_answers(
    word, index, tmp_path, profiles, monkeypatch
):
    world = demo_world()
    world["facts"] = {"borrowing.pickup_other_library": word}
    _, outcome, said = run(world, tmp_path, profiles, monkeypatch)
    entry = outcome.calibrated.facts["borrowing.pickup_other_library"]
    assert entry.status == "calibrated", entry
    assert entry.value == _alternative("borrowing.pickup_other_library", index)
    assert entry.evidence is not None
    assert "/users/P2P-TEST-WIN-01/resource-sharing-requests" in entry.evidence
    assert not [line for line in said if "LEFT IN ALMA" in line]


@pytest.mark.parametrize(
    ("word", "index"), [("only_library", None), ("refused", 1), ("owner_refused", 2)]
)
def test_a_patron_without_rs_library_at_a_single_library_institution_is_recorded(
    word, index, tmp_path, profiles, monkeypatch
):
    world = demo_world()
    world["facts"] = {"borrowing.owner_without_rs_library": word}
    _, outcome, said = run(world, tmp_path, profiles, monkeypatch, "demo-college", "01DEMO_COLLEGE")
    entry = outcome.calibrated.facts["borrowing.owner_without_rs_library"]
    assert entry.status == "calibrated", entry
    fact = load_register().fact("borrowing.owner_without_rs_library")
    assert entry.value == (fact.assumed if index is None else _alternative(fact.id, index))
    assert entry.evidence is not None
    assert "/users/P2P-TEST-COL-01/resource-sharing-requests" in entry.evidence
    assert not [line for line in said if "LEFT IN ALMA" in line]


def test_a_borrowing_request_without_requester_is_recorded_as_null(tmp_path, profiles, monkeypatch):
    world = demo_world()
    world["facts"] = {"borrowing.requester_form": "null"}
    _, outcome, _ = run(world, tmp_path, profiles, monkeypatch)
    entry = outcome.calibrated.facts["borrowing.requester_form"]
    assert entry.status == "calibrated", entry
    assert entry.value == _alternative("borrowing.requester_form", 0)
    assert entry.evidence is not None
    assert '"requester": null' in entry.evidence
    # The assumed form shows the test patron by a placeholder, not by their id.
    _, again, _ = run(demo_world(), tmp_path, profiles, monkeypatch)
    assumed = again.calibrated.facts["borrowing.requester_form"]
    assert assumed.value == load_register().fact("borrowing.requester_form").assumed
    assert assumed.evidence is not None
    assert '"value": "<test patron>"' in assumed.evidence
    assert "P2P-TEST" not in assumed.evidence.split("\n", 1)[1]
