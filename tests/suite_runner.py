"""Run the repository's acceptance suite live against a stand-in world, in a subprocess."""

from __future__ import annotations

import copy
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alma_p2p.cli import demo_environment
from alma_p2p.standin import StandinApp, World, serve

REPO = Path(__file__).resolve().parent.parent
DEMO_WORLD = REPO / "fixtures" / "standin" / "demo-world.yaml"


@dataclass
class SuiteRun:
    returncode: int
    output: str
    outcomes: dict[str, str]  # test id (name[institution]) → passed/failed/skipped/error
    app: StandinApp  # the stand-in as the run left it (its request log, its requests)

    def outcome_of(self, test_id: str) -> str:
        assert test_id in self.outcomes, f"{test_id} did not run:\n{self.output}"
        return self.outcomes[test_id]


def _outcomes(junit: Path) -> dict[str, str]:
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = next(
            (k for k in ("failure", "error", "skipped") if k in kinds), "passed"
        ).replace("failure", "failed")
        outcomes[case.get("name", "")] = outcome
    return outcomes


def demo_world() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(DEMO_WORLD.read_text()))


def institution(world: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in world["institutions"] if i["code"] == code)


def record_of(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    return next(i for i in items if i[key] == value)


def run_live(
    world: dict[str, Any],
    tmp_path: Path,
    *pytest_args: str,
    timeout: float = 120,
    mode: str = "live",
    gateway_path: str = "/almaws/v1",
) -> SuiteRun:
    """Serve ``world`` on 127.0.0.1 and run ``pytest steps --alma-mode=<mode>`` against it."""
    parsed = World.model_validate(world)
    junit = tmp_path / "junit.xml"
    keys = {i.code: i.api_keys[0].key for i in parsed.institutions if i.api_keys}
    app = StandinApp(parsed)
    with serve(app) as standin:
        env = demo_environment(standin.base_url.replace("/almaws/v1", gateway_path), keys)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "steps",
                f"--alma-mode={mode}",
                "-p",
                "no:cacheprovider",
                f"--junitxml={junit}",
                f"--alma-report-dir={tmp_path / 'reports'}",
                f"--alma-ledger={tmp_path / 'ledger.jsonl'}",
                *pytest_args,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    return SuiteRun(proc.returncode, proc.stdout + proc.stderr, _outcomes(junit), app)
