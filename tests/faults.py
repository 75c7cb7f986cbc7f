"""A fault-injecting transport for the harness's own tests: Alma-like trouble, seeded.

``Faults`` wraps the stand-in's ``httpx.WSGITransport`` (``run_live(..., transport=...)``)
and, call by call, from one seeded random stream shared by every client of a run:

- answers Alma's per-second 429 (``PER_SECOND_THRESHOLD``, the captured body) without
  passing the call on, for the methods listed (Alma did not process it), and to the first
  ``leading_429s`` calls of the run;
- answers a 5xx without passing a read on: a JSON 500, or a proxy's HTML 502/503 page;
- resets the connection of a read (``httpx.ReadError``) after the stand-in answered it;
- with ``unreachable``, refuses every connection (``httpx.ConnectError``); with
  ``refuse_after``, every connection after that many calls (Alma going down mid-run).

It counts the calls sent to it and what it injected, by kind and method. In process, one
thread: the same seed gives the same faults.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

import httpx

READS = frozenset({"GET", "HEAD"})
EVERY_METHOD = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})
PER_SECOND_BODY = {
    "errorList": {
        "error": [
            {
                "errorCode": "PER_SECOND_THRESHOLD",
                "errorMessage": "HTTP requests are more than allowed per second. "
                "See https://goo.gl/2x1c1M ",
            }
        ]
    },
    "errorsExist": True,
    "result": None,
}
HTML_PAGE = (
    "<html><head><title>{status}</title></head><body><h1>{status} {reason}</h1></body></html>"
)


@dataclass
class Faults:
    """A fault mix and its seeded stream; call it with a transport to wrap that transport."""

    seed: int = 15
    rate_429: float = 0.0
    methods_429: Collection[str] = EVERY_METHOD
    rate_5xx: float = 0.0  # on reads; half of them proxies' HTML pages
    rate_reset: float = 0.0  # on reads
    unreachable: bool = False
    refuse_after: int | None = None
    leading_429s: int = 0  # the first calls of the run, whatever the rate
    sent: int = 0
    passed_on: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    by_method: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def __call__(self, inner: httpx.BaseTransport) -> httpx.BaseTransport:
        return FaultyTransport(inner, self)

    def answer(self, request: httpx.Request, inner: httpx.BaseTransport) -> httpx.Response:
        method = request.method
        self.sent += 1
        if self.unreachable or (self.refuse_after is not None and self.sent > self.refuse_after):
            self._count("refused", method)
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        roll = self._random.random
        if self.sent <= self.leading_429s or (
            method in self.methods_429 and roll() < self.rate_429
        ):
            self._count("429", method)
            return httpx.Response(429, json=PER_SECOND_BODY, request=request)
        if method in READS and roll() < self.rate_5xx:
            if roll() < 0.5:
                status = self._random.choice((502, 503))
                reason = "Bad Gateway" if status == 502 else "Service Unavailable"
                self._count(f"html-{status}", method)
                return httpx.Response(
                    status,
                    text=HTML_PAGE.format(status=status, reason=reason),
                    headers={"content-type": "text/html"},
                    request=request,
                )
            self._count("500", method)
            return httpx.Response(
                500, json={"errorsExist": True, "errorList": {"error": []}}, request=request
            )
        reset = method in READS and roll() < self.rate_reset
        self.passed_on += 1
        response = inner.handle_request(request)
        if reset:
            response.read()
            self._count("reset", method)
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        return response

    def _count(self, kind: str, method: str) -> None:
        self.injected[kind] += 1
        self.by_method[kind, method] += 1

    def describe(self) -> str:
        shown = ", ".join(f"{n} {kind}" for kind, n in sorted(self.injected.items()))
        return shown or "none"


class FaultyTransport(httpx.BaseTransport):
    """One client's transport: every call goes through its ``Faults``."""

    def __init__(self, inner: httpx.BaseTransport, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._faults.answer(request, self._inner)

    def close(self) -> None:
        self._inner.close()


def per_second_429s(rate: float = 0.2, seed: int = 15) -> Faults:
    """Alma's per-second 429 on every method."""
    return Faults(seed=seed, rate_429=rate)


def flaky_reads(rate_5xx: float = 0.1, rate_reset: float = 0.05, seed: int = 15) -> Faults:
    """5xx on reads (half of them HTML pages from a proxy), and connection resets."""
    return Faults(seed=seed, rate_5xx=rate_5xx, rate_reset=rate_reset)


def unreachable() -> Faults:
    """Every call a refused connection."""
    return Faults(unreachable=True)
