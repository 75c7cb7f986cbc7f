"""Run the repository's acceptance suite in this process, live against a stand-in world.

The stand-in is served through ``httpx.WSGITransport`` (the plugin's ``pytest_alma_transport``
hook), so a run needs no socket, no server thread and no second interpreter. Outcomes come
from the run's JUnit XML; its terminal output is captured for the message assertions.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import io
import os
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import yaml

from alma_p2p import polling
from alma_p2p.cli import demo_environment
from alma_p2p.standin import StandinApp, World, serve
from alma_p2p.standin.worlds import DEMO_WORLD as PACKAGED_DEMO_WORLD
from alma_p2p.suite import FEATURES

REPO = Path(__file__).resolve().parent.parent
DEMO_WORLD = PACKAGED_DEMO_WORLD
# Never resolved: every request goes through the WSGI transport, none to the network.
STANDIN_BASE_URL = "http://standin.invalid/almaws/v1"
# A real sandbox wants the default 10 calls a second; in process the stand-in takes the
# highest rate the harness allows, once its per-second threshold (25 by default, which
# these runs do not examine: tests/test_standin.py does) is lifted out of the way.
RATE = "100"
STANDIN_PER_SECOND = 10_000


class VirtualClock(polling.Clock):
    """Time that passes only when someone waits: ``sleep`` moves it on at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@contextlib.contextmanager
def _virtual_time() -> Iterator[VirtualClock]:
    real, polling.CLOCK = polling.CLOCK, VirtualClock()
    try:
        yield polling.CLOCK
    finally:
        polling.CLOCK = real


@dataclass
class SuiteRun:
    returncode: int
    output: str
    outcomes: dict[str, str]  # test id (name[institution]) → passed/failed/skipped/error
    app: StandinApp  # the stand-in as the run left it (its request log, its requests)

    def outcome_of(self, test_id: str) -> str:
        assert test_id in self.outcomes, f"{test_id} did not run:\n{self.output}"
        return self.outcomes[test_id]


@dataclass
class InprocessRun:
    returncode: int
    stdout: str
    stderr: str


TransportWrapper = Callable[[httpx.BaseTransport], httpx.BaseTransport]


class TransportPlugin:
    """Answers the harness's transport hook with the stand-in, in process (through
    ``wrapper``, e.g. a fault-injecting transport, when one is given)."""

    def __init__(self, app: StandinApp, wrapper: TransportWrapper | None = None) -> None:
        self.app = app
        self.wrapper = wrapper

    def pytest_alma_transport(self, config: pytest.Config, institution: str) -> httpx.BaseTransport:
        transport: httpx.BaseTransport = httpx.WSGITransport(app=self.app)
        return self.wrapper(transport) if self.wrapper else transport


def _of_this_run(module: object) -> bool:
    """A module a run imports from the repository's suite (the test module, the step
    modules, conftest files), which the next run must import afresh; libraries and
    ``alma_p2p`` itself are kept, so each run does not re-import (and re-rewrite) them."""
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = Path(file).resolve()
    return (
        path.is_relative_to(REPO)
        and not path.is_relative_to(REPO / "src")
        and not path.is_relative_to(REPO / ".venv")
    )


@contextlib.contextmanager
def _restored_interpreter() -> Iterator[None]:
    """Undo what a run does to the interpreter, as pytester's in-process runs do: the suite's
    modules it imported and its ``sys.path`` and ``sys.meta_path`` entries."""
    modules = dict(sys.modules)
    path, meta_path = list(sys.path), list(sys.meta_path)
    try:
        yield
    finally:
        for name, module in list(sys.modules.items()):
            if name not in modules and _of_this_run(module):
                del sys.modules[name]
        sys.modules.update(modules)
        sys.path[:] = path
        sys.meta_path[:] = meta_path


def run_pytest(
    args: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    plugins: Sequence[object] = (),
) -> InprocessRun:
    """``pytest <args>`` in this process, rooted at the repository, run from ``cwd``.

    ``env`` replaces every ``ALMA_*`` variable (and only those); ``cwd`` should be a scratch
    folder, so no ``.env`` file of the repository reaches the run.
    """
    out, err = io.StringIO(), io.StringIO()
    with _restored_interpreter(), pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("ALMA_")]:
            mp.delenv(name)
        for name, value in (env or {}).items():
            if name.startswith("ALMA_"):
                mp.setenv(name, value)
        mp.delenv("PYTEST_ADDOPTS", raising=False)
        mp.chdir(cwd)
        # The run's gc.collect() calls (its unraisable-exception check) then walk only what
        # the run created, not this whole session's heap.
        gc.freeze()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = pytest.main(
                    [
                        f"--rootdir={REPO}",
                        f"--basetemp={cwd / '.basetemp'}",
                        # The step modules are imported afresh by every run; rewriting their
                        # asserts (which all carry their own message) would compile them
                        # twice each time, for nothing these tests read.
                        "--assert=plain",
                        *args,
                    ],
                    plugins=list(plugins),
                )
        finally:
            gc.unfreeze()
    return InprocessRun(int(code), out.getvalue(), err.getvalue())


def junit_test_id(case: ET.Element) -> str:
    """pytest's name of a JUnit testcase (``test_x[demo-college]``): the harness names a
    scenario's testcase for people and keeps pytest's name as the property ``test``."""
    return next(
        (p.get("value", "") for p in case.iter("property") if p.get("name") == "test"),
        case.get("name", ""),
    )


def _outcomes(junit: Path) -> dict[str, str]:
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = next(
            (k for k in ("failure", "error", "skipped") if k in kinds), "passed"
        ).replace("failure", "failed")
        outcomes[junit_test_id(case)] = outcome
    return outcomes


@functools.cache
def _demo_world() -> dict[str, Any]:
    return yaml.safe_load(DEMO_WORLD.read_text())


def demo_world() -> dict[str, Any]:
    return copy.deepcopy(_demo_world())


def institution(world: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in world["institutions"] if i["code"] == code)


def record_of(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    return next(i for i in items if i[key] == value)


def standin_app(world: dict[str, Any]) -> StandinApp:
    """The stand-in playing ``world``, its per-second threshold lifted (unless the world sets
    one): a test that calls it at the harness's highest rate meets no 429 it did not ask for."""
    world = copy.deepcopy(world)
    for inst in world["institutions"]:
        inst.setdefault("per_second_threshold", STANDIN_PER_SECOND)
    return StandinApp(World.model_validate(world))


def run_live(
    world: dict[str, Any],
    tmp_path: Path,
    *pytest_args: str,
    mode: str = "live",
    gateway_path: str = "/almaws/v1",
    over: Literal["wsgi", "http", "network"] = "wsgi",
    transport: TransportWrapper | None = None,
) -> SuiteRun:
    """``pytest --alma-mode=<mode>`` against ``world``, in process.

    ``over`` is how the harness reaches the stand-in: ``wsgi`` in process, with no socket;
    ``http`` served on 127.0.0.1, for a test that compares with cassettes recorded over
    HTTP (``httpx.WSGITransport`` drops the reason phrase of the status line, werkzeug's
    ``302 FOUND``, that a cassette records); ``network`` leaves the transport to the
    harness, for a run whose ``--alma-base-url`` points where nothing listens.

    ``transport`` wraps the in-process stand-in's transport (``tests/faults.py``). The
    client's retries wait no time (``ALMA_RETRY_BACKOFF=0``).
    """
    app = standin_app(world)
    junit = tmp_path / "junit.xml"
    keys = {i.code: i.api_keys[0].key for i in app.world.institutions if i.api_keys}
    scratch = tmp_path / "cwd"
    scratch.mkdir(exist_ok=True)
    with contextlib.ExitStack() as stack:
        base_url = STANDIN_BASE_URL
        if over == "http":
            base_url = stack.enter_context(serve(app)).base_url
        env = demo_environment(base_url.replace("/almaws/v1", gateway_path), keys)
        env["ALMA_RETRY_BACKOFF"] = "0"  # the harness's own tests never sleep between tries
        if over == "wsgi":
            # Polls wait on a virtual clock: a status that never settles reaches its real
            # deadline at once, and nothing sleeps.
            stack.enter_context(_virtual_time())
        run = run_pytest(
            [
                str(FEATURES),
                f"--alma-mode={mode}",
                f"--alma-rate={RATE}",
                "-p",
                "no:cacheprovider",
                f"--junitxml={junit}",
                f"--alma-report-dir={tmp_path / 'reports'}",
                f"--alma-ledger={tmp_path / 'ledger.jsonl'}",
                *pytest_args,
            ],
            cwd=scratch,
            env=env,
            plugins=[TransportPlugin(app, transport)] if over == "wsgi" else [],
        )
    return SuiteRun(run.returncode, run.stdout + run.stderr, _outcomes(junit), app)


def ctrl_c_reaches_it() -> None:
    """``preexec_fn`` of a child a test interrupts: Ctrl-C as a terminal delivers it (a
    shell's background job starts with SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler, so the child would never see the test's SIGINT)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
