"""What Allure shows of a run (when ``--alluredir`` is given), as a librarian reads it.

- The tree: institution, then feature (the labels ``parentSuite`` and ``suite``; the
  Awesome report groups by them through ``allurerc.json``).
- A step's parameters are the values its Gherkin text gave (``error 401608``), shown as
  written; the fixtures a step function asks for (clients, profiles, patrons, the test
  data) are not parameters and never reach the report.
- A person's check (manual, attested, stale, cannot tell) is a skip with its checklist
  line, not a traceback.
- ``allurerc.json`` beside the results: the report's name (the consortium's), the
  categories (Allure 3 reads them from its configuration, not from ``categories.json``),
  the grouping, and a history file kept next to the results folder, so each report shows
  the trend of the runs before it. ``make report`` passes it with ``--config``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from alma_p2p.plugin.run import run_of
from alma_p2p.plugin.scenario import scenario_of

CONFIG_FILE = "allurerc.json"
HISTORY_FILE = "allure-history.jsonl"
TREE = ["parentSuite", "suite"]  # institution, then feature


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "allure_report_dir", None):
        config.pluginmanager.register(AllureView(config), "alma_p2p.allure_view")


class AllureView:
    """Hooks that run only when Allure writes results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def _listener(self) -> Any:
        """allure-pytest-bdd's listener (None if it is not loaded)."""
        return next(
            (
                p
                for p in self.config.pluginmanager.get_plugins()
                if type(p).__name__ == "PytestBDDListener" and hasattr(p, "lifecycle")
            ),
            None,
        )

    @pytest.hookimpl(trylast=True)  # after the scenario's identity and Allure's test case
    def pytest_bdd_before_scenario(
        self, request: pytest.FixtureRequest, feature: Any, scenario: Any
    ) -> None:
        listener = self._listener()
        found = scenario_of(request.node)
        if listener is None or found is None:
            return
        from allure_commons.model2 import Label, Parameter

        uuid = listener.nodeid_to_uuid.get(request.node.nodeid)
        with listener.lifecycle.update_test_case(uuid=uuid) as result:
            if result is None:
                return
            result.labels = [label for label in result.labels if label.name not in TREE]
            result.labels += [
                Label(name="parentSuite", value=found.institution),
                Label(name="suite", value=found.feature),
            ]
            result.parameters = [
                Parameter(name="institution", value=found.institution)
                if p.name == "alma_institution"
                else p
                for p in result.parameters
            ]

    @pytest.hookimpl(trylast=True)  # after Allure has listed the step's arguments
    def pytest_bdd_before_step_call(
        self,
        request: pytest.FixtureRequest,
        feature: Any,
        scenario: Any,
        step: Any,
        step_func: Any,
        step_func_args: dict[str, Any],
    ) -> None:
        listener = self._listener()
        if listener is None:
            return
        from allure_commons.model2 import Parameter
        from allure_pytest_bdd.steps import get_step_uuid  # type: ignore[import-untyped]

        fixtures = set(request.fixturenames)
        with listener.lifecycle.update_step(uuid=get_step_uuid(step)) as result:
            if result is None:
                return
            result.parameters = [
                Parameter(name=name, value=readable(value))
                for name, value in step_func_args.items()
                if name not in fixtures and name not in ("docstring", "datatable")
            ]

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A skipped scenario (a person's check, a refusal) keeps its message, no trace."""
        if not report.skipped or report.when not in ("setup", "call"):
            return
        listener = self._listener()
        if listener is None:
            return
        uuid = listener.nodeid_to_uuid.get(report.nodeid)
        with listener.lifecycle.update_test_case(uuid=uuid) as result:
            if result is not None and result.statusDetails is not None:
                result.statusDetails.trace = None


def readable(value: object) -> str:
    """A step argument as the Gherkin wrote it: text without quotes, numbers as numbers."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    return type(value).__name__


def allure3_category(category: dict[str, Any]) -> dict[str, Any]:
    """A category as Allure 3 reads it: its regular expressions are JavaScript's, which have
    no inline ``(?s)`` (``[\\s\\S]`` matches any character, line ends included), and Allure
    3 searches where Allure 2 matched the whole message (hence the ``^``)."""
    out = dict(category)
    for key in ("messageRegex", "traceRegex"):
        pattern = out.get(key)
        if isinstance(pattern, str) and pattern.startswith("(?s)"):
            out[key] = "^" + pattern.removeprefix("(?s)").replace(".*", "[\\s\\S]*")
    return out


def title(config: pytest.Config) -> str:
    run = run_of(config)
    if run.settings.consortium:
        return run.settings.consortium
    names = [p.institution.name for p in (run.profiles or {}).values()]
    return "Peer-to-peer readiness: " + ", ".join(names)


def write_config(config: pytest.Config, folder: Path, categories: list[dict[str, Any]]) -> Path:
    """``allurerc.json`` in the results folder; paths in it are relative to the rootdir,
    where ``make report`` runs ``allure generate``."""
    name = title(config)
    history_file = folder.resolve().parent / HISTORY_FILE
    history = (
        os.path.relpath(history_file, config.rootpath)
        if history_file.is_relative_to(config.rootpath)
        else str(history_file)
    )
    data = {
        "name": name,
        "historyPath": history,
        "categories": [allure3_category(c) for c in categories],
        "plugins": {"awesome": {"options": {"reportName": name, "groupBy": TREE}}},
    }
    path = folder / CONFIG_FILE
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
