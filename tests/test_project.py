"""A project made by ``alma-p2p init``, and the pytest conventions it runs with.

The project holds only the institution's files; pytest runs the package's standard features
and steps plus the project's own feature files, selected the way pytest users expect.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from alma_p2p import __version__, cli, scaffold
from alma_p2p.profile import load_profile, schema_text

REPO = Path(__file__).resolve().parent.parent
DEMO_PROFILE = REPO / "fixtures" / "institutions" / "demo-college"
DEMO_CASSETTES = REPO / "cassettes" / "demo-college"

# The project's own feature: the standard partners checks under a consortium's own tag.
OWN_FEATURE = """\
@api @consortium_rule
Feature: Partners agreed in the Riverbend consortium
  Scenario: Each partner is active for borrowing and lending
    When the institution's partners are read from Alma
    Then every partner of the profile exists, is active and supports borrowing and lending
"""


# -- alma-p2p init ---------------------------------------------------------------------


def test_init_makes_a_project_whose_profile_loads_and_whose_schema_is_wired(tmp_path, capsys):
    assert cli.main(["init", str(tmp_path), "--institution", "our-university"]) == 0
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert written == set(scaffold.project_files(["our-university"]))
    profile = tmp_path / "fixtures/institutions/our-university/profile.yaml"
    assert profile.read_text().startswith("# yaml-language-server: $schema=../profile.schema.json")
    assert (tmp_path / "fixtures/institutions/profile.schema.json").read_text() == schema_text()
    assert load_profile(profile).institution.code == "CHANGE-ME_INST"
    assert "alma_standard_features = true" in (tmp_path / "pytest.ini").read_text()
    assert "Next: fill in" in capsys.readouterr().out
    workflow = yaml.safe_load((tmp_path / ".github/workflows/alma-acceptance.yml").read_text())
    runs = [step.get("run", "") for step in workflow["jobs"]["replay"]["steps"]]
    assert "python -m pip install -r requirements.txt" in runs
    assert any(r.startswith("python -m pytest --alma-mode=replay") for r in runs)
    assert f"alma-p2p-harness=={__version__}" in (tmp_path / "requirements.txt").read_text()


def test_init_makes_one_profile_per_institution_of_a_consortium(tmp_path):
    argv = ["init", str(tmp_path), "--institution", "north", "--institution", "south"]
    assert cli.main(argv) == 0
    profiles = sorted(p.parent.name for p in tmp_path.glob("fixtures/institutions/*/profile.yaml"))
    assert profiles == ["north", "south"]
    assert (tmp_path / "fixtures/institutions/south/attestations.yaml").is_file()


def test_init_writes_nothing_when_a_file_exists(tmp_path, capsys):
    (tmp_path / "README.md").write_text("ours\n")
    assert cli.main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "writes nothing" in err
    assert str(tmp_path / "README.md") in err
    assert "pip install -U alma-p2p-harness" in err
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]
    assert (tmp_path / "README.md").read_text() == "ours\n"


def test_init_refuses_a_folder_name_that_cannot_name_an_institution(tmp_path, capsys):
    assert cli.main(["init", str(tmp_path), "--institution", "Our University"]) == 2
    assert "cannot name an institution folder" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_init_into_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    assert cli.main(["init", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_version_comes_from_one_place(capsys):
    import importlib.metadata

    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"alma-p2p {__version__}"
    assert importlib.metadata.version("alma-p2p-harness") == __version__


def test_changelog_and_license_exist():
    assert "MIT License" in (REPO / "LICENSE").read_text()
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"## {__version__}" in changelog
    assert "### Checks" in changelog


# -- a project runs the standard features and its own ------------------------------------


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An institution's project: init's pytest.ini, the demo college, its cassettes, and a
    feature of its own (whose cassettes sit under its own path inside features/)."""
    for name in ("ALMA_MODE", "ALMA_INSTITUTIONS", "ALMA_PROFILES_DIR", "ALMA_CASSETTES_DIR"):
        monkeypatch.delenv(name, raising=False)
    root = pytester.path
    (root / "pytest.ini").write_text(scaffold.PYTEST_INI)
    shutil.copytree(DEMO_PROFILE, root / "fixtures/institutions/demo-college")
    shutil.copytree(DEMO_CASSETTES, root / "cassettes/demo-college")
    own = root / "features" / "local" / "our_partners.feature"
    own.parent.mkdir(parents=True)
    own.write_text(OWN_FEATURE)
    slug = "each-partner-is-active-for-borrowing-and-lending.yaml"
    target = root / "cassettes/demo-college/local/our_partners" / slug
    target.parent.mkdir(parents=True)
    shutil.copy2(DEMO_CASSETTES / "configuration/partners" / slug, target)
    return pytester


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_inprocess(
        "-p", "no:cacheprovider", "--strict-markers", f"--alma-report-dir={project.path / 'r'}",
        "--assert=plain", "-v", *args,
    )  # fmt: skip


def test_bare_pytest_runs_the_standard_features_and_the_projects_own(project):
    result = _run(project)
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 10, result.stdout.str()
    assert "failed" not in outcomes
    assert "errors" not in outcomes
    result.stdout.fnmatch_lines(["*our_partners.feature::test_each_partner_is_active*PASSED*"])


def test_dash_k_matches_the_feature_file_name(project):
    result = _run(project, "-k", "routing")
    passed = [line for line in result.stdout.lines if "PASSED" in line]
    assert passed
    assert all("request_routing.feature::" in line for line in passed), passed


def test_dash_k_matches_the_feature_name(project):
    result = _run(project, "-k", "riverbend")
    passed = [line for line in result.stdout.lines if "PASSED" in line]
    assert len(passed) == 1
    assert "our_partners.feature" in passed[0]


def test_a_feature_path_runs_that_feature(project):
    result = _run(project, "features/local/our_partners.feature")
    result.assert_outcomes(passed=1)


def test_a_standard_feature_is_run_by_its_path_under_features(project):
    result = _run(project, "features/configuration/partners.feature")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*configuration/partners.feature::test_each_partner_uses*PASSED*"])


def test_a_path_that_is_nowhere_is_pytests_own_error(project):
    result = _run(project, "features/configuration/nowhere.feature")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*file or directory not found: features/configuration/nowhere*"])


def test_the_projects_own_tag_is_a_marker_without_declaring_it(project):
    result = _run(project, "-m", "consortium_rule")
    result.assert_outcomes(passed=1, deselected=result.parseoutcomes()["deselected"])


def test_a_project_that_does_not_ask_for_the_suite_runs_no_feature(pytester):
    pytester.makeini("[pytest]\n")
    (pytester.path / "x.feature").write_text(OWN_FEATURE)
    assert (
        pytester.runpytest_inprocess("-p", "no:cacheprovider").ret
        == pytest.ExitCode.NO_TESTS_COLLECTED
    )


def test_a_project_without_profiles_stops_on_one_line(pytester):
    pytester.makeini("[pytest]\nalma_standard_features = true\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: no institution profiles under *alma-p2p init*"])


def test_a_broken_feature_of_the_project_names_its_line(project):
    broken = project.path / "features" / "broken.feature"
    broken.write_text("Feature: x\n  Scenario: y\n    Given a\nxx: b\n")
    result = _run(project, "features/broken.feature")
    result.stdout.fnmatch_lines(
        ["*broken.feature: not a feature file pytest-bdd can read*", "  line 4: 'xx: b'"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
