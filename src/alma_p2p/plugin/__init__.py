"""The pytest plugin of the Alma peer-to-peer harness: wiring only.

Each module does one job and owns the run state it writes (typed, in ``config.stash``):

``run``            options, settings, profiles, attestations; one test per institution
``features``       feature files as tests: the packaged standard suite and a project's own
``preflight``      before any scenario of a live run: gateway, key, API areas, call budget
``applicability``  scenario/institution pairs that do not apply are left out, with reasons
``clients``        the Alma client of each institution, and the call counts it spent
``scenario``       who and what a running scenario is; its outcome
``cassettes``      the cassette around each scenario (knobs as overridable fixtures)
``writes``         the write guard, the ledger and the cleanup of @writes scenarios
``results``        verdicts per scenario: readiness report, Allure extras
``summary``        the terminal summary
``allure_view``    the Allure tree (institution → feature), readable step values, allurerc.json
``progress``       a long live run says which scenario waits for Alma, and how long
``junit``          JUnit names and properties a person reads (feature / scenario [institution])
``workers``        ``pytest -n N``: one worker per institution; the controller gathers all
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "alma_p2p.plugin.run",
    "alma_p2p.plugin.features",
    "alma_p2p.plugin.preflight",
    "alma_p2p.plugin.applicability",
    "alma_p2p.plugin.clients",
    "alma_p2p.plugin.scenario",
    "alma_p2p.plugin.cassettes",
    "alma_p2p.plugin.writes",
    "alma_p2p.plugin.results",
    "alma_p2p.plugin.summary",
    "alma_p2p.plugin.workers",
    "alma_p2p.plugin.junit",
    "alma_p2p.plugin.allure_view",
    "alma_p2p.plugin.progress",
]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from alma_p2p import hooks

    pluginmanager.add_hookspecs(hooks)
