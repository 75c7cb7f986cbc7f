"""The one place that calls httpx: throttle, retry what is safe, turn failures into types.

``Chokepoint.send`` throttles to a per-second rate, retries what is safe, and turns every
non-2xx answer or transport failure into a typed error from ``alma_p2p.alma.errors``. It
counts what it spent.

Retry rules (jittered exponential backoff of about 1 s, 2 s, 4 s … capped at 30 s, or the
server's ``Retry-After``; at most ``max_attempts`` tries and ``MAX_TOTAL_WAIT`` seconds of
waiting per call, both times the ``backoff`` scale):

- reads (GET, HEAD) and DELETE (idempotent): on a connection failure or reset, a timeout,
  any 5xx (Alma's own or a proxy's HTML page) and a 429;
- writes (POST, PUT): only on Alma's per-second 429 (``PER_SECOND_THRESHOLD``), which proves
  the call was not processed; a 5xx, a reset or a timeout may hide a processed write;
- never on a used-up daily allowance (``AlmaDailyLimitReached``): waiting cannot help.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
import pyrate_limiter
import tenacity

from alma_p2p import __version__, polling
from alma_p2p.alma.errors import (
    AlmaDailyLimitReached,
    AlmaError,
    AlmaRateLimited,
    AlmaServerError,
    AlmaTransportError,
    AlmaUnauthorized,
    NotAnAlmaGateway,
    error_class_for,
)
from alma_p2p.alma.gateway import SAFE_METHODS, api_area
from alma_p2p.alma.parsing import excerpt, looks_like_html, parse_error_details

# Methods retried on any transient failure: the safe ones, and DELETE (idempotent).
RETRIED_METHODS = frozenset({"GET", "HEAD", "DELETE"})
# The only answer that proves a write was not processed (captures/error_per_second_threshold.json).
PER_SECOND_CODE = "PER_SECOND_THRESHOLD"
# Tries per call, and seconds a call may spend waiting between them (before the backoff scale).
MAX_ATTEMPTS = 6
MAX_TOTAL_WAIT = 30.0


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


class Chokepoint:
    """An httpx client for one gateway and key, with the throttle and the retries."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        rate_per_second: float | None,
        timeout: float,
        max_attempts: int,
        backoff: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
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
        # None: no throttle (replay, where no Alma is called).
        self._throttle = _Throttle(rate_per_second) if rate_per_second is not None else None
        self._max_attempts = max(1, max_attempts)
        self._backoff = max(0.0, backoff)
        self.stats = CallStats()

    def close(self) -> None:
        self._http.close()
        if self._throttle is not None:
            self._throttle.close()

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

    def send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: Any = None,
        accept: str | None = None,
    ) -> httpx.Response:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._max_attempts)
            | _stop_after_waiting(MAX_TOTAL_WAIT * self._backoff),
            retry=tenacity.retry_if_exception(lambda exc: retryable(method, exc)),
            wait=_RetryAfterWait(self._backoff, MAX_TOTAL_WAIT),
            reraise=True,
            before_sleep=self._count_retry,
        )
        return retrying(self._send_once, method, path, query, body, accept)

    def _count_retry(self, _state: tenacity.RetryCallState) -> None:
        self.stats.retries += 1

    def _send_once(
        self, method: str, path: str, query: Mapping[str, str], body: Any, accept: str | None
    ) -> httpx.Response:
        shown = display(path, query)
        headers = {"Accept": accept} if accept else None
        if self._throttle is not None:
            self._throttle.acquire()
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
        status = response.status_code
        html = looks_like_html(kind, response.content)
        if html and status != 429 and status < 500:
            return NotAnAlmaGateway(method, shown, status, kind)
        # An HTML 429 or 5xx: a proxy or load balancer in front of Alma says Alma is busy or
        # down; transient, like Alma's own 5xx, never a wrong address.
        details = () if html else parse_error_details(response.content)
        codes = tuple(d.code for d in details)
        cls = error_class_for(status, codes, calls_left)
        if html:
            shown_text = (
                f"(an HTML {kind or 'error'} page from a proxy or load balancer in front of Alma)"
            )
        else:
            shown_text = "" if details else excerpt(response.text)
        if cls is AlmaUnauthorized:
            return AlmaUnauthorized(
                response.status_code,
                method,
                shown,
                details,
                shown_text,
                area=api_area(path),
                write=method not in SAFE_METHODS,
            )
        error = cls(response.status_code, method, shown, details, shown_text)
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            error.retry_after = _seconds(retry_after)
        return error


def retryable(method: str, exc: BaseException) -> bool:
    """Whether a failed call may be sent again (the module docstring gives the rules)."""
    if isinstance(exc, AlmaDailyLimitReached):
        return False
    if method in RETRIED_METHODS:
        return isinstance(exc, AlmaTransportError | AlmaServerError | AlmaRateLimited)
    # UNVERIFIED(gateway.per_second_429_not_processed)
    return isinstance(exc, AlmaRateLimited) and PER_SECOND_CODE in exc.codes


class _stop_after_waiting(tenacity.stop.stop_base):  # noqa: N801 - tenacity's naming
    """Stop once the waits between tries add up to ``limit`` seconds (0: no waits at all,
    so only the attempt count stops)."""

    def __init__(self, limit: float) -> None:
        self._limit = limit

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self._limit > 0 and retry_state.idle_for >= self._limit


class _RetryAfterWait(tenacity.wait.wait_base):
    """Exponential backoff with jitter (about 1 s, 2 s, 4 s), or the server's Retry-After;
    never past what is left of ``total`` seconds of waiting. ``scale`` multiplies both."""

    def __init__(self, scale: float, total: float = MAX_TOTAL_WAIT) -> None:
        self._scale = scale
        self._total = total
        self._jitter = tenacity.wait_exponential_jitter(initial=1, max=30, jitter=0.5)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        if self._scale == 0:
            return 0.0
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, float):
            wait = min(retry_after, 60.0)
        else:
            wait = float(self._jitter(retry_state))
        left = self._total * self._scale - retry_state.idle_for
        return max(0.0, min(wait * self._scale, left))


def cache_key(path: str, query: Mapping[str, str]) -> str:
    """A path with its query in a stable order (the GET cache's key)."""
    return path + ("?" + "&".join(f"{k}={query[k]}" for k in sorted(query)) if query else "")


def display(path: str, query: Mapping[str, str | int] | None) -> str:
    """A call as messages show it: below the gateway, never with a key in the query."""
    shown = {k: v for k, v in (query or {}).items() if k.lower() != "apikey"}
    return "/almaws/v1" + cache_key(path, {k: str(v) for k, v in shown.items()})


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _transport_reason(exc: httpx.TransportError) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"


class _HarnessClock(pyrate_limiter.AbstractClock):
    """The limiter's time is the harness's (``polling.CLOCK``), in milliseconds."""

    def now(self) -> int:
        return int(polling.CLOCK.monotonic() * 1000)


class _HarnessClockBucket(pyrate_limiter.InMemoryBucket):
    """pyrate-limiter's in-memory bucket, reading the time from :class:`_HarnessClock`."""

    _clock = _HarnessClock()


class _Throttle:
    """At most the rate's calls in any window, on the harness's clock (``polling.CLOCK``):
    pyrate-limiter counts the calls, and the waiting goes through that clock, so a harness
    test that runs a live suite on virtual time waits out the throttle virtually."""

    def __init__(self, rate_per_second: float) -> None:
        # pyrate-limiter counts whole calls in a window, so a fractional rate becomes one
        # call per window.
        self._per_window, self._window_ms = _rate_window(rate_per_second)
        self._spacing = self._window_ms / self._per_window / 1000
        self._limiter: pyrate_limiter.Limiter | None = None
        self._clock: polling.Clock | None = None

    def acquire(self) -> None:
        # A limiter counts on the clock it was made with: calls timed on another clock (a
        # test swapping a virtual one in or out) would never leave its window.
        if self._limiter is None or self._clock is not polling.CLOCK:
            self.close()
            self._clock = polling.CLOCK
            rates = [pyrate_limiter.Rate(self._per_window, self._window_ms)]
            self._limiter = pyrate_limiter.Limiter(_HarnessClockBucket(rates))
        # A window's worth of waits frees a place on any clock that moves on.
        for _ in range(self._per_window + 2):
            if self._limiter.try_acquire("alma", blocking=False):
                return
            polling.CLOCK.sleep(self._spacing)
        raise RuntimeError(
            "the throttle waited a whole window and the harness's clock did not move on"
        )

    def close(self) -> None:
        if self._limiter is not None:
            self._limiter.close()
            self._limiter = None


def _rate_window(rate: float) -> tuple[int, int]:
    """(calls, window in ms) for a possibly fractional per-second rate."""
    if rate >= 1 and float(rate).is_integer():
        return int(rate), 1000
    return 1, max(1, round(1000 / rate))
