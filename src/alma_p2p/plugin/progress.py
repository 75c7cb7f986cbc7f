"""Progress of a long live run: which scenario waits for what in Alma, and for how long.

One line per poll every ``--alma-progress-every`` seconds (default 30; 0: none), written
to the terminal as the run goes (under pytest -n, each worker's lines go to its stderr),
never the values read (they may name a patron). Replay waits for nothing and says nothing.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from alma_p2p import polling
from alma_p2p.plugin.run import run_of
from alma_p2p.plugin.scenario import scenario_of


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("alma").addoption(
        "--alma-progress-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="in live and record runs, say which scenario waits for Alma, at most once per "
        "this many seconds of a wait (default 30; 0: never)",
    )


def pytest_configure(config: pytest.Config) -> None:
    every = float(config.getoption("--alma-progress-every"))
    if run_of(config).settings.mode == "replay" or every <= 0:
        return
    config.pluginmanager.register(Progress(config, every), "alma_p2p.progress")


class Progress:
    """Tells the terminal about long polls of the scenario that is running."""

    def __init__(self, config: pytest.Config, every: float) -> None:
        self.config = config
        self.current = ""
        self.saved = (polling.PROGRESS, polling.PROGRESS_EVERY)
        polling.PROGRESS, polling.PROGRESS_EVERY = self.tell, every

    def pytest_unconfigure(self) -> None:
        polling.PROGRESS, polling.PROGRESS_EVERY = self.saved

    @pytest.hookimpl(trylast=True)
    def pytest_bdd_before_scenario(self, request: pytest.FixtureRequest, **_: Any) -> None:
        found = scenario_of(request.node)
        self.current = f"{found.name} [{found.institution}]" if found else request.node.name

    def pytest_runtest_teardown(self) -> None:
        self.current = ""

    def tell(self, what: str, waited: float, deadline: float) -> None:
        line = f"waiting {waited:.0f} s of {deadline:.0f} s for {what}" + (
            f" — {self.current}" if self.current else ""
        )
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and not hasattr(self.config, "workerinput"):
            reporter.write_line(line)
        else:
            print(line, file=sys.__stderr__, flush=True)
