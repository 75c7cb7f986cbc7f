"""Every command the README or the Makefile shows is executed by a test.

``SHOWN`` maps each command, as shown, to the tests that run it (the same command, or the
same pytest arguments in process, with the placeholders filled in). A command added to the
README without a test that runs it fails here; so does an entry naming a test that is gone.
The README's re-record example runs here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.suite_runner import REPO, run_pytest

CI = "make test (.ci/run), which CI runs"
PACKAGING = (
    "tests/test_packaging.py::test_the_wheel_in_an_empty_folder_inits_records_and_replays_offline"
)
AUDIT = "tests/test_audit_readme.py::test_the_readme_audit_commands_run_as_shown"
LIVE_DEMO = "tests/test_safety.py::test_live_run_against_the_alma_standin_command_passes"

SHOWN: dict[str, list[str]] = {
    "make bench": [
        "tests/test_shown_commands.py::test_make_bench_prints_every_part_of_its_figures"
    ],
    # README: the first two commands; the Makefile's help
    "make acceptance": [CI],
    "make test": [CI],
    "make workflows": [CI],  # a prerequisite of make test
    # README: auditing every patron (each command run as shown, the live one against a stand-in)
    ".venv/bin/alma-p2p audit-patrons --institution demo-university --from-file "
    "fixtures/patron-audit/demo-university-users.xml": [AUDIT],
    ".venv/bin/alma-p2p audit-patrons --institution demo-university --from-file "
    "fixtures/patron-audit/demo-university-users.xml --show-identifiers --out my-audit": [AUDIT],
    "ALMA_BASE_URL=http://127.0.0.1:8765/almaws/v1 ALMA_API_KEY=demo-university-key "
    ".venv/bin/alma-p2p audit-patrons --institution demo-university --live": [AUDIT],
    ".venv/bin/alma-p2p report merge jobs/*/readiness.json --output reports/consortium": [
        "tests/test_report_runs.py::test_the_merge_command_runs_as_installed"
    ],
    "make live-demo": [
        "tests/test_shown_commands.py::test_the_live_demo_runs_live_against_a_stand_in_it_starts"
    ],
    "make record": [
        "tests/test_shown_commands.py::test_the_re_record_example_re_records_the_routing_feature"
    ],
    'make record ARGS="--institution demo-university -k routing"': [
        "tests/test_shown_commands.py::test_the_re_record_example_re_records_the_routing_feature"
    ],
    'make acceptance ARGS="--institution demo-university -k routing"': [
        "tests/test_shown_commands.py::test_the_makefile_example_selects_the_routing_feature"
    ],
    "make report": ["tests/test_allure.py::test_the_rendered_allure_report_shows_the_run"],
    "make standin": [LIVE_DEMO],
    # Install in your own project
    "python3 -m pip wheel --no-deps --wheel-dir dist .": [PACKAGING],
    "python3 -m venv .venv && .venv/bin/pip install alma_p2p_harness-<version>-py3-none-any.whl": [
        PACKAGING
    ],
    ".venv/bin/alma-p2p --version": [
        PACKAGING,
        "tests/test_project.py::test_version_comes_from_one_place",
    ],
    ".venv/bin/alma-p2p init --institution <your-name>": [PACKAGING],
    # Running live, the stand-in, drift, sweep
    "ALMA_API_KEY=your-sandbox-key .venv/bin/pytest --alma-mode=live --institution <your-name>": [
        LIVE_DEMO
    ],
    "ALMA_API_KEY=your-sandbox-key .venv/bin/alma-p2p calibrate --institution <your-name>": [
        "tests/test_calibrate.py::test_the_command_exits_1_on_drift_and_0_when_alma_agrees"
    ],
    "ALMA_BASE_URL=http://127.0.0.1:8765/almaws/v1 ALMA_API_KEY=demo-university-key "
    ".venv/bin/pytest --alma-mode=live --institution demo-university": [LIVE_DEMO],
    "ALMA_API_KEY=… .venv/bin/pytest --alma-mode=record --cassettes-dir recordings/2026-12": [
        "tests/test_rerecording.py::test_recording_twice_is_byte_identical_and_selection_touches_nothing_else"
    ],
    ".venv/bin/alma-p2p drift cassettes recordings/2026-12 --json drift.json --markdown drift.md": [
        "tests/test_drift.py::test_a_release_that_renames_a_field_wraps_a_value_and_moves_a_job"
    ],
    "ALMA_API_KEY=… .venv/bin/alma-p2p sweep": [
        "tests/test_sweep.py::test_the_sweep_reports_only_what_alma_confirms"
    ],
    ".venv/bin/alma-p2p sweep --institution demo-university --ledger path/to/ledger.jsonl": [
        "tests/test_sweep.py::test_one_institutions_error_is_reported_and_the_others_are_swept"
    ],
}


def readme_commands() -> list[str]:
    """Each command of the README's ``sh`` blocks: continuations joined, comments cut."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^ *```sh\n(.*?)^ *```", text, re.MULTILINE | re.DOTALL):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                commands.append(re.sub(r"\s+", " ", command))
    return commands


def makefile_commands() -> list[str]:
    """The commands the Makefile shows: its help lines and its comments' examples."""
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    shown = [m.split("   ")[0].strip() for m in re.findall(r'@echo "(make [^"]+)"', text)]
    shown += [m.strip() for m in re.findall(r"^#.*?e\.g\. (make .+)$", text, re.MULTILINE)]
    return shown


# Shown, and not yet run by any test: each says why. Keep this empty.
AWAITING: dict[str, str] = {}


def test_every_shown_command_is_run_by_a_test() -> None:
    missing = sorted(set(readme_commands() + makefile_commands()) - set(SHOWN) - set(AWAITING))
    assert not missing, "commands shown with no test that runs them:\n" + "\n".join(missing)


def test_every_test_named_for_a_command_exists() -> None:
    gone = []
    for command, runners in SHOWN.items():
        for runner in runners:
            if runner == CI:
                continue
            path, _, name = runner.partition("::")
            source = (REPO / path).read_text(encoding="utf-8") if (REPO / path).is_file() else ""
            if not source or (name and f"def {name}(" not in source):
                gone.append(f"{command} → {runner}")
    assert not gone, "\n".join(gone)


def test_ci_runs_make_test_which_runs_the_acceptance_replay() -> None:
    assert (REPO / ".ci" / "run").read_text().rstrip().endswith("make test")
    assert re.search(r"^test: .*\bacceptance\b", (REPO / "Makefile").read_text(), re.MULTILINE)


def demo_project(tmp_path: Path) -> Path:
    """A copy of this repository's project files (config, profiles, cassettes), not its code:
    the installed package brings the features and steps."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(REPO / "pyproject.toml", project / "pyproject.toml")
    shutil.copytree(REPO / "fixtures", project / "fixtures")
    shutil.copytree(REPO / "cassettes", project / "cassettes")
    return project


def alma_p2p(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALMA_", "PYTEST_"))}
    env["ALMA_REPORT_DIR"] = str(project / "reports")
    return subprocess.run(  # the Makefile's recipe: $(BIN)/alma-p2p <command> $(ARGS)
        [str(Path(sys.executable).parent / "alma-p2p"), *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_makefile_example_selects_the_routing_feature(tmp_path: Path) -> None:
    """``make acceptance ARGS="--institution demo-university -k routing"``."""
    assert "$(BIN)/pytest $(REPORTING) $(ARGS)" in (REPO / "Makefile").read_text()
    proc = run_pytest(
        ["--institution", "demo-university", "-k", "routing", "-v", "-p", "no:cacheprovider",
         f"--alma-report-dir={tmp_path / 'reports'}"],
        cwd=REPO,
    )  # fmt: skip
    ran = [line for line in proc.stdout.splitlines() if "PASSED" in line]
    assert proc.returncode == 0, proc.stdout
    assert ran, proc.stdout
    assert all("request_routing.feature::" in line for line in ran), ran


@pytest.mark.subprocess
@pytest.mark.socket
def test_the_re_record_example_re_records_the_routing_feature(tmp_path: Path) -> None:
    """``make record ARGS="--institution demo-university -k routing"``: the routing feature's
    cassettes are re-recorded (same Alma, same bytes); no other cassette is touched."""
    assert "$(BIN)/alma-p2p record-demo $(REPORTING) $(ARGS)" in (REPO / "Makefile").read_text()
    project = demo_project(tmp_path)
    cassettes = project / "cassettes"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in cassettes.rglob("*.yaml")}
    proc = alma_p2p(project, "record-demo", "--institution", "demo-university", "-k", "routing")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    selected = [p for p in before if "demo-university/borrowing/request_routing" in str(p)]
    assert selected
    for path, (content, mtime) in before.items():
        if path.name == "_recording.yaml":
            continue
        assert path.read_bytes() == content, path
        if path in selected:
            assert path.stat().st_mtime_ns != mtime, f"{path} was not re-recorded"
        else:
            assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten"


@pytest.mark.subprocess
@pytest.mark.socket
def test_the_live_demo_runs_live_against_a_stand_in_it_starts(tmp_path: Path) -> None:
    """``make live-demo`` (one institution, to keep it short)."""
    assert "$(BIN)/alma-p2p live-demo $(REPORTING) $(ARGS)" in (REPO / "Makefile").read_text()
    proc = alma_p2p(demo_project(tmp_path), "live-demo", "--institution", "demo-college", "-q")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "stand-in at http://127.0.0.1:" in proc.stderr
    assert "passed" in proc.stdout.strip().splitlines()[-1]


@pytest.mark.subprocess
@pytest.mark.socket
def test_make_bench_prints_every_part_of_its_figures() -> None:
    """``make bench`` as shown, with BENCH_SMOKE=1: every part once and small (its real
    figures take about twenty minutes; README "Speed" has them)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMA_")}
    env["BENCH_SMOKE"] = "1"
    proc = subprocess.run(
        ["make", "--no-print-directory", "bench"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for part in (
        "replay suite wall time",
        "cassette load time",
        "live run against the stand-in",
        "fault mixes",
        "consortium live runs against the stand-in",
        "patron audit, live",
        "patron audit, from a file",
    ):
        assert part in proc.stdout, (part, proc.stdout[-3000:])
    assert "outcomes as in the clean run" in proc.stdout
