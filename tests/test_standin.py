"""The Alma stand-in, exercised through the harness's own client."""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys
from typing import Any

import httpx
import pytest
import yaml

from alma_p2p import payloads
from alma_p2p.alma import (
    AlmaBadRequest,
    AlmaClient,
    AlmaDailyLimitReached,
    AlmaForbidden,
    AlmaUnauthorized,
)
from alma_p2p.standin import StandinApp, World, WorldError, load_world, serve
from alma_p2p.standin.worlds import DEMO_WORLD as PACKAGED_DEMO_WORLD

DEMO = PACKAGED_DEMO_WORLD
RAW = yaml.safe_load(DEMO.read_text())


def world(mutate: Any = None) -> World:
    data = copy.deepcopy(RAW)
    if mutate:
        mutate(data)
    return World.model_validate(data)


def inst(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in data["institutions"] if i["code"] == code)


def client(app: StandinApp, key: str = "demo-university-key") -> AlmaClient:
    return AlmaClient(
        base_url="http://standin.test/almaws/v1",
        api_key=key,
        transport=httpx.WSGITransport(app=app),
        backoff=0,
        rate_per_second=None,
    )


@pytest.fixture
def app() -> StandinApp:
    return StandinApp(world())


# -- shapes ---------------------------------------------------------------------


def test_general_names_institution_and_environment(app):
    general = client(app).general()
    assert general.institution.value == "01DEMO_STMARYS"
    assert general.is_sandbox


def test_libraries_use_alma_shapes(app):
    raw = client(app).get_json("/conf/libraries")
    assert raw["total_record_count"] == 3
    win = raw["library"][0]
    assert win["resource_sharing"] is True
    assert win["campus"] == {"value": "WINONA", "desc": "WINONA"}
    assert win["link"] == "http://standin.test/almaws/v1/conf/libraries/WIN"


def test_a_single_location_carries_its_circ_desks_and_fulfillment_unit(app):
    location = client(app).location("WIN", "CLSBORR")
    assert location.fulfillment_unit.value == "WIN_FU"
    assert location.suppress_from_publishing is False
    desk = location.circ_desk[0]
    assert (desk.circ_desk_code, desk.check_in, desk.check_out, desk.reshelve) == (
        "RS_DESK",
        True,
        True,
        True,
    )
    listed = client(app).get_json("/conf/libraries/WIN/locations")["location"][0]
    assert "circ_desk" not in listed


def test_users_carry_rs_library_or_leave_the_key_out(app):
    alma = client(app)
    raw = alma.get_json("/users/P2P-TEST-WIN-01")
    assert raw["rs_library"] == [{"code": {"value": "WIN", "desc": "Winona Campus Library"}}]
    assert alma.user("P2P-TEST-WIN-01").rs_library_codes == ("WIN",)
    college = client(app, "demo-college-key")
    assert "rs_library" not in college.get_json("/users/P2P-TEST-COL-01")
    assert college.user("P2P-TEST-COL-01").rs_library_codes == ()
    lender = client(app, "demo-lender-key")
    assert lender.get_json("/users/P2P-TEST-RIV-01")["rs_library"] == []
    assert lender.user("P2P-TEST-RIV-01").rs_library_codes == ()


def test_users_list_is_brief_and_paged(app):
    alma = client(app)
    page = alma.users(limit=2, offset=0)
    assert page.total_record_count == 10
    assert len(page.records) == 2
    assert alma.users(q="campus_code~TWINCITIES").total_record_count == 3
    with pytest.raises(AlmaBadRequest) as caught:
        alma.users(limit=500)
    assert caught.value.codes == ("40166411",)


def test_partner_shapes(app):
    alma = client(app)
    raw = alma.get_json("/partners/DEMO_LENDER")["partner_details"]
    assert raw["status"] == "ACTIVE"
    assert raw["locate_profile"] == {"value": "DEMO_LENDER", "desc": "DEMO_LENDER"}
    partner = alma.partner("DEMO_LENDER")
    assert partner.partner_details.lending_workflow == "P2P_LEND"
    assert partner.partner_details.profile_details.protocol.expiry_time == 4  # type: ignore[union-attr]
    assert [p.code for p in alma.partners()] == ["DEMO_LENDER", "DEMO_COLLEGE"]


def test_item_policy_table_is_scoped_by_library(app):
    assert client(app).code_table("ItemPolicy", scope="WIN").codes() == ("LOAN", "P2P_LOAN")
    assert client(app).code_table("ItemPolicy", scope="LAW").codes() == ("LOAN",)


def test_jobs_are_read(app):
    jobs = client(app).jobs()
    assert jobs[0].name == "Expired Resource Sharing Requests"
    assert jobs[0].schedule.desc == "Every day at 02:00"


def test_item_by_barcode_follows_alma_302(app):
    alma = client(app)
    item = alma.item_by_barcode("RSTEMP-WIN-0001")
    assert item.item_data.location.value == "CLSBORR"
    assert item.bib_data.suppress_from_publishing is True
    assert alma.stats.calls == 2
    assert app.request_log[0].status == 302


# -- errors, keys, limits ---------------------------------------------------------


def test_unknown_records_give_alma_codes(app):
    alma = client(app)
    for call, code in (
        (lambda: alma.user("nobody"), "401861"),
        (lambda: alma.partner("NOPE"), "402118"),
        (lambda: alma.item_by_barcode("NOPE"), "401689"),
    ):
        with pytest.raises(AlmaBadRequest) as caught:
            call()
        assert caught.value.codes == (code,)
        assert caught.value.tracking_ids


def test_unknown_key_is_forbidden(app):
    # UNVERIFIED(gateway.invalid_key_status): the assumed 403; tests/test_standin_switches.py
    # plays the alternatives.
    with pytest.raises(AlmaForbidden) as caught:
        client(app, "l7xxNOTAKEY").general()
    assert caught.value.status == 403
    assert "l7xxNOTAKEY" not in str(caught.value)


def test_a_key_without_write_permission_cannot_post():
    def read_only(data: dict[str, Any]) -> None:
        areas = inst(data, "01DEMO_STMARYS")["api_keys"][0]["areas"]
        inst(data, "01DEMO_STMARYS")["api_keys"][0]["areas"] = {**areas, "Users": "R"}

    app = StandinApp(world(read_only))
    body = payloads.borrowing_request(title="T", external_id="X-1", pickup_library="WIN")
    with pytest.raises(AlmaUnauthorized) as caught:
        client(app).create_borrowing_request("P2P-TEST-WIN-01", body)
    assert "'Users' API area (read/write)" in str(caught.value)


def test_per_second_threshold_answers_429_and_the_client_retries():
    def threshold_two(data: dict[str, Any]) -> None:
        inst(data, "01DEMO_STMARYS")["per_second_threshold"] = 2

    ticks = itertools.count()
    app = StandinApp(world(threshold_two), clock=lambda: next(ticks) * 0.3)  # 0.3 s apart
    alma = client(app)
    for _ in range(8):
        alma.get_json("/conf/general", cache=False)
    statuses = [entry.status for entry in app.request_log]
    assert 429 in statuses
    assert alma.stats.retries == statuses.count(429)


@pytest.mark.parametrize(
    ("word", "codes"),
    [("DAILY_THRESHOLD", ("DAILY_THRESHOLD",)), ("bare", ()), ("other", ("DAILY_LIMIT",))],
)
def test_a_used_up_daily_allowance_answers_429_and_the_client_stops(word, codes):
    # Whichever way Alma words it (gateway.daily_threshold_code), X-Exl-Api-Remaining 0
    # on a 429 tells the client the day is used up: no retries.
    def allowance_three(data: dict[str, Any]) -> None:
        data["facts"] = {"gateway.daily_threshold_code": word}
        inst(data, "01DEMO_STMARYS")["daily_threshold"] = 3

    app = StandinApp(world(allowance_three))
    alma = client(app)
    for _ in range(3):
        alma.get_json("/conf/general", cache=False)
    assert alma.stats.remaining == 0
    with pytest.raises(AlmaDailyLimitReached) as caught:
        alma.get_json("/conf/general", cache=False)
    assert caught.value.codes == codes
    assert "Run the suite tomorrow" in str(caught.value)
    assert [entry.status for entry in app.request_log] == [200, 200, 200, 429]
    assert alma.stats.retries == 0


def _played(fact_id: str, word: str) -> httpx.Client:
    def playing(data: dict[str, Any]) -> None:
        data["facts"] = {fact_id: word}

    return httpx.Client(
        transport=httpx.WSGITransport(app=StandinApp(world(playing))),
        base_url="http://standin.test/almaws/v1",
        headers={"Authorization": "apikey demo-university-key", "Accept": "application/json"},
    )


def _codes(response: httpx.Response) -> list[str]:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return []
    body = response.json()
    return [e["errorCode"] for e in (body.get("errorList") or {}).get("error", [])]


# Each alternative of the error-code facts, as the stand-in plays it: (status, codes, type).
UNKNOWN_ANSWERS = {
    ("gateway.unknown_path_answer", "/conf/no-such-resource", "GET"): {
        "60101": (404, ["60101"]),
        "html": (404, []),
        "400": (400, ["402119"]),
    },
    ("gateway.unsupported_method_answer", "/conf/general", "PATCH"): {
        "60101": (400, ["60101"]),
        "405": (405, ["60101"]),
        "unauthorized": (400, []),  # the XML UNAUTHORIZED answer
    },
    ("lists.invalid_paging_code", "/partners?limit=101", "GET"): {
        "40166411": (400, ["40166411"]),
        "clamped": (200, []),
        "401666": (400, ["401666"]),
    },
    ("library.unknown_library_code", "/conf/libraries/NOPE", "GET"): {
        "402119": (400, ["402119"]),
        "40166411": (400, ["40166411"]),
        "404": (404, ["402119"]),
    },
    ("location.unknown_location_code", "/conf/libraries/WIN/locations/NOPE", "GET"): {
        "402119": (400, ["402119"]),
        "40166411": (400, ["40166411"]),
        "404": (404, ["402119"]),
    },
    ("code_table.unknown_table_code", "/conf/code-tables/NoSuchTable", "GET"): {
        "40166411": (400, ["40166411"]),
        "402119": (400, ["402119"]),
        "empty": (200, []),
    },
    ("item.unknown_item_code", "/bibs/1/holdings/2/items/1", "GET"): {
        "401689": (400, ["401689"]),
        "402504": (400, ["402504"]),
        "40166450": (400, ["40166450"]),
    },
}


@pytest.mark.parametrize(
    ("fact_id", "path", "method", "word"),
    [(*key, word) for key, words in UNKNOWN_ANSWERS.items() for word in words],
)
def test_the_stand_in_plays_each_alternative_of_an_error_code(fact_id, path, method, word):
    response = _played(fact_id, word).request(method, path)
    status, codes = UNKNOWN_ANSWERS[(fact_id, path, method)][word]
    assert (response.status_code, _codes(response)) == (status, codes), response.text
    if (fact_id, word) == ("gateway.unknown_path_answer", "html"):
        assert response.headers["content-type"].startswith("text/html")
    if word == "unauthorized":
        assert "<errorCode>UNAUTHORIZED</errorCode>" in response.text


def test_every_switch_of_an_error_code_fact_is_exercised():
    from alma_p2p.facts import load_register

    for fact_id, _, _ in UNKNOWN_ANSWERS:
        words = {w for (f, _, _), ws in UNKNOWN_ANSWERS.items() if f == fact_id for w in ws}
        assert words == set(load_register().fact(fact_id).switches), fact_id


def test_remaining_calls_count_down(app):
    alma = client(app)
    alma.general()
    first = alma.stats.remaining
    alma.libraries()
    assert first is not None
    assert alma.stats.remaining == first - 1


def test_outside_the_gateway_is_an_html_page(app):
    response = httpx.Client(transport=httpx.WSGITransport(app=app)).get("http://s/")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


# -- borrowing and lending rules ----------------------------------------------------


def borrow(app: StandinApp, user: str, title: str, owner: str | None = None, ext: str = "E-1"):
    body = payloads.borrowing_request(
        title=title, external_id=ext, pickup_library="WIN", owner=owner
    )
    return client(app).create_borrowing_request(user, body)


def test_owner_comes_from_the_patron(app):
    assert borrow(app, "P2P-TEST-TC-01", "Unheld one").owner == "TC"


@pytest.mark.parametrize(
    ("user", "owner", "title", "code"),
    [
        ("P2P-TEST-WIN-01", "TC", "Unheld", "401608"),
        ("P2P-TEST-NORS-01", None, "Unheld", "401768"),
        ("P2P-TEST-WIN-01", None, "a history of  WINONA", "401604"),
    ],
)
def test_refusals(app, user, owner, title, code):
    with pytest.raises(AlmaBadRequest) as caught:
        borrow(app, user, title, owner)
    assert caught.value.codes == (code,)


def test_duplicate_and_missing_default_location():
    def no_default(data: dict[str, Any]) -> None:
        inst(data, "01DEMO_STMARYS")["libraries"][1]["borrowing_default_location"] = None

    app = StandinApp(world(no_default))
    borrow(app, "P2P-TEST-WIN-01", "Twice")
    with pytest.raises(AlmaBadRequest) as caught:
        borrow(app, "P2P-TEST-WIN-01", "twice", ext="E-2")
    assert caught.value.codes == ("402362",)
    with pytest.raises(AlmaBadRequest) as caught:
        borrow(app, "P2P-TEST-TC-01", "Anything")
    assert caught.value.codes == ("402039",)


def test_a_request_is_found_by_external_id_and_removed(app):
    alma = client(app)
    created = borrow(app, "P2P-TEST-WIN-01", "Found")
    found = alma.borrowing_request("P2P-TEST-WIN-01", "E-1", by_external_id=True)
    assert found.request_id == created.request_id
    alma.cancel_borrowing_request("P2P-TEST-WIN-01", created.request_id or "")
    with pytest.raises(AlmaBadRequest) as caught:
        alma.borrowing_request("P2P-TEST-WIN-01", "E-1", by_external_id=True)
    assert caught.value.codes == ("40166450",)


LENDING = {
    "Nowhere Held": "LOCATE_FAILED",
    "The Riverbend Almanac": "REJECTED",
    "Atlas of Local Waters": "REJECTED",
    "Digital Rivers Quarterly": "REJECTED",
    "Bridges of Riverbend": "REQUEST_CREATED_LEND",
}


def lend(app: StandinApp, title: str) -> str | None:
    alma = client(app, "demo-lender-key")
    body = payloads.lending_request(
        partner="DEMO_STMARYS", owner="RIVER", title=title, external_id=f"L-{title}"
    )
    created = alma.create_lending_request("DEMO_STMARYS", body)
    return alma.lending_request("DEMO_STMARYS", created.request_id or "").status.value


@pytest.mark.parametrize(("title", "status"), LENDING.items())
def test_lender_locate_and_auto_reject(app, title, status):
    assert lend(app, title) == status


def test_with_the_reject_flags_off_nothing_is_rejected():
    def flags_off(data: dict[str, Any]) -> None:
        inst(data, "01DEMO_LENDER")["libraries"][0]["lending"] = {
            "reject_when_no_available": False,
            "reject_when_no_requestable": False,
            "reject_when_only_electronic": False,
        }

    app = StandinApp(world(flags_off))
    for title in ("The Riverbend Almanac", "Atlas of Local Waters", "Digital Rivers Quarterly"):
        assert lend(app, title) == "REQUEST_CREATED_LEND"


def test_lending_task_list_needs_a_library_and_filters(app):
    lend(app, "Bridges of Riverbend")
    alma = client(app, "demo-lender-key")
    listed = alma.lending_task_list("RIVER", status="REQUEST_CREATED_LEND")
    assert [r.title for r in listed] == ["Bridges of Riverbend"]
    assert alma.lending_task_list("RIVER", status="REJECTED") == ()
    with pytest.raises(AlmaBadRequest) as caught:
        alma.get_json("/task-lists/rs/lending-requests")
    assert caught.value.codes == ("401664",)


# -- world files, server, command ---------------------------------------------------


def test_world_errors_name_the_path(tmp_path):
    data = copy.deepcopy(RAW)
    inst(data, "01DEMO_COLLEGE")["libraries"][0]["locations"][0]["fulfilment_unit"] = "X"
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(WorldError, match=r"institutions\[1\]\.libraries\[0\]\.locations\[0\]"):
        load_world(path)


def test_serve_answers_over_http_on_loopback_and_stops():
    with serve(world()) as standin:
        assert standin.base_url.startswith("http://127.0.0.1:")
        response = httpx.get(
            standin.base_url + "/conf/general",
            headers={"Authorization": "apikey demo-college-key", "Accept": "application/json"},
            timeout=5,
        )
        assert response.json()["institution"]["value"] == "01DEMO_COLLEGE"
        port = standin.port
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/almaws/v1/conf/general", timeout=2)


def test_command_refuses_a_broken_world_in_one_line(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("institutions: []\n")
    proc = subprocess.run(
        [sys.executable, "-m", "alma_p2p.standin.cli", "--world", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("alma-standin: ")


def test_analytics_report_pages_with_a_resumption_token():
    rows = [[f"TOU {i}", "Y"] for i in range(60)]

    def big_report(data: dict[str, Any]) -> None:
        inst(data, "01DEMO_COLLEGE")["analytics_reports"] = {
            "/shared/Demo/Big": {"columns": ["Terms Of Use Name", "Is Active"], "rows": rows}
        }

    app = StandinApp(world(big_report))
    alma = client(app, "demo-college-key")
    read = alma.analytics_report("/shared/Demo/Big", limit=25)
    assert [r["Terms Of Use Name"] for r in read] == [f"TOU {i}" for i in range(60)]
    tokens = [e.query.get("token") for e in app.request_log]
    assert tokens[0] is None
    assert len(tokens) == 3
    assert tokens[1] == tokens[2] is not None
    with pytest.raises(AlmaBadRequest):
        alma.analytics_report("/shared/Demo/Missing")


@pytest.mark.parametrize("word", ["row_list", "nested", "single"])
def test_a_code_table_of_one_row_reads_alike_however_alma_keys_its_rows(word):
    # code_table.row_key: LAW's item policies are one row; the client reads each form.
    raw = _played("code_table.row_key", word).get("/conf/code-tables/ItemPolicy?scope=LAW")
    shape = {"row_list": list, "nested": type(None), "single": dict}[word]
    assert isinstance(raw.json().get("row"), shape)

    def playing(data: dict[str, Any]) -> None:
        data["facts"] = {"code_table.row_key": word}

    alma = client(StandinApp(world(playing)))
    assert alma.code_table("ItemPolicy", scope="LAW").codes() == ("LOAN",)
    assert len(alma.code_table("ItemPolicy", scope="WIN").codes()) > 1


def test_rows_without_flags_and_desks_without_hold_shelf_still_read():
    def playing(data: dict[str, Any]) -> None:
        data["facts"] = {"code_table.shape": "bare", "library.circ_desk_fields": "code_name_only"}

    app = StandinApp(world(playing))
    raw = httpx.Client(transport=httpx.WSGITransport(app=app)).get(
        "http://s/almaws/v1/conf/code-tables/ItemPolicy",
        headers={"Authorization": "apikey demo-university-key", "Accept": "application/json"},
    )
    assert all(set(row) == {"code", "description"} for row in raw.json()["row"])
    alma = client(app)
    assert "LOAN" in alma.code_table("ItemPolicy").codes()
    desks = alma.circ_desks("WIN")
    assert desks
    assert all(d.code and d.has_hold_shelf is None for d in desks)
