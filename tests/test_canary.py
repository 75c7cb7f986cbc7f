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


@pytest.mark.socket
def test_the_patron_audit_names_no_patron_unless_asked(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Live and from a file, everything the audit writes or prints holds pseudonyms; only
    --show-identifiers, into the folder named, gives the real identifiers."""
    from alma_p2p.cli import main
    from alma_p2p.standin import serve
    from alma_p2p.standin.population import Population
    from alma_p2p.standin.world import World
    from tests.audit_helpers import KEY, NAME, profiles_for

    population = Population(size=150, seed=3, id_prefix="CANARY")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    users = inputs / "users.xml"
    population.write_users_xml(users)
    profiles = profiles_for(population, inputs)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    common = ["audit-patrons", "--institution", NAME, "--profiles-dir", str(profiles)]
    world = World.model_validate(population.world_data(key=KEY, per_second=1000))
    with serve(world) as standin:
        monkeypatch.setenv("ALMA_BASE_URL", standin.base_url)
        monkeypatch.setenv("ALMA_API_KEY", KEY)
        assert main([*common, "--live", "--rate", "100"]) == 1
        assert main([*common, "--from-file", str(users), "--out", "from-file"]) == 1
        printed = capsys.readouterr()
        mine = tmp_path / "mine"
        assert main([*common, "--live", "--rate", "100", "--show-identifiers", "--out", str(mine)])
    written = [p for p in work.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"findings.csv", "summary.md", "checkpoint.json"}
    leaks = {
        str(p.relative_to(work)): canary
        for p in written
        for canary in CANARIES
        if canary in p.read_text(encoding="utf-8")
    }
    assert leaks == {}
    for canary in CANARIES:
        assert canary not in printed.out + printed.err
    # Not vacuous: the patrons were there, and the librarian's own copy names them.
    assert "Primary-" in (work / "from-file" / "findings.csv").read_text(encoding="utf-8")
    assert "CANARY" in (mine / "findings.csv").read_text(encoding="utf-8")
    assert "CANARY" in (mine / "checkpoint.json").read_text(encoding="utf-8")
