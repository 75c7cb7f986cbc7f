"""Serving the stand-in over real HTTP on 127.0.0.1, in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server

from alma_p2p.standin.app import StandinApp
from alma_p2p.standin.world import World

HOST = "127.0.0.1"  # never configurable: the stand-in answers this machine only


@dataclass(frozen=True)
class RunningStandin:
    app: StandinApp
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/almaws/v1"


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr; the app keeps its own ``request_log``."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def serve(world_or_app: World | StandinApp, port: int = 0) -> Iterator[RunningStandin]:
    """Serve until the block ends; port 0 picks a free port."""
    app = world_or_app if isinstance(world_or_app, StandinApp) else StandinApp(world_or_app)
    server = make_server(HOST, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="alma-standin", daemon=True)
    thread.start()
    try:
        yield RunningStandin(app, server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
