"""The Alma client against httpx.MockTransport: auth, error forms, retries, cache, models."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from alma_p2p.alma import (
    AlmaBadRequest,
    AlmaClient,
    AlmaConfigError,
    AlmaContractError,
    AlmaDailyLimitReached,
    AlmaForbidden,
    AlmaNotFound,
    AlmaRateLimited,
    AlmaServerError,
    AlmaTransportError,
    AlmaUnauthorized,
    NotAnAlmaGateway,
    build_base_url,
)
from alma_p2p.alma.errors import AlmaWriteRefused
from alma_p2p.alma.http import _RetryAfterWait
from alma_p2p.ledger import Ledger
from alma_p2p.writes import WriteSession, guarded

KEY = "l7xxCANARY0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **kw: Any) -> AlmaClient:
    kw.setdefault("backoff", 0)
    kw.setdefault("rate_per_second", None)
    return AlmaClient(
        base_url="https://api-na.hosted.exlibrisgroup.com/almaws/v1",
        api_key=KEY,
        transport=httpx.MockTransport(handler),
        **kw,
    )


def alma_error(
    code: str, message: str, status: int = 400, tracking: str = "E01-1"
) -> httpx.Response:
    body = {
        "errorsExist": True,
        "errorList": {
            "error": [{"errorCode": code, "errorMessage": message, "trackingId": tracking}]
        },
        "result": None,
    }
    return httpx.Response(status, json=body)


def xml_error(code: str, message: str, status: int = 400) -> httpx.Response:
    body = (
        '<web_service_result xmlns="http://com/exlibris/urm/general/xmlbeans">'
        "<errorsExist>true</errorsExist><errorList><error>"
        f"<errorCode>{code}</errorCode><errorMessage>{message}</errorMessage>"
        "<trackingId>E01-X</trackingId></error></errorList></web_service_result>"
    )
    return httpx.Response(status, text=body, headers={"content-type": "application/xml"})


class Recorder:
    """A handler answering from a queue, recording each request."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer


# -- auth and URLs ----------------------------------------------------------------


def test_key_goes_only_in_the_authorization_header():
    rec = Recorder(httpx.Response(200, json={"environment_type": "sandbox"}))
    client(rec).general()
    request = rec.requests[0]
    assert request.headers["authorization"] == f"apikey {KEY}"
    assert request.headers["accept"] == "application/json"
    assert KEY not in str(request.url)
    assert str(request.url) == "https://api-na.hosted.exlibrisgroup.com/almaws/v1/conf/general"


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("na", "api-na.hosted.exlibrisgroup.com"),
        ("eu", "api-eu.hosted.exlibrisgroup.com"),
        ("ap", "api-ap.hosted.exlibrisgroup.com"),
        ("aps", "api-aps.hosted.exlibrisgroup.com"),
        ("ca", "api-ca.hosted.exlibrisgroup.com"),
        ("cn", "api-cn.hosted.exlibrisgroup.com.cn"),
    ],
)
def test_regions(region, host):
    assert build_base_url(region=region) == f"https://{host}/almaws/v1"


def test_explicit_base_url_wins_and_gets_the_api_path():
    assert build_base_url("eu", "http://127.0.0.1:8765") == "http://127.0.0.1:8765/almaws/v1"


def test_bad_region_and_url_are_config_errors():
    with pytest.raises(AlmaConfigError, match="allowed: na, eu, ap, aps, ca, cn"):
        build_base_url(region="us")
    with pytest.raises(AlmaConfigError, match="not an http"):
        build_base_url(base_url="api-na.hosted.exlibrisgroup.com")


def test_path_segments_are_escaped():
    rec = Recorder(alma_error("401861", "not found"))
    with pytest.raises(AlmaBadRequest):
        client(rec).user("a/b c")
    assert rec.requests[0].url.raw_path.startswith(b"/almaws/v1/users/a%2Fb%20c")


# -- error forms ------------------------------------------------------------------


def test_json_error_list_reads_like_alma():
    rec = Recorder(
        alma_error("401861", "User with identifier jdoe was not found.", tracking="E01-7")
    )
    with pytest.raises(AlmaBadRequest) as caught:
        client(rec).user("jdoe")
    error = caught.value
    assert (error.status, error.method, error.codes, error.tracking_ids) == (
        400,
        "GET",
        ("401861",),
        ("E01-7",),
    )
    assert str(error) == (
        "GET /almaws/v1/users/jdoe?view=full → 400 [401861] User with identifier jdoe was not "
        "found. (tracking id E01-7)"
    )


def test_single_error_object_and_wrapped_result_are_read():
    single = httpx.Response(
        400, json={"errorList": {"error": {"errorCode": "401664", "errorMessage": "x"}}}
    )
    wrapped = httpx.Response(
        400, json={"web_service_result": {"errorList": {"error": [{"errorCode": "60101"}]}}}
    )
    for answer, code in ((single, "401664"), (wrapped, "60101")):
        with pytest.raises(AlmaBadRequest) as caught:
            client(Recorder(answer)).get_json("/conf/general")
        assert caught.value.codes == (code,)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, AlmaBadRequest),
        (403, AlmaForbidden),
        (404, AlmaNotFound),
        (429, AlmaRateLimited),
        (500, AlmaServerError),
        (503, AlmaServerError),
    ],
)
def test_status_classes(status, cls):
    with pytest.raises(cls) as caught:
        client(Recorder(alma_error("X1", "m", status)), max_attempts=1).get_json("/conf/general")
    assert caught.value.status == status
    assert KEY not in str(caught.value)


def test_xml_unauthorized_names_area_and_permission():
    answer = xml_error("UNAUTHORIZED", "API-key not defined or not configured to allow this API.")
    with pytest.raises(AlmaUnauthorized) as caught:
        client(Recorder(answer)).user("x")
    assert caught.value.area == "Users"
    assert "'Users' API area (read)" in str(caught.value)
    assert KEY not in str(caught.value)
    alma = client(Recorder(answer))
    with pytest.raises(AlmaUnauthorized) as caught:
        alma.post_json("/partners/X/lending-requests", {})
    assert "'Resource Sharing Partners' API area (read/write)" in str(caught.value)


@pytest.mark.parametrize("status", [200, 401])
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("<html><body>HTTP Status 401 – Unauthorized</body></html>", "text/html"),
        ("<!DOCTYPE html><html></html>", "text/plain"),
    ],
)
def test_an_html_page_is_not_an_alma_gateway(status, text, kind):
    answer = httpx.Response(status, text=text, headers={"content-type": kind})
    with pytest.raises(NotAnAlmaGateway) as caught:
        client(Recorder(answer)).general()
    assert "ALMA_BASE_URL" in str(caught.value)
    assert "region" in str(caught.value)


def test_a_2xx_that_is_not_json_breaks_the_contract():
    with pytest.raises(AlmaContractError, match="not JSON"):
        client(
            Recorder(httpx.Response(200, text="OK", headers={"content-type": "text/plain"}))
        ).general()


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")], ids=["connect", "timeout"]
)
def test_transport_failures_are_typed_and_chained(exc):
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(AlmaTransportError) as caught:
        client(fail, max_attempts=1).general()
    assert caught.value.__cause__ is exc


# -- retries ----------------------------------------------------------------------


def test_get_retries_429_then_succeeds():
    rec = Recorder(
        alma_error("PER_SECOND_THRESHOLD", "too many", 429), httpx.Response(200, json={})
    )
    alma = client(rec)
    alma.general()
    assert len(rec.requests) == 2
    assert alma.stats.retries == 1


def test_get_retries_5xx_until_attempts_run_out():
    rec = Recorder(
        httpx.Response(503), httpx.Response(503), httpx.Response(503), httpx.Response(200, json={})
    )
    client(rec, max_attempts=4).general()
    assert len(rec.requests) == 4
    rec = Recorder(httpx.Response(502))
    with pytest.raises(AlmaServerError):
        client(rec, max_attempts=3).general()
    assert len(rec.requests) == 3


@pytest.mark.parametrize(
    "answer",
    [
        alma_error("DAILY_THRESHOLD", "Daily API threshold exceeded.", 429),
        httpx.Response(429, headers={"X-Exl-Api-Remaining": "0"}),
    ],
    ids=["daily-threshold-code", "no-calls-left"],
)
def test_a_used_up_daily_allowance_is_not_retried_and_says_what_to_do(answer):
    rec = Recorder(answer, httpx.Response(200, json={}))
    with pytest.raises(AlmaDailyLimitReached) as caught:
        client(rec, max_attempts=4).general()
    assert len(rec.requests) == 1  # waiting seconds cannot bring back a day's allowance
    message = str(caught.value)
    assert "daily API call allowance for this institution is used up" in message
    assert "starts again at midnight" in message
    assert KEY not in message


def test_a_per_second_429_with_calls_left_is_still_retried():
    rec = Recorder(
        httpx.Response(429, headers={"X-Exl-Api-Remaining": "5000"}), httpx.Response(200, json={})
    )
    client(rec).general()
    assert len(rec.requests) == 2


@pytest.mark.parametrize("status", [429, 503])
def test_a_post_is_never_retried(status):
    rec = Recorder(httpx.Response(status), httpx.Response(200, json={}))
    alma = client(rec)
    with pytest.raises((AlmaRateLimited, AlmaServerError)):
        alma.post_json("/users/x/resource-sharing-requests", {"title": "t"})
    assert len(rec.requests) == 1


def test_business_errors_are_not_retried():
    rec = Recorder(alma_error("401861", "nope"))
    with pytest.raises(AlmaBadRequest):
        client(rec, max_attempts=4).user("x")
    assert len(rec.requests) == 1


def test_retry_after_is_honoured():
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json={}))
    started = time.monotonic()
    client(rec, backoff=1.0).general()
    assert time.monotonic() - started < 0.5
    error = AlmaRateLimited(429, "GET", "/x")
    error.retry_after = 7.0

    class State:
        class outcome:  # noqa: N801 - mimics tenacity's attribute
            @staticmethod
            def exception() -> Exception:
                return error

    assert _RetryAfterWait(1.0)(State()) == 7.0  # type: ignore[arg-type]
    assert _RetryAfterWait(0)(State()) == 0.0  # type: ignore[arg-type]


def test_throttle_spaces_calls():
    rec = Recorder(lambda r: httpx.Response(200, json={}))
    alma = client(rec, rate_per_second=20)
    started = time.monotonic()
    for _ in range(25):
        alma.get_json("/conf/general", cache=False)
    assert time.monotonic() - started >= 0.2  # 25 calls cannot fit in one 20-per-second window


# -- cache, quota, writes ---------------------------------------------------------


def test_the_same_get_is_sent_once():
    rec = Recorder(lambda r: httpx.Response(200, json={"library": []}))
    alma = client(rec)
    alma.libraries()
    alma.libraries()
    assert (alma.stats.calls, alma.stats.cache_hits) == (1, 1)
    alma.get_json("/conf/libraries", {"x": 1})
    assert alma.stats.calls == 2
    alma.clear_cache()
    alma.libraries()
    assert alma.stats.calls == 3


def test_business_errors_are_cached_but_unauthorized_is_not():
    rec = Recorder(alma_error("401861", "nope"))
    alma = client(rec)
    for _ in range(2):
        with pytest.raises(AlmaBadRequest):
            alma.user("x")
    assert len(rec.requests) == 1
    rec = Recorder(xml_error("UNAUTHORIZED", "no"))
    alma = client(rec)
    for _ in range(2):
        with pytest.raises(AlmaUnauthorized):
            alma.user("x")
    assert len(rec.requests) == 2


def test_remaining_quota_is_recorded():
    rec = Recorder(httpx.Response(200, json={}, headers={"X-Exl-Api-Remaining": "4711"}))
    alma = client(rec)
    alma.general()
    assert alma.stats.remaining == 4711


def test_writes_are_refused_before_sending_unless_a_write_session_is_open(tmp_path):
    rec = Recorder(httpx.Response(200, json={"request_id": "1"}))
    alma = client(rec)
    gate = guarded(alma)
    with pytest.raises(AlmaWriteRefused, match="read-only"):
        alma.create_borrowing_request("u", {"external_id": "E"})
    assert rec.requests == []
    alma.check_write_permission("/users/operation/test")  # a self-test creates nothing
    ledger = Ledger(tmp_path / "ledger.jsonl")
    session = WriteSession(alma, gate, "acme", ledger=ledger, run_token="R")
    session.create_borrowing_request("u", {"external_id": "E"})
    assert [e.external_id for e in ledger.outstanding()] == ["E"]
    assert session.created[0].request_id == "1"
    assert json.loads(rec.requests[1].content)["external_id"] == "E"


# -- models through the client ------------------------------------------------------


@pytest.mark.parametrize(
    "empty",
    [
        {},
        {"rs_library": None},
        {"rs_library": []},
        {"rs_library": [{"code": {"value": ""}}]},
        {"rs_library": [{"code": {"value": None, "desc": None}}]},
    ],
    ids=["missing", "null", "empty-list", "empty-string", "null-value"],
)
def test_every_empty_rs_library_form_reads_as_none(empty):
    rec = Recorder(httpx.Response(200, json={"primary_id": "u", **empty}))
    user = client(rec).user("u")
    assert user.rs_library_codes == ()
    assert not user.campus_code


def test_a_real_uio_user_gives_its_rs_library():
    uio = {
        "primary_id": "12345",
        "campus_code": {"desc": "UiO Blindern", "value": "BLINDERN"},
        "rs_library": [{"code": {"desc": "UiO Realfagsbiblioteket", "value": "1030310"}}],
    }
    user = client(Recorder(httpx.Response(200, json=uio))).user("12345")
    assert user.rs_library_codes == ("1030310",)
    assert user.campus_code.value == "BLINDERN"


@pytest.mark.parametrize(
    ("flag", "expected"),
    [(True, True), ("true", True), (False, False), ("false", False), (None, None)],
)
def test_library_flag_forms(flag, expected):
    body = {"library": [{"code": "L", "resource_sharing": flag}], "total_record_count": 1}
    assert (
        client(Recorder(httpx.Response(200, json=body))).libraries()[0].resource_sharing is expected
    )


@pytest.mark.parametrize(
    "body", [{}, {"library": None}, {"library": []}, {"total_record_count": 0}]
)
def test_empty_lists(body):
    assert client(Recorder(httpx.Response(200, json=body))).libraries() == ()


@pytest.mark.parametrize(
    ("change", "where"),
    [({"campus_code": "MAIN"}, "campus_code"), ({"rs_library": "WIN"}, "rs_library")],
)
def test_a_changed_shape_is_a_contract_error_naming_the_field(change, where):
    rec = Recorder(httpx.Response(200, json={"primary_id": "u", **change}))
    with pytest.raises(AlmaContractError) as caught:
        client(rec).user("u")
    assert where in str(caught.value)
    assert "User contract" in str(caught.value)


def test_paging_reads_every_page():
    def pages(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        records = [
            {"partner_details": {"code": f"P{offset + i}"}} for i in range(min(100, 130 - offset))
        ]
        return httpx.Response(200, json={"partner": records, "total_record_count": 130})

    rec = Recorder(pages)
    partners = client(rec).partners()
    assert len(partners) == 130
    assert [r.url.params["offset"] for r in rec.requests] == ["0", "100"]


def test_item_by_barcode_follows_the_redirect_and_counts_two_calls():
    item = {"bib_data": {"mms_id": "1"}, "holding_data": {}, "item_data": {"pid": "3"}}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/items"):
            target = "https://api-na.hosted.exlibrisgroup.com/almaws/v1/bibs/1/holdings/2/items/3"
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, json=item)

    alma = client(Recorder(answer))
    assert alma.item_by_barcode("B1").item_data.pid == "3"
    assert alma.stats.calls == 2


def test_write_permission_self_test_is_a_post_only_to_an_areas_test_path():
    rec = Recorder(httpx.Response(200, json={"test": "POST - OK"}))
    alma = client(rec)  # read-only: the self-test creates nothing, so it may still ask
    alma.check_write_permission("/users/operation/test")
    assert [(r.method, r.url.path) for r in rec.requests] == [
        ("POST", "/almaws/v1/users/operation/test")
    ]
    with pytest.raises(ValueError, match="not an Alma API self-test"):
        alma.check_write_permission("/users/x/resource-sharing-requests")
    assert len(rec.requests) == 1
