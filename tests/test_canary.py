"""No key and no patron data reach a cassette, report, log, JUnit file or Allure result.

Records the whole suite against a world whose patrons carry canary values and whose keys
are canaries, then scans every file the run wrote, and its output.
"""

from __future__ import annotations

import pytest

from tests.suite_runner import demo_world, run_live

pytestmark = pytest.mark.standin

CANARIES = ("CANARY", "canary", "1911-11-11", "4242424242", "Ximenez-Quarrington")


def canary_world() -> dict:
    world = demo_world()
    for inst in world["institutions"]:
        for key in inst["api_keys"]:
            key["key"] = f"l7xxCANARY{inst['code']}"
        for n, user in enumerate(inst["users"]):
            user.update(
                first_name=f"Canary{n}",
                last_name="Ximenez-Quarrington",
                email=f"canary{n}@canary.example.edu",
                phone="555-4242424242",
                birth_date="1911-11-11",
                barcode=f"CANARYBARCODE{n}",
            )
    return world


def test_nothing_secret_survives_recording_everything(tmp_path):
    # (the test name must not contain a canary: it names the temporary folder)
    cassettes = tmp_path / "cassettes"
    allure = tmp_path / "allure-results"
    junit = tmp_path / "junit.xml"
    run = run_live(
        canary_world(),
        tmp_path,
        f"--cassettes-dir={cassettes}",
        f"--alluredir={allure}",
        f"--junitxml={junit}",
        mode="record",
    )
    assert run.returncode == 0, run.output[-3000:]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".yaml" for p in cassettes.rglob("*"))
    assert any(p.name.endswith("-attachment.txt") for p in allure.iterdir())
    assert (tmp_path / "reports" / "readiness.html").is_file()
    leaks = {
        str(p.relative_to(tmp_path)): canary
        for p in written
        for canary in CANARIES
        if canary in p.read_text(encoding="utf-8", errors="replace")
    }
    assert leaks == {}
    # The patrons did pass through, as pseudonyms: the scan above is not vacuous.
    recorded = "".join(p.read_text() for p in cassettes.rglob("*.yaml"))
    assert "@example.invalid" in recorded
    assert "Identifier-" in recorded
    for canary in CANARIES:
        assert canary not in run.output
