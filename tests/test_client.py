"""The Alma client against httpx.MockTransport: auth, error forms, retries, cache, models."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from alma_p2p import polling
from alma_p2p.alma import (
    AlmaAPIError,
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
    http,
)
from alma_p2p.alma.errors import AlmaWriteRefused
from alma_p2p.alma.http import _RetryAfterWait
from alma_p2p.ledger import Ledger
from alma_p2p.writes import WriteSession, guarded
from tests.suite_runner import VirtualClock

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


def test_a_post_answered_per_second_429_is_retried_and_succeeds():
    # Alma's per-second 429 proves the call was not processed: sending it again is safe.
    rec = Recorder(
        alma_error("PER_SECOND_THRESHOLD", "too many", 429), httpx.Response(200, json={"id": 1})
    )
    alma = client(rec)
    assert alma.post_json("/users/x/resource-sharing-requests", {"title": "t"}) == {"id": 1}
    assert [r.method for r in rec.requests] == ["POST", "POST"]
    assert alma.stats.retries == 1


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500),
        httpx.Response(503, text="<html>503</html>", headers={"content-type": "text/html"}),
        httpx.Response(429),  # no errorList: nothing proves the call was not processed
        alma_error("DAILY_THRESHOLD", "Daily API threshold exceeded.", 429),
    ],
    ids=["500", "html-503", "bare-429", "daily-429"],
)
def test_a_post_answered_anything_else_is_not_retried(answer):
    rec = Recorder(answer, httpx.Response(200, json={}))
    with pytest.raises((AlmaRateLimited, AlmaServerError)):
        client(rec).post_json("/users/x/resource-sharing-requests", {"title": "t"})
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadError("Connection reset by peer"), httpx.ReadTimeout("slow")],
    ids=["reset", "timeout"],
)
def test_a_post_that_got_no_answer_is_not_retried(exc):
    # The write may have been processed before the connection dropped.
    sent: list[httpx.Request] = []

    def drop(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise exc

    with pytest.raises(AlmaTransportError):
        client(drop).post_json("/users/x/resource-sharing-requests", {"title": "t"})
    assert len(sent) == 1


def _failing_then_ok(*failures: BaseException | httpx.Response) -> Recorder:
    def raise_(exc: BaseException) -> Callable[[httpx.Request], httpx.Response]:
        def handler(request: httpx.Request) -> httpx.Response:
            raise exc

        return handler

    answers = [raise_(f) if isinstance(f, BaseException) else f for f in failures]
    return Recorder(*answers, httpx.Response(200, json={}))


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadError("Connection reset by peer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.Response(503, text="<html>503</html>", headers={"content-type": "text/html"}),
        httpx.Response(502, text="<!DOCTYPE html><html>Bad Gateway</html>"),
        httpx.Response(500),
        alma_error("PER_SECOND_THRESHOLD", "too many", 429),
    ],
    ids=["reset", "disconnect", "refused", "read-timeout", "connect-timeout", "html-503",
         "html-502", "500", "429"],
)  # fmt: skip
def test_reads_and_deletes_are_retried_on_every_transient_failure(method, failure):
    rec = _failing_then_ok(failure, failure)
    alma = client(rec)
    alma._http.send(method, "/users/x/resource-sharing-requests/1", {})
    assert len(rec.requests) == 3
    assert alma.stats.retries == 2


def test_an_html_5xx_is_alma_unavailable_not_a_wrong_address():
    page = httpx.Response(
        502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"}
    )
    rec = Recorder(page)
    with pytest.raises(AlmaServerError) as caught:
        client(rec, max_attempts=3).general()
    assert len(rec.requests) == 3
    message = str(caught.value)
    assert message.startswith("GET /almaws/v1/conf/general → 502")
    assert "proxy or load balancer in front of Alma" in message
    assert "ALMA_BASE_URL" not in message


def test_the_total_wait_of_a_call_is_bounded(monkeypatch):
    # A Retry-After of a minute on every answer: the waits stop at MAX_TOTAL_WAIT.
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    rec = Recorder(httpx.Response(503, headers={"Retry-After": "60"}))
    with pytest.raises(AlmaServerError):
        client(rec, backoff=1.0, max_attempts=50).general()
    assert sum(slept) == pytest.approx(http.MAX_TOTAL_WAIT)
    assert len(rec.requests) == len(slept) + 1 < 50


def test_backoff_grows_with_jitter_and_scales(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with pytest.raises(AlmaServerError):
        client(Recorder(httpx.Response(500)), backoff=1.0, max_attempts=4).general()
    assert len(slept) == 3
    for waited, base in zip(slept, (1, 2, 4), strict=True):
        assert base <= waited <= base + 0.5  # exponential, plus up to half a second of jitter
    slept.clear()
    with pytest.raises(AlmaServerError):
        client(Recorder(httpx.Response(500)), backoff=0.001, max_attempts=4).general()
    assert sum(slept) < 0.01


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
        idle_for = 0.0

        class outcome:  # noqa: N801 - mimics tenacity's attribute
            @staticmethod
            def exception() -> Exception:
                return error

    assert _RetryAfterWait(1.0)(State()) == 7.0  # type: ignore[arg-type]
    assert _RetryAfterWait(0)(State()) == 0.0  # type: ignore[arg-type]


def test_throttle_spaces_calls_on_the_harness_clock(monkeypatch: pytest.MonkeyPatch):
    # The throttle waits on polling.CLOCK: on a virtual clock no wall time passes, and what
    # it waited is exact. 25 calls at 20 per second: 20 fit the first second, 5 the next.
    clock = VirtualClock()
    monkeypatch.setattr(polling, "CLOCK", clock)
    sent: list[float] = []
    rec = Recorder(lambda r: sent.append(clock.now) or httpx.Response(200, json={}))
    alma = client(rec, rate_per_second=20)
    for _ in range(25):
        alma.get_json("/conf/general", cache=False)
    assert len(sent) == 25
    assert sent[19] < 1.0 <= sent[20]  # the 21st waits for the first to leave the window
    assert max(sent) < 1.2
    windows = [sum(1 for t in sent if start <= t < start + 1.0) for start in sent]
    assert max(windows) <= 20  # never more than 20 in any one second


def test_the_throttle_follows_a_clock_swapped_in_or_out(monkeypatch: pytest.MonkeyPatch):
    # Calls timed on the real clock must not hold a virtual clock's window (it would wait
    # until virtual time reached the machine's uptime), nor the other way round.
    rec = Recorder(lambda r: httpx.Response(200, json={}))
    alma = client(rec, rate_per_second=20)
    for _ in range(20):
        alma.get_json("/conf/general", cache=False)  # a full window on the real clock
    clock = VirtualClock()
    monkeypatch.setattr(polling, "CLOCK", clock)
    for _ in range(20):
        alma.get_json("/conf/general", cache=False)
    assert clock.now == 0.0  # a fresh window on the virtual clock: nothing waited
    alma.get_json("/conf/general", cache=False)
    assert 1.0 <= clock.now < 1.2


def test_a_clock_that_does_not_move_stops_the_throttle_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
):
    class Stuck(VirtualClock):
        def sleep(self, seconds: float) -> None:
            pass

    monkeypatch.setattr(polling, "CLOCK", Stuck())
    alma = client(Recorder(lambda r: httpx.Response(200, json={})), rate_per_second=5)
    for _ in range(5):
        alma.get_json("/conf/general", cache=False)
    with pytest.raises(RuntimeError, match="clock did not move on"):
        alma.get_json("/conf/general", cache=False)


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


def test_only_a_4xx_other_than_429_is_alma_refusing_the_request():
    def error(status: int) -> AlmaAPIError:
        return AlmaAPIError(status, "POST", "/almaws/v1/users/x/resource-sharing-requests")

    assert error(400).refusal
    assert error(404).refusal
    assert not error(429).refusal  # busy: never the request's outcome
    assert not error(503).refusal
