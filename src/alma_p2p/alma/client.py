"""The Alma REST client of one institution: typed reads and writes of the resources the
harness uses, with a session cache so a run sends each distinct GET once.

Successful GETs (and 400 business errors) are kept in the cache; a changing status is read
with ``cache=False``. Requests go through the chokepoint (``alma_p2p.alma.http``); answers
are read by ``alma_p2p.alma.parsing``. The client knows nothing of the harness: what may be
written, and what was created, is the caller's business (``alma_p2p.writes``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from alma_p2p.alma.errors import (
    AlmaAPIError,
    AlmaConfigError,
    AlmaContractError,
    AlmaUnauthorized,
    ErrorDetail,
    NotAnAlmaGateway,
    error_class_for,
)
from alma_p2p.alma.gateway import SELF_TESTS, build_base_url
from alma_p2p.alma.http import MAX_ATTEMPTS, CallStats, Chokepoint, cache_key, display
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
    RequestedResource,
    RsRequest,
    User,
    UserBrief,
)
from alma_p2p.alma.parsing import json_of, looks_like_html, page, parse_analytics, validate

M = TypeVar("M", bound=BaseModel)


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
        max_attempts: int = MAX_ATTEMPTS,
        backoff: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise AlmaConfigError("no API key: set ALMA_API_KEY (or ALMA_API_KEY_<INSTITUTION>)")
        if rate_per_second is not None and rate_per_second <= 0:
            raise AlmaConfigError("the call rate must be above 0 per second")
        self.base_url = build_base_url(base_url=base_url)
        self._http = Chokepoint(
            self.base_url,
            api_key,
            rate_per_second=rate_per_second,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff=backoff,
            transport=transport,
        )
        self._cache: dict[str, Any] = {}

    @property
    def stats(self) -> CallStats:
        """What this client spent (calls, GETs, retries, Alma's remaining allowance)."""
        return self._http.stats

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AlmaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_response(self, hook: Callable[[httpx.Response], None]) -> None:
        """Call ``hook`` with every answer (after it is read), e.g. to attach it to a report."""
        self._http.on_response(hook)

    def on_request(self, hook: Callable[[httpx.Request], None]) -> None:
        """Call ``hook`` with every request before it is sent; what it raises stops the call
        unsent (the harness refuses writes outside a scenario cleared to write)."""
        self._http.on_request(hook)

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
        key = cache_key(path, query)
        if not cache:
            self.stats.distinct_gets.add(key)
            return json_of("GET", display(path, query), self._http.send("GET", path, query))
        if key in self._cache:
            self.stats.cache_hits += 1
            cached = self._cache[key]
            if isinstance(cached, _CachedError):
                raise error_class_for(cached.status, tuple(d.code for d in cached.details))(
                    cached.status, "GET", display(path, query), cached.details
                )
            return cached
        self.stats.distinct_gets.add(key)
        try:
            response = self._http.send("GET", path, query)
        except AlmaAPIError as exc:
            if exc.status == 400 and not isinstance(exc, AlmaUnauthorized):
                self._cache[key] = _CachedError(exc.status, exc.details)
            raise
        data = json_of("GET", display(path, query), response)
        self._cache[key] = data
        return data

    def post_json(self, path: str, body: Any, params: Mapping[str, str | int] | None = None) -> Any:
        """POST JSON; never retried blind, never cached."""
        query = {k: str(v) for k, v in (params or {}).items()}
        response = self._http.send("POST", path, query, body)
        return json_of("POST", display(path, query), response)

    def check_write_permission(self, path: str) -> None:
        """POST to an API area's self-test (``/users/operation/test`` …): Alma answers OK only
        when the key may write in that area (alma-api.md §1.2). It creates nothing; an
        unsuitable key raises AlmaUnauthorized."""
        if path not in SELF_TESTS:
            raise ValueError(f"{path} is not an Alma API self-test")
        self._http.send("POST", path, {}, None)

    def patch_self_test(self, path: str) -> None:
        """PATCH an API area's self-test with no body: no Alma endpoint takes PATCH, so the
        answer shows how Alma refuses a method a path does not take. It creates nothing."""
        if path not in SELF_TESTS:
            raise ValueError(f"{path} is not an Alma API self-test")
        self._http.send("PATCH", path, {}, None)

    def delete(self, path: str, params: Mapping[str, str | int] | None = None) -> None:
        """DELETE; idempotent, so retried like a GET."""
        query = {k: str(v) for k, v in (params or {}).items()}
        self._http.send("DELETE", path, query)

    # -- resource sharing requests -------------------------------------------------

    def create_borrowing_request(
        self, user_id: str, body: Mapping[str, Any], *, override_blocks: bool = False
    ) -> RsRequest:
        """``POST /users/{id}/resource-sharing-requests``."""
        path = f"/users/{_seg(user_id)}/resource-sharing-requests"
        data = self.post_json(path, body, {"override_blocks": str(override_blocks).lower()})
        return validate(RsRequest, data, "POST", display(path, None))

    def borrowing_request(
        self, user_id: str, request_id: str, *, by_external_id: bool = False
    ) -> RsRequest:
        path = f"/users/{_seg(user_id)}/resource-sharing-requests/{_seg(request_id)}"
        params = {"request_id_type": "external"} if by_external_id else None
        data = self.get_json(path, params, cache=False)
        return validate(RsRequest, data, "GET", display(path, params))

    def cancel_borrowing_request(self, user_id: str, request_id: str) -> None:
        """Cancel and remove a borrowing request, without notifying the patron."""
        path = f"/users/{_seg(user_id)}/resource-sharing-requests/{_seg(request_id)}"
        self.delete(path, {"remove_request": "true", "notify_user": "false"})

    def create_lending_request(self, partner: str, body: Mapping[str, Any]) -> RsRequest:
        """``POST /partners/{code}/lending-requests``."""
        path = f"/partners/{_seg(partner)}/lending-requests"
        data = self.post_json(path, body)
        return validate(RsRequest, data, "POST", display(path, None))

    def lending_request(self, partner: str, request_id: str) -> RsRequest:
        path = f"/partners/{_seg(partner)}/lending-requests/{_seg(request_id)}"
        return validate(RsRequest, self.get_json(path, cache=False), "GET", display(path, None))

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
        return page(RsRequest, path, data, "user_resource_sharing_request").records

    def requested_resources(self, library: str, circ_desk: str) -> tuple[RequestedResource, ...]:
        """``GET /task-lists/requested-resources`` (the first 100; read afresh each time)."""
        path = "/task-lists/requested-resources"
        params: dict[str, str | int] = {"library": library, "circ_desk": circ_desk, "limit": 100}
        data = self.get_json(path, params, cache=False)
        return page(RequestedResource, path, data, "requested_resource").records

    # -- typed reads -----------------------------------------------------------------

    def general(self) -> General:
        return self._model(General, "/conf/general")

    def institution_code(self, expected: str) -> str | None:
        """The institution the key reaches: ``expected`` when /conf/general's
        institution.value or, failing that, a self-test's "institutionCode: X" names it;
        else what they name (None when neither says).

        UNVERIFIED(gateway.general_institution_code): institution.value may hold the name;
        the self-test's words name the code (alma-api.md §1.2). Asked only on a mismatch.
        """
        value = (self.general().institution.value or "").strip()
        if value.upper() == expected.upper():
            return value
        try:
            text = self.get_text("/conf/test", accept="application/json")
        except AlmaAPIError:
            return value or None
        said = re.search(r"institutionCode:\s*([A-Za-z0-9_]+)", text)
        return said.group(1) if said else value or None

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

        Asked for as XML, the Analytics API's own form, as public clients do:
        UNVERIFIED(analytics.xml_shape) against our reference. Pages follow
        ``ResumptionToken`` until ``IsFinished``.
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
        key = "text:" + cache_key(path, query)
        if cache and key in self._cache:
            self.stats.cache_hits += 1
            return str(self._cache[key])
        self.stats.distinct_gets.add(key)
        response = self._http.send("GET", path, query, accept=accept)
        if looks_like_html(response.headers.get("content-type", ""), response.content):
            raise NotAnAlmaGateway("GET", display(path, query), response.status_code, "text/html")
        self._cache[key] = response.text
        return response.text

    def job_instances(self, job_id: str, limit: int = 10) -> tuple[JobInstance, ...]:
        """The latest runs of a job: its first page and, when there are more, its last.

        UNVERIFIED(jobs.instances_newest_first): Alma is assumed to list the newest first,
        but an Alma listing the oldest first puts the latest runs on the last page, so both
        ends are read (one more call only for a job with more runs than a page holds).
        """
        path = f"/conf/jobs/{_seg(job_id)}/instances"
        first = page(
            JobInstance, path, self.get_json(path, {"limit": limit, "offset": 0}), "job_instance"
        )
        total = first.total_record_count
        if total <= len(first.records) or limit <= 0:
            return first.records
        offset = max(total - limit, len(first.records))
        last = page(
            JobInstance,
            path,
            self.get_json(path, {"limit": limit, "offset": offset}),
            "job_instance",
        )
        seen = {run.id for run in first.records}
        return (*first.records, *(run for run in last.records if run.id not in seen))

    def code_table(self, name: str, scope: str | None = None) -> CodeTable:
        params = {"scope": scope} if scope else None
        return self._model(CodeTable, f"/conf/code-tables/{_seg(name)}", params)

    def users(self, q: str | None = None, limit: int = 10, offset: int = 0) -> Page[UserBrief]:
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if q:
            params["q"] = q
        data = self.get_json("/users", params)
        return page(UserBrief, "/users", data, "user")

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
        return validate(model, data, "GET", display(path, params))

    def _list(self, model: type[M], path: str, key: str) -> tuple[M, ...]:
        data = self.get_json(path)
        return page(model, path, data, key).records

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
            found = page(model, path, self.get_json(path, query), key)
            records.extend(found.records)
            offset += limit
            if not found.records or offset >= found.total_record_count:
                return tuple(records)


def _seg(value: str) -> str:
    return httpx.URL(path=value).raw_path.decode().replace("/", "%2F")
