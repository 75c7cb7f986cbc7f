"""The Alma stand-in: a WSGI app answering the subset of ``/almaws/v1`` the suite uses.

It answers with Alma's shapes (``render``), Alma's gateway (``gateway``: keys and API areas,
thresholds, ``X-Exl-Api-Remaining``, the error channel) and Alma's documented rules for
borrowing-request owners, sending on and lender auto-reject (``rules``), all as documented
in ``shared/reference/alma-api.md``; ``routes`` ties paths to them. Every behaviour no
source settles is marked with the id of its fact in the register of Alma facts
(``alma_p2p/facts.yaml``). It invents no endpoint
Alma lacks: state only staff can create (a received request) comes from the world.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from alma_p2p.standin.gateway import JSON_TYPE, Gateway, Refused
from alma_p2p.standin.network import link
from alma_p2p.standin.render import apply_quirks
from alma_p2p.standin.routes import Live, answer
from alma_p2p.standin.rules import AlmaFault
from alma_p2p.standin.world import World

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


@dataclass(frozen=True)
class LoggedRequest:
    """One answered request: its query without the API key, and whose key it carried."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    institution: str | None


class StandinApp:
    """The WSGI application; ``request_log`` records every request it answered."""

    def __init__(self, world: World, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.world = world
        self.request_log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._gateway = Gateway(world, clock)
        peers = {inst.code: inst for inst in world.institutions}
        self._live: dict[str, Live] = {
            inst.code: Live.of(inst, peers, clock) for inst in world.institutions
        }
        link(self._live)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if self.world.latency_ms:
            # Outside the lock: calls in flight overlap, as they do on the way to Alma.
            time.sleep(self.world.latency_ms / 1000)
        with self._lock:
            response, institution = self._dispatch(request)
        query = {k: v for k, v in request.args.items() if k != "apikey"}
        self.request_log.append(
            LoggedRequest(request.method, request.path, query, response.status_code, institution)
        )
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> tuple[Response, str | None]:
        verdict = self._gateway.admit(request)
        if isinstance(verdict, Refused):
            return verdict.response, verdict.institution
        code = verdict.institution
        try:
            answered = answer(self._live[code], request)
        except AlmaFault as fault:
            return self._gateway.error(code, request, fault), code
        if isinstance(answered, Response):
            response = answered
        elif answered is None:
            response = Response(status=204)
        else:
            data = apply_quirks(answered, self.world.release_quirks)
            response = Response(json.dumps(data, ensure_ascii=False), 200, content_type=JSON_TYPE)
        return self._gateway.stamp(code, response), code
