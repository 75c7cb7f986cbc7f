"""``pytest -n N`` (pytest-xdist): each institution on one worker; one report from all.

Why one worker per institution rather than a bucket shared between workers: an
institution's per-second limit and daily allowance are then held by the one client that
spends them, with no lock between processes; preflight asks each Alma once, on the worker
that will run its scenarios; and a @writes scenario's cleanup never races another worker's
at the same institution. Institutions are dealt round-robin, in name order, over the
workers (``owner``): the controller's scheduler and each worker compute the same deal, so a
worker knows at collection which institutions are its own. A consortium is many
institutions of similar size, so the deal is even; a faster spread of one institution's
scenarios would break its limits, which are the point.

``-n`` alone (xdist's ``--dist load``) uses this scheduler. In live and record runs another
``--dist`` is refused: it would split an institution over workers. Replay makes no call and
takes any.

At the end each worker hands what it gathered to the controller (``workeroutput``): the
scenarios' results, the calls each client spent, preflight's calls, what was left in Alma,
what was recorded. The controller writes the readiness report and the terminal summary,
once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict
from typing import Any

import pytest

from alma_p2p.plugin.applicability import left_out_of
from alma_p2p.plugin.cassettes import recorded_of
from alma_p2p.plugin.clients import Spent, clients_of
from alma_p2p.plugin.deal import is_worker, owner
from alma_p2p.plugin.preflight import preflight_of
from alma_p2p.plugin.results import results_of, stop_reason
from alma_p2p.plugin.run import run_of
from alma_p2p.plugin.writes import WRITES
from alma_p2p.resultfile import scenario_result

OUTPUT_KEY = "alma_p2p"
SCHEDULED = ("no", "load")  # what ``-n`` alone leaves in --dist


def pytest_configure(config: pytest.Config) -> None:
    dist = config.getoption("dist", "no")
    run = run_of(config)
    numprocesses = config.getoption("numprocesses", None)
    if numprocesses and dist not in SCHEDULED and run.settings.mode != "replay" and run.profiles:
        raise pytest.UsageError(
            f"--dist {dist} would split an institution's scenarios over workers, and with "
            "them its per-second limit and daily allowance: use -n N alone (each "
            "institution then runs on one worker)"
        )

    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), "alma_p2p.workers.xdist")
        if numprocesses and dist in SCHEDULED and run.profiles:
            # A crashed worker's replacement has another id, which owns no institution in
            # the deal: its institutions' scenarios would wait for a worker that never
            # comes. The run ends instead, and the report says a worker stopped.
            config.option.maxworkerrestart = 0


class XdistHooks:
    """pytest-xdist's own hooks: registered only when it is installed."""

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getoption("dist", "no") != "load" or not run_of(config).profiles:
            return None
        return _scheduler(config, log)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        if error is not None:
            results_of(node.config).stopped = (
                f"a pytest-xdist worker stopped unexpectedly ({node.gateway.id}): the "
                "scenarios of its institutions it had not reported are not run; if the run "
                "writes to Alma, run `alma-p2p sweep` (the ledger knows what it created)"
            )
        _take_in(node)


def _scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    names = sorted(run_of(config).profiles or {}, key=len, reverse=True)

    class InstitutionScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """Each institution's scenarios on the worker ``owner`` names; others anywhere."""

        workqueue: OrderedDict[str, dict[str, bool]]
        collection: list[str] | None

        def _split_scope(self, nodeid: str) -> str:
            found = _institution_in(nodeid, names)
            return f"institution:{found}" if found else str(nodeid.rsplit("::", 1)[0])

        def _mine(self, node: Any, scope: str) -> bool:
            if not scope.startswith("institution:"):
                return True
            index = int(str(node.gateway.id).removeprefix("gw"))
            return owner(scope.split(":", 1)[1], names, self.numnodes) == index

        def _assign_work_unit(self, node: Any) -> bool:
            scope = next((s for s in self.workqueue if self._mine(node, s)), None)
            if scope is None:
                return False
            work_unit = self.workqueue.pop(scope)
            self.assigned_work.setdefault(node, {})[scope] = work_unit
            collection = self.registered_collections[node]
            node.send_runtest_some(
                [collection.index(n) for n, done in work_unit.items() if not done]
            )
            return True

        def _reschedule(self, node: Any) -> None:
            # A worker holds back its last test until it is given more or told to stop (it
            # needs the next test to run the right teardowns), and only a finished test
            # brings it back here: so it keeps more than two tests while it has work of its
            # own to get, and is told to stop (after what it holds) once it has none left.
            # Else a worker given one institution's single scenario waits for ever.
            if node.shutting_down:
                return
            while self._pending_of(self.assigned_work.get(node, {})) <= 2:
                if not self._assign_work_unit(node):
                    break
            if not any(self._mine(node, s) for s in self.workqueue):
                node.shutdown()

        def schedule(self) -> None:
            assert self.collection_is_completed
            if self.collection is not None:
                for node in self.nodes:
                    self._reschedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            if not self.collection:
                return
            queue: OrderedDict[str, dict[str, bool]] = OrderedDict()
            for nodeid in self.collection:
                queue.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            self.workqueue = queue
            for node in self.nodes:
                self._reschedule(node)

    return InstitutionScheduling(config, log)


def _institution_in(nodeid: str, names: list[str]) -> str | None:
    """The institution in a test id's parameters (``test_x[demo-college]``), longest first."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    params = nodeid[nodeid.index("[") + 1 : -1]
    for name in names:
        if (
            params == name
            or params.endswith("-" + name)
            or params.startswith(name + "-")
            or f"-{name}-" in params
        ):
            return name
    return None


# -- a worker hands over what it gathered ----------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if not is_worker(config) or run_of(config).profiles is None:
        return
    results = results_of(config)
    writes = config.stash[WRITES]
    recorded = recorded_of(config)
    left_out = left_out_of(config)
    preflight = preflight_of(config)
    config.workeroutput[OUTPUT_KEY] = {  # type: ignore[attr-defined]
        "ran": {k: asdict(r) for k, r in results.ran.items()},
        "selected": {k: asdict(r) for k, r in results.selected.items()},
        "not_selected": {k: asdict(r) for k, r in results.not_selected.items()},
        "stopped": results.stopped or stop_reason(session, session.exitstatus),
        "spent": {k: asdict(v) for k, v in clients_of(config).spent.items()},
        "preflight_calls": dict(preflight.calls),
        "preflight_unreachable": dict(preflight.unreachable),
        "lost_answers": dict(writes.lost_answers),
        "left_behind": list(writes.left_behind),
        "written": list(recorded.written),
        "kept": list(recorded.kept),
        "left_out_reasons": dict(left_out.reasons),
        "left_out_items": sorted(list(p) for p in left_out.items),
    }


def _take_in(node: Any) -> None:
    """The controller takes in a worker's results as it finishes."""
    config: pytest.Config = node.config
    data = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
    if data is None:
        return
    results = results_of(config)
    result = scenario_result
    for key, raw in data["ran"].items():
        found = result(raw)
        results.ran[key] = found
        results.scenarios.append(found)
    for key, raw in data["selected"].items():
        results.selected.setdefault(key, result(raw))
    for key, raw in data["not_selected"].items():
        results.not_selected.setdefault(key, result(raw))
    results.stopped = results.stopped or data["stopped"]
    clients = clients_of(config)
    for name, raw in data["spent"].items():
        mine = Spent(**raw)
        before = clients.spent.get(name)
        if before is not None:  # only with another --dist in replay: add them up
            mine = Spent(
                before.calls + mine.calls,
                before.gets + mine.gets,
                before.distinct + mine.distinct,
                mine.remaining if mine.remaining is not None else before.remaining,
            )
        clients.spent[name] = mine
    preflight = preflight_of(config)
    preflight.calls.update(data["preflight_calls"])
    preflight.unreachable.update(data["preflight_unreachable"])
    writes = config.stash[WRITES]
    for name, count in data["lost_answers"].items():
        writes.lost_answers[name] = writes.lost_answers.get(name, 0) + count
    writes.left_behind.extend(data["left_behind"])
    recorded = recorded_of(config)
    recorded.written.extend(data["written"])
    recorded.kept.extend(data["kept"])
    left_out = left_out_of(config)
    left_out.reasons.update(data["left_out_reasons"])  # every worker collects the same
    left_out.items.update((i, item) for i, item in data["left_out_items"])
