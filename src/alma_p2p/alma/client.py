"""The Alma REST client: one institution, one key, one private request chokepoint.

Only ``AlmaClient._send`` calls httpx. It throttles to a per-second rate, retries what is
safe (GET/HEAD on 429 and 5xx, with jittered exponential backoff that honours
``Retry-After``; a POST is never retried blind), and turns every non-2xx answer or transport
failure into a typed error from ``alma_p2p.alma.errors``. Successful GETs (and 400 business
errors) are kept in a session cache, so a run sends each distinct GET once.
"""

from __future__ import annotations

import json
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

import httpx
import pyrate_limiter
import tenacity
from pydantic import BaseModel, TypeAdapter, ValidationError

from alma_p2p import __version__
from alma_p2p.alma.errors import (
    AlmaAPIError,
    AlmaConfigError,
    AlmaContractError,
    AlmaDailyLimitReached,
    AlmaError,
    AlmaRateLimited,
    AlmaServerError,
    AlmaTransportError,
    AlmaUnauthorized,
    ErrorDetail,
    NotAnAlmaGateway,
    error_class_for,
)
from alma_p2p.alma.gateway import SAFE_METHODS, SELF_TESTS, api_area, build_base_url
from alma_p2p.alma.models import (
    CircDesk,
    CodeTable,
    General,
    Item,
    Job,
    JobInstance,
    Library,
    Location,
    Page,
    Partner,
    RsRequest,
    User,
    UserBrief,
)

# Methods retried on 429/5xx: the safe ones, and DELETE (idempotent). Never POST.
RETRIED_METHODS = frozenset({"GET", "HEAD", "DELETE"})

M = TypeVar("M", bound=BaseModel)


class ApiKeyAuth(httpx.Auth):
    """Sends the key as ``Authorization: apikey …``, never in the URL."""

    def __init__(self, api_key: str) -> None:
        self._header = f"apikey {api_key}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "ApiKeyAuth(<redacted>)"


@dataclass
class CallStats:
    """What a client spent: calls sent, GETs answered from cache, Alma's remaining quota."""

    calls: int = 0
    gets: int = 0  # GETs sent (polls of a changing status included)
    cache_hits: int = 0
    retries: int = 0
    remaining: int | None = None
    distinct_gets: set[str] = field(default_factory=set)


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), built once.

    Building it reads the whole CA bundle; one per client made start-up slower with
    every institution.
    """
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class _CachedError:
    status: int
    details: tuple[ErrorDetail, ...]


class AlmaClient:
    """A synchronous Alma API client for one institution.

    ``rate_per_second`` caps calls per second (Alma's per-second threshold; 10 is safe on a
    sandbox; None for no cap). ``backoff`` scales retry waits; 0 disables waiting (replay).
    ``transport`` replaces the network (``httpx.MockTransport`` or a WSGI stand-in in tests).
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        rate_per_second: float | None = 10.0,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise AlmaConfigError("no API key: set ALMA_API_KEY (or ALMA_API_KEY_<INSTITUTION>)")
        if rate_per_second is not None and rate_per_second <= 0:
            raise AlmaConfigError("the call rate must be above 0 per second")
        self.base_url = build_base_url(base_url=base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=ApiKeyAuth(api_key),
            headers={
                "Accept": "application/json",
                "User-Agent": f"alma-p2p-harness/{__version__}",
            },
            timeout=timeout,
            follow_redirects=True,
            transport=transport,
            verify=_tls_context(),
        )
        # None: no throttle (replay, where no Alma is called). pyrate-limiter counts whole
        # calls in a window, so a fractional rate becomes one call per window.
        self._limiter: pyrate_limiter.Limiter | None = None
        if rate_per_second is not None:
            per_window, window_ms = _rate_window(rate_per_second)
            self._limiter = pyrate_limiter.Limiter(pyrate_limiter.Rate(per_window, window_ms))
        self._max_attempts = max(1, max_attempts)
        self._backoff = max(0.0, backoff)
        self._cache: dict[str, Any] = {}
        self.stats = CallStats()

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()
        if self._limiter is not None:
            self._limiter.close()

    def __enter__(self) -> AlmaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_response(self, hook: Callable[[httpx.Response], None]) -> None:
        """Call ``hook`` with every answer (after it is read), e.g. to attach it to a report."""

        def read_then(response: httpx.Response) -> None:
            response.read()
            hook(response)

        self._http.event_hooks["response"].append(read_then)

    def on_request(self, hook: Callable[[httpx.Request], None]) -> None:
        """Call ``hook`` with every request before it is sent; what it raises stops the call
        unsent (the harness refuses writes outside a scenario cleared to write)."""
        self._http.event_hooks["request"].append(hook)

    def clear_cache(self) -> None:
        """Forget cached GETs (used between scenarios when recording, so cassettes stand alone)."""
        self._cache.clear()

    # -- raw JSON ----------------------------------------------------------------------

    def get_json(
        self, path: str, params: Mapping[str, str | int] | None = None, *, cache: bool = True
    ) -> Any:
        """GET a path below the gateway; answered from the session cache when seen before.

        ``cache=False`` always asks Alma (a request's status, which changes under us).
        """
        query = {k: str(v) for k, v in (params or {}).items()}
        key = _cache_key(path, query)
        if not cache:
            self.stats.distinct_gets.add(key)
            return self._json_body("GET", path, query, self._send("GET", path, query))
        if key in self._cache:
            self.stats.cache_hits += 1
            cached = self._cache[key]
            if isinstance(cached, _CachedError):
                raise error_class_for(cached.status, tuple(d.code for d in cached.details))(
                    cached.status, "GET", _display(path, query), cached.details
                )
            return cached
        self.stats.distinct_gets.add(key)
        try:
            response = self._send("GET", path, query)
        except AlmaAPIError as exc:
            if exc.status == 400 and not isinstance(exc, AlmaUnauthorized):
                self._cache[key] = _CachedError(exc.status, exc.details)
            raise
        data = self._json_body("GET", path, query, response)
        self._cache[key] = data
        return data

    def post_json(self, path: str, body: Any, params: Mapping[str, str | int] | None = None) -> Any:
        """POST JSON; never retried blind, never cached."""
        query = {k: str(v) for k, v in (params or {}).items()}
        response = self._send("POST", path, query, body)
        return self._json_body("POST", path, query, response)

    def check_write_permission(self, path: str) -> None:
        """POST to an API area's self-test (``/users/operation/test`` …): Alma answers OK only
        when the key may write in that area (alma-api.md §1.2). It creates nothing; an
        unsuitable key raises AlmaUnauthorized."""
        if path not in SELF_TESTS:
            raise ValueError(f"{path} is not an Alma API self-test")
        self._send("POST", path, {}, None)

    def delete(self, path: str, params: Mapping[str, str | int] | None = None) -> None:
        """DELETE; idempotent, so retried like a GET."""
        query = {k: str(v) for k, v in (params or {}).items()}
        self._send("DELETE", path, query)

    # -- resource sharing requests -------------------------------------------------

    def create_borrowing_request(
        self, user_id: str, body: Mapping[str, Any], *, override_blocks: bool = False
    ) -> RsRequest:
        """``POST /users/{id}/resource-sharing-requests``."""
        path = f"/users/{_seg(user_id)}/resource-sharing-requests"
        data = self.post_json(path, body, {"override_blocks": str(override_blocks).lower()})
        return _validate(RsRequest, data, "POST", _display(path, None))

    def borrowing_request(
        self, user_id: str, request_id: str, *, by_external_id: bool = False
    ) -> RsRequest:
        path = f"/users/{_seg(user_id)}/resource-sharing-requests/{_seg(request_id)}"
        params = {"request_id_type": "external"} if by_external_id else None
        data = self.get_json(path, params, cache=False)
        return _validate(RsRequest, data, "GET", _display(path, params))

    def cancel_borrowing_request(self, user_id: str, request_id: str) -> None:
        """Cancel and remove a borrowing request, without notifying the patron."""
        path = f"/users/{_seg(user_id)}/resource-sharing-requests/{_seg(request_id)}"
        self.delete(path, {"remove_request": "true", "notify_user": "false"})

    def create_lending_request(self, partner: str, body: Mapping[str, Any]) -> RsRequest:
        """``POST /partners/{code}/lending-requests``."""
        path = f"/partners/{_seg(partner)}/lending-requests"
        data = self.post_json(path, body)
        return _validate(RsRequest, data, "POST", _display(path, None))

    def lending_request(self, partner: str, request_id: str) -> RsRequest:
        path = f"/partners/{_seg(partner)}/lending-requests/{_seg(request_id)}"
        return _validate(RsRequest, self.get_json(path, cache=False), "GET", _display(path, None))

    def lending_task_list(
        self,
        library: str,
        *,
        status: str | None = None,
        partner: str | None = None,
        printed: bool | None = None,
        reported: bool | None = None,
    ) -> tuple[RsRequest, ...]:
        """``GET /task-lists/rs/lending-requests`` (``library`` is mandatory; not paged)."""
        params: dict[str, str | int] = {"library": library}
        if status:
            params["status"] = status
        if partner:
            params["partner"] = partner
        if printed is not None:
            params["printed"] = "Y" if printed else "N"
        if reported is not None:
            params["reported"] = "Y" if reported else "N"
        path = "/task-lists/rs/lending-requests"
        data = self.get_json(path, params, cache=False)
        return self._page(RsRequest, path, data, "user_resource_sharing_request").records

    # -- typed reads -----------------------------------------------------------------

    def general(self) -> General:
        return self._model(General, "/conf/general")

    def libraries(self) -> tuple[Library, ...]:
        return self._list(Library, "/conf/libraries", "library")

    def library(self, code: str) -> Library:
        return self._model(Library, f"/conf/libraries/{_seg(code)}")

    def locations(self, library: str) -> tuple[Location, ...]:
        return self._list(Location, f"/conf/libraries/{_seg(library)}/locations", "location")

    def location(self, library: str, code: str) -> Location:
        return self._model(Location, f"/conf/libraries/{_seg(library)}/locations/{_seg(code)}")

    def circ_desks(self, library: str) -> tuple[CircDesk, ...]:
        path = f"/conf/libraries/{_seg(library)}/circ-desks"
        return self._paged(CircDesk, path, "circ_desk")

    def jobs(self, job_type: str = "SCHEDULED") -> tuple[Job, ...]:
        return self._paged(Job, "/conf/jobs", "job", {"type": job_type})

    def analytics_report(self, path: str, limit: int = 1000) -> tuple[dict[str, str], ...]:
        """Rows of an Analytics report, keyed by column heading, all pages.

        Asked for as XML, the Analytics API's own form, as public clients do: UNVERIFIED
        against our reference. Pages follow ``ResumptionToken`` until ``IsFinished``.
        """
        rows: list[dict[str, str]] = []
        params: dict[str, str | int] = {"path": path, "limit": limit, "col_names": "true"}
        headings: dict[str, str] = {}
        for _ in range(500):  # at most 500 pages (Alma's 500,000-row ceiling)
            # The same token fetches each next page, so pages never come from the cache.
            text = self.get_text(
                "/analytics/reports", params, accept="application/xml", cache="token" not in params
            )
            page = parse_analytics(text, headings)
            rows.extend(page.rows)
            if page.finished or not page.token:
                return tuple(rows)
            params = {"token": page.token, "limit": limit}
        raise AlmaContractError("GET", "/almaws/v1/analytics/reports", "Analytics", ["no end"])

    def get_text(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        accept: str = "application/xml",
        cache: bool = True,
    ) -> str:
        """GET a non-JSON answer (cached like any GET unless ``cache=False``)."""
        query = {k: str(v) for k, v in (params or {}).items()}
        key = "text:" + _cache_key(path, query)
        if cache and key in self._cache:
            self.stats.cache_hits += 1
            return str(self._cache[key])
        self.stats.distinct_gets.add(key)
        response = self._send("GET", path, query, accept=accept)
        if _looks_like_html(response.headers.get("content-type", ""), response.content):
            raise NotAnAlmaGateway("GET", _display(path, query), response.status_code, "text/html")
        self._cache[key] = response.text
        return response.text

    def job_instances(self, job_id: str, limit: int = 10) -> tuple[JobInstance, ...]:
        """The latest runs of a job (one page; Alma lists the newest first: UNVERIFIED)."""
        path = f"/conf/jobs/{_seg(job_id)}/instances"
        data = self.get_json(path, {"limit": limit, "offset": 0})
        return self._page(JobInstance, path, data, "job_instance").records

    def code_table(self, name: str, scope: str | None = None) -> CodeTable:
        params = {"scope": scope} if scope else None
        return self._model(CodeTable, f"/conf/code-tables/{_seg(name)}", params)

    def users(self, q: str | None = None, limit: int = 10, offset: int = 0) -> Page[UserBrief]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if q:
            params["q"] = q
        data = self.get_json("/users", params)
        return self._page(UserBrief, "/users", data, "user")

    def user(self, primary_id: str) -> User:
        return self._model(User, f"/users/{_seg(primary_id)}", {"view": "full"})

    def partners(self) -> tuple[Partner, ...]:
        return self._paged(Partner, "/partners", "partner")

    def partner(self, code: str) -> Partner:
        return self._model(Partner, f"/partners/{_seg(code)}")

    def item(self, mms_id: str, holding_id: str, item_pid: str) -> Item:
        path = f"/bibs/{_seg(mms_id)}/holdings/{_seg(holding_id)}/items/{_seg(item_pid)}"
        return self._model(Item, path)

    def item_by_barcode(self, barcode: str) -> Item:
        """``GET /items?item_barcode=``; Alma answers 302 to the item (two calls)."""
        return self._model(Item, "/items", {"item_barcode": barcode})

    # -- parsing ----------------------------------------------------------------------

    def _model(self, model: type[M], path: str, params: Mapping[str, str | int] | None = None) -> M:
        data = self.get_json(path, params)
        return _validate(model, data, "GET", _display(path, params))

    def _list(self, model: type[M], path: str, key: str) -> tuple[M, ...]:
        data = self.get_json(path)
        return self._page(model, path, data, key).records

    def _paged(
        self,
        model: type[M],
        path: str,
        key: str,
        params: Mapping[str, str | int] | None = None,
        limit: int = 100,
    ) -> tuple[M, ...]:
        records: list[M] = []
        offset = 0
        while True:
            query = {**(params or {}), "limit": limit, "offset": offset}
            page = self._page(model, path, self.get_json(path, query), key)
            records.extend(page.records)
            offset += limit
            if not page.records or offset >= page.total_record_count:
                return tuple(records)

    def _page(self, model: type[M], path: str, data: Any, key: str) -> Page[M]:
        if not isinstance(data, dict):
            raise AlmaContractError("GET", path, f"list of {key}", ["answer is not an object"])
        raw = data.get(key)
        # Empty lists come as a missing key, null or []; a lone record sometimes as an object.
        if raw is None or raw == "":
            raw = []
        adapter = TypeAdapter(tuple[model, ...])  # type: ignore[valid-type]
        try:
            records = adapter.validate_python(raw)
        except ValidationError as exc:
            raise AlmaContractError("GET", path, model.__name__, _problems(exc, key)) from exc
        total = data.get("total_record_count")
        return Page[model](  # type: ignore[valid-type]
            records=records, total_record_count=int(total) if total else len(records)
        )

    def _json_body(
        self, method: str, path: str, query: Mapping[str, str], response: httpx.Response
    ) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        kind = response.headers.get("content-type", "")
        if _looks_like_html(kind, response.content):
            raise NotAnAlmaGateway(method, _display(path, query), response.status_code, kind)
        try:
            return response.json()
        except ValueError as exc:
            raise AlmaContractError(
                method, _display(path, query), "JSON", [f"answer is not JSON ({kind or 'no type'})"]
            ) from exc

    # -- the chokepoint ----------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: Any = None,
        accept: str | None = None,
    ) -> httpx.Response:
        attempts = self._max_attempts if method in RETRIED_METHODS else 1
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            retry=tenacity.retry_if_exception_type((AlmaRateLimited, AlmaServerError))
            & tenacity.retry_if_not_exception_type(AlmaDailyLimitReached),
            wait=_RetryAfterWait(self._backoff),
            reraise=True,
            before_sleep=self._count_retry,
        )
        return retrying(self._send_once, method, path, query, body, accept)

    def _count_retry(self, _state: tenacity.RetryCallState) -> None:
        self.stats.retries += 1

    def _send_once(
        self, method: str, path: str, query: Mapping[str, str], body: Any, accept: str | None
    ) -> httpx.Response:
        shown = _display(path, query)
        headers = {"Accept": accept} if accept else None
        if self._limiter is not None:
            self._limiter.try_acquire("alma")
        try:
            response = self._http.request(
                method, path.lstrip("/"), params=dict(query) or None, json=body, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise AlmaTransportError(
                method, shown, f"timed out ({exc.__class__.__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise AlmaTransportError(method, shown, _transport_reason(exc)) from exc
        self.stats.calls += 1 + len(response.history)
        if method == "GET":
            self.stats.gets += 1 + len(response.history)
        remaining = response.headers.get("X-Exl-Api-Remaining")
        calls_left = int(remaining) if remaining and remaining.isdigit() else None
        if calls_left is not None:
            self.stats.remaining = calls_left
        if response.is_success:
            return response
        raise self._api_error(method, path, shown, response, calls_left)

    def _api_error(
        self,
        method: str,
        path: str,
        shown: str,
        response: httpx.Response,
        calls_left: int | None = None,
    ) -> AlmaError:
        kind = response.headers.get("content-type", "")
        if _looks_like_html(kind, response.content):
            return NotAnAlmaGateway(method, shown, response.status_code, kind)
        details = parse_error_details(response.content)
        codes = tuple(d.code for d in details)
        cls = error_class_for(response.status_code, codes, calls_left)
        excerpt = "" if details else _excerpt(response.text)
        if cls is AlmaUnauthorized:
            return AlmaUnauthorized(
                response.status_code,
                method,
                shown,
                details,
                excerpt,
                area=api_area(path),
                write=method not in SAFE_METHODS,
            )
        error = cls(response.status_code, method, shown, details, excerpt)
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            error.retry_after = _seconds(retry_after)
        return error


class _RetryAfterWait(tenacity.wait.wait_base):
    """Exponential backoff with jitter (about 1 s, 2 s, 4 s), or the server's Retry-After."""

    def __init__(self, scale: float) -> None:
        self._scale = scale
        self._jitter = tenacity.wait_exponential_jitter(initial=1, max=30, jitter=0.5)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        if self._scale == 0:
            return 0.0
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, float):
            return min(retry_after, 60.0) * self._scale
        return float(self._jitter(retry_state)) * self._scale


@dataclass(frozen=True)
class AnalyticsPage:
    rows: tuple[dict[str, str], ...]
    token: str | None
    finished: bool


def parse_analytics(text: str, headings: dict[str, str]) -> AnalyticsPage:
    """One page of an Analytics answer; ``headings`` (ColumnN → heading) carries over pages.

    Shape as public Analytics clients read it: ``QueryResult`` with ``ResumptionToken``,
    ``IsFinished`` and ``ResultXml/rowset`` (``urn:schemas-microsoft-com:xml-analysis:rowset``)
    whose schema gives each ``ColumnN`` a ``saw-sql:columnHeading``. UNVERIFIED.
    """
    try:
        root = ET.fromstring(text)  # noqa: S314 - the configured gateway; expat refuses bombs
    except ET.ParseError as exc:
        raise AlmaContractError(
            "GET", "/almaws/v1/analytics/reports", "Analytics", [f"not XML: {exc}"]
        ) from exc
    token: str | None = None
    finished = False
    rows = []
    for element in root.iter():
        name = _local(element.tag)
        if name == "ResumptionToken":
            token = (element.text or "").strip() or None
        elif name == "IsFinished":
            finished = (element.text or "").strip().lower() == "true"
        elif name == "element" and (element.get("name") or "").startswith("Column"):
            column = element.get("name", "")
            headings[column] = next(
                (v for k, v in element.attrib.items() if k.endswith("columnHeading")), column
            )
        elif name == "Row":
            rows.append(
                {
                    headings.get(_local(c.tag), _local(c.tag)): (c.text or "").strip()
                    for c in element
                }
            )
    return AnalyticsPage(tuple(rows), token, finished)


def parse_error_details(content: bytes) -> tuple[ErrorDetail, ...]:
    """Error details from Alma's JSON ``errorList`` or XML ``web_service_result``."""
    text = content.strip()
    if not text:
        return ()
    if text.startswith(b"{"):
        try:
            data = json.loads(text)
        except ValueError:
            return ()
        return _json_details(data)
    if text.startswith(b"<"):
        return _xml_details(text)
    return ()


def _json_details(data: Any) -> tuple[ErrorDetail, ...]:
    if isinstance(data, dict) and "web_service_result" in data:
        data = data["web_service_result"]
    if not isinstance(data, dict):
        return ()
    error_list = data.get("errorList") or {}
    errors = error_list.get("error") if isinstance(error_list, dict) else error_list
    if isinstance(errors, dict):
        errors = [errors]
    details = []
    for entry in errors or []:
        if isinstance(entry, dict) and entry.get("errorCode") is not None:
            details.append(
                ErrorDetail(
                    code=str(entry["errorCode"]),
                    message=str(entry.get("errorMessage") or ""),
                    tracking_id=entry.get("trackingId") or None,
                )
            )
    return tuple(details)


def _xml_details(text: bytes) -> tuple[ErrorDetail, ...]:
    try:
        # The body comes from the configured gateway; expat >= 2.4.1 refuses entity bombs.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError:
        return ()
    details = []
    for error in root.iter():
        if _local(error.tag) != "error":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in error}
        if fields.get("errorCode"):
            details.append(
                ErrorDetail(
                    code=fields["errorCode"],
                    message=fields.get("errorMessage", ""),
                    tracking_id=fields.get("trackingId") or None,
                )
            )
    return tuple(details)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _looks_like_html(content_type: str, content: bytes) -> bool:
    if "html" in content_type.lower():
        return True
    head = content[:200].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _validate(model: type[M], data: Any, method: str, path: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AlmaContractError(method, path, model.__name__, _problems(exc)) from exc


def _problems(exc: ValidationError, prefix: str = "") -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        where = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "(root)")
        out.append(f"{where}: {err['msg']}")
    return out


def _seg(value: str) -> str:
    return httpx.URL(path=value).raw_path.decode().replace("/", "%2F")


def _cache_key(path: str, query: Mapping[str, str]) -> str:
    return path + ("?" + "&".join(f"{k}={query[k]}" for k in sorted(query)) if query else "")


def _display(path: str, query: Mapping[str, str | int] | None) -> str:
    shown = {k: v for k, v in (query or {}).items() if k.lower() != "apikey"}
    return "/almaws/v1" + _cache_key(path, {k: str(v) for k, v in shown.items()})


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:200] + ("…" if len(flat) > 200 else "")


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _transport_reason(exc: httpx.TransportError) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"


def _rate_window(rate: float) -> tuple[int, int]:
    """(calls, window in ms) for a possibly fractional per-second rate."""
    if rate >= 1 and float(rate).is_integer():
        return int(rate), 1000
    return 1, max(1, round(1000 / rate))
