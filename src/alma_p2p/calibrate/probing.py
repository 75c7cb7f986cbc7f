"""What a calibration probe works with: the :class:`Probing` context, its answers
(:class:`Seen`, :class:`NotAsked`, :class:`ProbeFailed`), the :data:`PROBES` registry and
its :func:`probe` decorator, and the redacted evidence a probe shows."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from alma_p2p.alma import AlmaClient, AlmaError
from alma_p2p.alma.errors import AlmaAPIError
from alma_p2p.alma.parsing import parse_error_details
from alma_p2p.facts import UNEXPECTED, Fact
from alma_p2p.profile import Profile
from alma_p2p.recording import redacted_exchange
from alma_p2p.settings import Settings
from alma_p2p.writes import WriteSession

EXCERPT_LINES = 40
TRACKING_JSON = re.compile(r'("trackingId":\s*)"[^"]*"')
TRACKING_XML = re.compile(r"(<trackingId>)[^<]*(</trackingId>)")
# What an Alma error's text may carry that names a patron or differs on every calibration:
# a why built from it must not, or the file changes while Alma does not.
SCRUB = (
    (re.compile(r"/users/[^/\s?]+"), "/users/<test patron>"),
    (re.compile(r"/resource-sharing-requests/\d+"), "/resource-sharing-requests/<request id>"),
    (re.compile(r"/lending-requests/\d+"), "/lending-requests/<lending request id>"),
    (re.compile(r"tracking id [^)\s]+"), "tracking id E01-…"),
)


@dataclass(frozen=True)
class Seen:
    """A probe's answer: the register value it matches (or ``unexpected``), and its proof."""

    value: str
    evidence: str
    seen: str | None = None  # what Alma showed, for an unexpected value


@dataclass(frozen=True)
class NotAsked:
    """A probe that could not ask Alma this time, and why."""

    why: str


Answer = Seen | NotAsked


@dataclass
class Probing:
    """What a probe may use: the institution's client and profile, and the exchanges."""

    client: AlmaClient
    profile: Profile
    base_url: str
    transport: httpx.BaseTransport | None
    settings: Settings
    run_token: str
    writes: WriteSession | None = None
    # The ids of this calibration's requests a probe saw sent on to a partner (another
    # probe reads them back later and must know).
    sent_on: set[str] = field(default_factory=set)
    _last: list[httpx.Response] = field(default_factory=list)
    _memo: dict[str, httpx.Response | None] = field(default_factory=dict)

    def heard(self, response: httpx.Response) -> None:
        self._last.append(response)

    def ask(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        accept: str | None = None,
    ) -> httpx.Response:
        """GET ``path`` once per calibration (JSON, or ``accept`` as text); the raw answer
        whatever its status."""
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        if accept is not None:
            key += f"#{accept}"
        if key not in self._memo:
            self._memo[key] = self.answer_of(
                (lambda: self.client.get_json(path, params, cache=False))
                if accept is None
                else (lambda: self.client.get_text(path, params, accept=accept, cache=False))
            )
        answer = self._memo[key]
        if answer is None:
            raise ProbeFailed(f"GET {path} got no answer from Alma")
        return answer

    def remember(self, path: str, response: httpx.Response | None) -> None:
        """Keep ``response`` as the answer :meth:`ask` gives for GET ``path`` (no query):
        a call made otherwise (the sandbox guard's) is not asked again."""
        self._memo[path + "?"] = response

    def answer_of(self, call: Callable[[], object]) -> httpx.Response | None:
        """The last answer Alma gave while ``call`` ran (an error answer is an answer too)."""
        self._last.clear()
        try:
            call()
        except AlmaAPIError:
            pass
        except AlmaError as exc:  # a transport failure or a contract surprise
            if not self._last:
                raise ProbeFailed(str(exc)) from exc
        last = self._last[-1] if self._last else None
        if last is not None and (last.status_code == 429 or last.status_code >= 500):
            # Alma busy or failing says nothing about the fact: ask again another time.
            raise ProbeFailed(
                f"{last.request.method} {last.request.url.path} answered HTTP "
                f"{last.status_code}; calibrate again later"
            )
        return last


class ProbeFailed(Exception):
    """A probe could not get an answer it can read; the fact stays assumed."""


# -- evidence -----------------------------------------------------------------------------


def evidence(response: httpx.Response, excerpt: Any = None) -> str:
    """The redacted exchange; ``excerpt`` (JSON data) replaces a long body with its part
    that shows the fact. Tracking ids differ per call, so they are blanked (the file must
    not change while Alma does not)."""
    body = (
        response.content
        if excerpt is None
        else json.dumps(excerpt, indent=2, ensure_ascii=False, sort_keys=True).encode()
    )
    text = redacted_exchange(
        response.request.method, str(response.request.url), response.status_code, body
    )
    text = TRACKING_JSON.sub(r'\1"E01-…"', TRACKING_XML.sub(r"\1E01-…\2", text))
    lines = [line.rstrip() for line in text.splitlines()]
    if len(lines) > EXCERPT_LINES:
        lines = [*lines[:EXCERPT_LINES], "…"]
    return "\n".join(lines)


def scrubbed(text: str, patrons: Iterable[str] = ()) -> str:
    """``text`` (a why built from an Alma error, say) without the given patrons' ids, user
    paths, request ids and tracking ids."""
    for patron in patrons:
        if patron:
            text = text.replace(patron, "<test patron>")
    for pattern, placeholder in SCRUB:
        text = pattern.sub(placeholder, text)
    return text


def json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def error_codes(response: httpx.Response) -> tuple[str, ...]:
    return tuple(d.code for d in parse_error_details(response.content) if d.code)


def status_and_codes(response: httpx.Response) -> str:
    codes = error_codes(response)
    return f"HTTP {response.status_code}" + (f", errorCode {', '.join(codes)}" if codes else "")


def is_xml(response: httpx.Response) -> bool:
    return response.content.lstrip().startswith(b"<")


# -- the registry -------------------------------------------------------------------------

Probe = Callable[[Probing, Fact], Answer]
PROBES: dict[str, Probe] = {}


def probe(*fact_ids: str) -> Callable[[Probe], Probe]:
    """Register a probe for each of ``fact_ids`` (a probe may settle several facts)."""

    def register(fn: Probe) -> Probe:
        for fact_id in fact_ids:
            PROBES[fact_id] = fn
        return fn

    return register


def alternative(fact: Fact, index: int) -> str:
    return fact.alternatives[index].value


def unexpected(response: httpx.Response, seen: str, excerpt: Any = None) -> Seen:
    return Seen(UNEXPECTED, evidence(response, excerpt), seen=seen)
