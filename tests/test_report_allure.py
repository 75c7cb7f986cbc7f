"""What Allure shows: institution → feature, readable step values, person's checks without
a traceback, the consortium's title, Allure 3 categories and history from allurerc.json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.suite_runner import REPO, demo_world, run_live
from tests.test_config_scenarios_can_fail import BROKEN

ALLURE = REPO / "tools" / "allure" / "node_modules" / ".bin" / "allure"
HARNESS_FIXTURES = ("alma", "alma_institution", "alma_test_data", "patrons", "alma_writes")


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A live run at demo-college whose partner is inactive, with Allure results."""
    tmp = tmp_path_factory.mktemp("allure-view")
    break_it, _, _ = BROKEN["partner inactive"]
    world = demo_world()
    break_it(world)
    results = tmp / "allure-results"
    run = run_live(
        world, tmp, "--institution", "demo-college", f"--alluredir={results}",
        "--alma-consortium", "Demo Valley Consortium",
    )  # fmt: skip
    assert run.returncode == 1, run.output[-2000:]
    return results


def _results(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in folder.glob("*-result.json")]


def _step_params(steps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for step in steps:
        out += [(p["name"], p["value"]) for p in step.get("parameters", [])]
        out += _step_params(step.get("steps", []))
    return out


def test_the_tree_is_institution_then_feature(broken_run):
    for result in _results(broken_run):
        labels = {(lab["name"], lab["value"]) for lab in result["labels"]}
        assert ("parentSuite", "demo-college") in labels
        assert any(name == "suite" for name, _ in labels)
    config = json.loads((broken_run / "allurerc.json").read_text())
    assert config["plugins"]["awesome"]["options"]["groupBy"] == ["parentSuite", "suite"]


def test_step_parameters_are_the_gherkin_values_not_objects(broken_run):
    params = [p for r in _results(broken_run) for p in _step_params(r.get("steps", []))]
    assert ("item", "workflow_profiles") in params
    for name, value in params:
        assert name not in HARNESS_FIXTURES, (name, value)
        assert " object at 0x" not in value
        assert not value.startswith("'"), (name, value)


def test_a_person_s_check_is_a_skip_with_its_line_not_a_traceback(broken_run):
    skipped = [r for r in _results(broken_run) if r["status"] == "skipped"]
    assert skipped
    for result in skipped:
        assert not result["statusDetails"].get("trace"), result["name"]
        assert result["statusDetails"]["message"]


def test_the_allure_configuration_names_the_consortium_and_its_categories(broken_run):
    config = json.loads((broken_run / "allurerc.json").read_text())
    assert config["name"] == "Demo Valley Consortium"
    assert config["plugins"]["awesome"]["options"]["reportName"] == "Demo Valley Consortium"
    assert config["categories"][0]["name"] == "Institution configuration fault"
    assert config["historyPath"] == str(broken_run.parent / "allure-history.jsonl")


@pytest.mark.subprocess  # the Allure 3 renderer (node)
@pytest.mark.skipif(not ALLURE.exists(), reason="tools/allure is not installed (make report)")
def test_allure_3_reads_the_title_categories_and_keeps_history(broken_run, tmp_path):
    def generate(output: Path) -> None:
        subprocess.run(
            [str(ALLURE), "generate", str(broken_run), "--config",
             str(broken_run / "allurerc.json"), "--output", str(output)],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip

    history = broken_run.parent / "allure-history.jsonl"
    before = len(history.read_text().splitlines()) if history.exists() else 0
    generate(tmp_path / "first")
    generate(tmp_path / "second")
    assert len(history.read_text().splitlines()) == before + 2  # one point per report
    summary = json.loads((tmp_path / "second" / "summary.json").read_text())
    assert summary["name"] == "Demo Valley Consortium"
    categories = (tmp_path / "second" / "widgets" / "categories.json").read_text()
    assert "Institution configuration fault" in categories


def test_allure_3_categories_are_javascript_patterns_that_match_as_allure_2_did():
    import re

    from alma_p2p.plugin.allure_view import allure3_category
    from alma_p2p.plugin.results import ALLURE_CATEGORIES

    fault = allure3_category(ALLURE_CATEGORIES[0])["messageRegex"]
    assert "(?s)" not in fault
    assert fault.startswith("^")
    # Python's re reads these patterns as JavaScript's RegExp does; search, as Allure 3.
    assert re.search(fault, "x\nDEMO_LENDER is INACTIVE (Configuration > Partners)")
    assert not re.search(fault, "Alma unreachable: GET …\nConfiguration > Partners")
