"""The pytest plugin, run through pytester on small throwaway suites."""

from __future__ import annotations

import sys
import textwrap

import pytest

PROFILE = """\
institution: {{code: 01ACME, name: Acme, region: na}}
resource_sharing_libraries:
  - {{code: {lib}, name: Main, borrowing_location: CLSBORR, lending_location: CLSLEND}}
test_patrons:
  - {{primary_id: P1}}
"""

FEATURE = """\
Feature: Libraries
  Scenario: The library list is read
    When the libraries are read
    Then there is at least one
"""

STEPS = """\
from pytest_bdd import scenarios, then, when
import pytest

pytestmark = pytest.mark.usefixtures("alma_institution")
scenarios("libraries.feature")

@when("the libraries are read", target_fixture="libraries")
def _(alma):
    return alma.libraries()

@then("there is at least one")
def _(libraries):
    assert libraries
"""


@pytest.fixture
def suite(pytester, monkeypatch):
    """A minimal acceptance suite with two institutions and no cassettes."""
    for name in ("ALMA_MODE", "ALMA_API_KEY", "ALMA_BASE_URL", "ALMA_INSTITUTIONS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini("[pytest]\nbdd_features_base_dir = features\n")
    for name, lib in (("acme", "MAIN"), ("zenith", "ZMAIN")):
        folder = pytester.path / "fixtures" / "institutions" / name
        folder.mkdir(parents=True)
        (folder / "profile.yaml").write_text(PROFILE.format(lib=lib))
    (pytester.path / "features").mkdir()
    (pytester.path / "cassettes").mkdir()  # a folder, no cassettes yet
    (pytester.path / "features" / "libraries.feature").write_text(FEATURE)
    pytester.makepyfile(test_suite=STEPS)
    return pytester


def test_each_scenario_runs_once_per_institution_with_readable_ids(suite):
    result = suite.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "test_suite.py::test_the_library_list_is_read[[]acme[]]",
            "test_suite.py::test_the_library_list_is_read[[]zenith[]]",
        ]
    )


def test_institution_option_selects(suite):
    result = suite.runpytest("--collect-only", "-q", "--institution", "zenith")
    result.stdout.fnmatch_lines(["*[[]zenith[]]*"])
    result.stdout.no_fnmatch_line("*[[]acme[]]*")


def test_unknown_institution_is_a_usage_error(suite):
    result = suite.runpytest("--institution", "acne")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: unknown institution acne*available: acme, zenith"])


def test_a_broken_profile_is_a_one_screen_usage_error(suite):
    profile = suite.path / "fixtures" / "institutions" / "zenith" / "profile.yaml"
    profile.write_text(profile.read_text().replace("region: na", "region: mars"))
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *zenith/profile.yaml: 1 problem(s)*", "*institution.region (line 1): 'mars'*"]
    )
    assert "Traceback" not in result.stderr.str()


def test_bad_mode_option_is_refused(suite):
    result = suite.runpytest("--alma-mode=bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--alma-mode: invalid choice: 'bogus'*"])


def test_bad_mode_variable_names_flag_and_variable(suite, monkeypatch):
    monkeypatch.setenv("ALMA_MODE", "bogus")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--alma-mode / ALMA_MODE:*'bogus'*"])


def test_missing_cassette_names_scenario_and_record_command(suite):
    result = suite.runpytest("--institution", "acme")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*No cassette for this scenario at acme.",
            "*Scenario: The library list is read",
            "*Expected: cassettes/acme/libraries/the-library-list-is-read.yaml",
            "*--alma-mode=record --institution acme -k test_the_library_list_is_read",
        ]
    )


def test_live_mode_without_a_key_stops_before_running(suite):
    result = suite.runpytest("--alma-mode=live")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        ["*needs an Alma API key for acme, zenith*ALMA_API_KEY_ACME, ALMA_API_KEY_ZENITH*"]
    )


def test_replay_miss_names_the_cassette_and_the_command(suite):
    cassette = suite.path / "cassettes" / "acme" / "libraries" / "the-library-list-is-read.yaml"
    cassette.parent.mkdir(parents=True)
    cassette.write_text(
        textwrap.dedent(
            """\
            interactions:
            - request:
                body: null
                headers: {}
                method: GET
                uri: https://alma.invalid/almaws/v1/conf/general
              response:
                body: {string: '{}'}
                headers: {}
                status: {code: 200, message: OK}
            version: 1
            """
        )
    )
    result = suite.runpytest("--institution", "acme")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Replay miss at acme*",
            "*Cassette: cassettes/acme/libraries/the-library-list-is-read.yaml",
            "*--alma-mode=record --institution acme -k test_the_library_list_is_read",
        ]
    )


def test_faker_is_imported_without_pytests_assertion_rewriting():
    """faker's own pytest plugin makes pytest mark all of faker for rewriting; the harness
    imports it with the rewriting hook set aside, and puts the hook back where it was."""
    from alma_p2p import payloads

    class AssertionRewritingHook:  # stands for pytest's, found by its class name
        def find_spec(self, *_args: object) -> None:
            return None

    marker = AssertionRewritingHook()
    before = list(sys.meta_path)
    sys.meta_path.insert(1, marker)
    try:
        with payloads._assert_rewriting_paused():
            assert marker not in sys.meta_path
        assert sys.meta_path.index(marker) == 1
    finally:
        sys.meta_path.remove(marker)
    assert sys.meta_path == before
