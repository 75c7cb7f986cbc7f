"""The stand-in's API gateway: keys and their API areas, thresholds, and the error channel.

What paths and areas exist comes from ``alma_p2p.alma.gateway``. The gateway answers
``UNAUTHORIZED`` (as XML) for a key without the path's API area, 429
``PER_SECOND_THRESHOLD`` above the per-second threshold, 429 once the daily threshold is
used up, Alma's JSON ``errorList`` for a fault, and ``X-Exl-Api-Remaining`` on every answer
from an institution (alma-api.md §1.2-§1.4). A path outside the gateway is an HTML 404.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from alma_p2p.alma.gateway import PREFIX, api_area, is_write
from alma_p2p.standin.render import digits
from alma_p2p.standin.rules import AlmaFault
from alma_p2p.standin.world import World

JSON_TYPE = "application/json;charset=UTF-8"


@dataclass(frozen=True)
class Grant:
    """Whose key it is and what it may do: API area → R or RW."""

    institution: str
    areas: Mapping[str, str]

    def allows(self, area: str, write: bool) -> bool:
        granted = self.areas.get(area)
        return granted is not None and (not write or granted == "RW")


@dataclass
class Meter:
    """An institution's calls against its per-second and daily thresholds."""

    per_second: int
    daily: int
    calls: int = 0
    recent: deque[float] = field(default_factory=deque)

    def over_per_second(self, now: float) -> bool:
        """Whether a call at ``now`` is one too many for the last second; else counts it."""
        while self.recent and now - self.recent[0] >= 1.0:
            self.recent.popleft()
        if len(self.recent) >= self.per_second:
            return True
        self.recent.append(now)
        return False

    @property
    def remaining(self) -> int:
        return max(0, self.daily - self.calls)


@dataclass(frozen=True)
class Admitted:
    """A call the gateway let through, counted against the key's institution."""

    institution: str


@dataclass(frozen=True)
class Refused:
    """A call the gateway answered itself; ``institution`` is the key's, if it knew the key."""

    response: Response
    institution: str | None


class Gateway:
    """Admits calls by key and threshold and writes the answers of the error channel."""

    def __init__(self, world: World, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.world = world
        self._institutions = {inst.code: inst for inst in world.institutions}
        self._grants: dict[str, Grant] = {}
        self._meters: dict[str, Meter] = {}
        for inst in world.institutions:
            self._meters[inst.code] = Meter(inst.per_second_threshold, inst.daily_threshold)
            for key in inst.api_keys:
                self._grants[key.key] = Grant(inst.code, dict(key.areas))

    def admit(self, request: Request) -> Admitted | Refused:
        """Check prefix, key, area and thresholds; an admitted call is counted."""
        if not request.path.startswith(PREFIX + "/"):
            return Refused(not_found_page(), None)
        key = _api_key(request)
        grant = self._grants.get(key or "")
        area = api_area(request.path[len(PREFIX) :])
        if grant is None and not key:
            # No key at all: "API-key not defined" (alma-api.md §1.2).
            return Refused(unauthorized(self.world.plays("gateway.unauthorized_as_xml")), None)
        if grant is None:
            return Refused(self._unknown_key(), None)
        if area is None or not grant.allows(area, is_write(request.method)):
            form = self._institutions[grant.institution].plays("gateway.unauthorized_as_xml")
            return Refused(unauthorized(form), grant.institution)
        meter = self._meters[grant.institution]
        if meter.over_per_second(self.clock()):
            fault = AlmaFault(
                "PER_SECOND_THRESHOLD",
                "HTTP requests are more than allowed per second. See https://goo.gl/2x1c1M ",
                429,
            )
            return Refused(self.error(grant.institution, request, fault), grant.institution)
        if meter.calls >= meter.daily:
            return Refused(self._daily_used_up(grant.institution, request), grant.institution)
        meter.calls += 1
        return Admitted(grant.institution)

    def _daily_used_up(self, institution: str, request: Request) -> Response:
        """UNVERIFIED(gateway.daily_threshold_code): 429 with errorCode DAILY_THRESHOLD
        (alma-api.md §1.4), a bare "Too Many Requests", or another code; every form with
        ``X-Exl-Api-Remaining: 0``."""
        played = self._institutions[institution].plays("gateway.daily_threshold_code")
        if played == "bare":
            return self.stamp(institution, Response("Too Many Requests", 429))
        code = "DAILY_THRESHOLD" if played == "DAILY_THRESHOLD" else "DAILY_LIMIT"
        fault = AlmaFault(code, "Daily API threshold exceeded.", 429)
        return self.error(institution, request, fault)

    def _unknown_key(self) -> Response:
        """A key no institution holds. UNVERIFIED(gateway.invalid_key_status): 403, the
        UNAUTHORIZED answer of a key without the area (400), or the UI host's 401."""
        status = self.world.plays("gateway.invalid_key_status")
        if status == "400":
            return unauthorized(self.world.plays("gateway.unauthorized_as_xml"))
        if status == "401":
            page = "<!DOCTYPE html><html><body><h1>401 Unauthorized</h1></body></html>"
            return Response(page, 401, content_type="text/html")
        body = _error_list("INVALID_REQUEST", "Invalid API Key", "E01-0000000000-STANDIN")
        return Response(json.dumps(body), 403, content_type=JSON_TYPE)

    def stamp(self, institution: str, response: Response) -> Response:
        """Add the institution's calls left today, as Alma does on every answer."""
        remaining = self._meters[institution].remaining
        response.headers["X-Exl-Api-Remaining"] = str(remaining)
        return response

    def error(self, institution: str, request: Request, fault: AlmaFault) -> Response:
        """Alma's JSON ``errorList`` for a fault, with a tracking id stable per request."""
        tracking = "E01-" + digits(f"{request.method} {request.full_path}", 10) + "-STANDIN"
        body = _error_list(fault.code, fault.message, tracking)
        return self.stamp(
            institution, Response(json.dumps(body), fault.status, content_type=JSON_TYPE)
        )


def _error_list(code: str, message: str, tracking: str) -> dict[str, object]:
    """Alma's JSON error body (captures/error_user_not_found.json)."""
    return {
        "errorsExist": True,
        "errorList": {
            "error": [{"errorCode": code, "errorMessage": message, "trackingId": tracking}]
        },
        "result": None,
    }


def _api_key(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("apikey "):
        return header[7:].strip()
    return request.args.get("apikey")


UNAUTHORIZED_TEXT = "API-key not defined or not configured to allow this API."
UNAUTHORIZED_TRACKING = "E01-0000000000-STANDIN"


def unauthorized(form: str = "xml") -> Response:
    """Alma's answer to a key without the API area."""
    # Served as XML even to JSON clients, as the public fixtures model it (alma-api.md §1.2):
    # UNVERIFIED(gateway.unauthorized_as_xml); or the JSON errorList when the world says so.
    if form == "json":
        body_json = _error_list("UNAUTHORIZED", UNAUTHORIZED_TEXT, UNAUTHORIZED_TRACKING)
        return Response(json.dumps(body_json), 400, content_type=JSON_TYPE)
    body = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<web_service_result xmlns="http://com/exlibris/urm/general/xmlbeans">'
        "<errorsExist>true</errorsExist><errorList><error>"
        "<errorCode>UNAUTHORIZED</errorCode>"
        f"<errorMessage>{escape(UNAUTHORIZED_TEXT)}"
        f"</errorMessage><trackingId>{UNAUTHORIZED_TRACKING}</trackingId>"
        "</error></errorList></web_service_result>"
    )
    return Response(body, 400, content_type="application/xml;charset=UTF-8")


def not_found_page() -> Response:
    """What the host answers for a path outside ``/almaws/v1``."""
    page = "<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>"
    return Response(page, 404, content_type="text/html")
