"""``alma-standin --world FILE --port N``: serve a world on 127.0.0.1 until Ctrl-C.

Without ``--world`` it serves the demo world shipped in the package (``worlds/``)."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
import threading
from pathlib import Path

from alma_p2p.standin.app import StandinApp
from alma_p2p.standin.server import HOST, serve
from alma_p2p.standin.world import WorldError, load_world
from alma_p2p.standin.worlds import DEMO_WORLD

MAX_PORT = 65535


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="alma-standin", description="Serve an Alma stand-in world on 127.0.0.1."
    )
    parser.add_argument(
        "--world",
        type=Path,
        default=DEMO_WORLD,
        help="world file (YAML); default: the packaged demo world, which fits the demo profiles",
    )
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= MAX_PORT:
        print(
            f"alma-standin: --port {args.port} is not a port: give one from 0 to {MAX_PORT} "
            "(0 picks a free one)",
            file=sys.stderr,
        )
        return 2
    try:
        world = load_world(args.world)
    except WorldError as exc:
        print(f"alma-standin: {exc}", file=sys.stderr)
        return 2
    busy = _cannot_listen(args.port)
    if busy is not None:
        print(busy, file=sys.stderr)
        return 2
    app = StandinApp(world)
    try:
        context = serve(app, args.port)
        standin = context.__enter__()
    except (OSError, SystemExit) as exc:
        # werkzeug reports a failed bind itself and exits; the port was free a moment ago.
        reason = exc.strerror if isinstance(exc, OSError) else "taken meanwhile"
        print(f"alma-standin: cannot listen on {HOST}:{args.port}: {reason}", file=sys.stderr)
        return 2
    print(
        f"Alma stand-in serving {len(world.institutions)} institutions at {standin.base_url} "
        "(Ctrl-C stops)",
        flush=True,
    )
    for inst in world.institutions:
        keys = ", ".join(k.key for k in inst.api_keys) or "no keys"
        print(f"  {inst.code} ({inst.environment_type}): demo key {keys}", flush=True)
    stop = threading.Event()
    try:
        seen = 0
        while not stop.wait(0.2):
            for entry in app.request_log[seen:]:
                print(f"{entry.method} {entry.path} → {entry.status}", file=sys.stderr, flush=True)
            seen = len(app.request_log)
    except KeyboardInterrupt:
        pass
    finally:
        context.__exit__(None, None, None)
    return 0


def _cannot_listen(port: int) -> str | None:
    """Why the stand-in cannot listen on ``port`` (None when it can); checked here because
    werkzeug prints its own lines and exits when a bind fails."""
    if port == 0:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server will: a port left in TIME_WAIT by a stopped stand-in is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            fix = (
                "stop what listens there, or choose another --port (0 picks a free one)"
                if exc.errno == errno.EADDRINUSE
                else "choose another --port (0 picks a free one)"
            )
            return f"alma-standin: cannot listen on {HOST}:{port}: {exc.strerror}; {fix}"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
