"""The harness's own pytest hooks, for plugins and ``conftest.py`` files to implement."""

from __future__ import annotations

import httpx
import pytest


@pytest.hookspec(firstresult=True)
def pytest_alma_transport(config: pytest.Config, institution: str) -> httpx.BaseTransport | None:
    """The transport a live or record run's client for ``institution`` sends through.

    None (the default) is the network. The harness's own tests answer with an
    ``httpx.WSGITransport`` around the stand-in, so a live run needs no socket.
    """


def pytest_alma_scenario_ended(
    item: pytest.Item, report: pytest.TestReport, raised: BaseException | None
) -> None:
    """A scenario ended: ``report`` is its call's (or its failed setup's), ``raised`` what it
    raised, if anything. The harness's results module gathers verdicts from it."""
