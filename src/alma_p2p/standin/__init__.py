"""The Alma stand-in: an HTTP service on 127.0.0.1 with Alma's shapes, codes and rules."""

from alma_p2p.standin.app import LoggedRequest, StandinApp
from alma_p2p.standin.server import RunningStandin, serve
from alma_p2p.standin.world import World, WorldError, load_world

__all__ = [
    "LoggedRequest",
    "RunningStandin",
    "StandinApp",
    "World",
    "WorldError",
    "load_world",
    "serve",
]
