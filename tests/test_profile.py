"""The institution profile: loading, path-precise errors, the committed JSON Schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from alma_p2p.profile import ProfileError, load_profile, load_profiles, schema_text

DEMO = Path(__file__).resolve().parent.parent / "fixtures" / "institutions"


def write(tmp_path: Path, text: str, name: str = "acme") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "profile.yaml"
    path.write_text(text)
    return path


def demo_text(name: str = "demo-university") -> str:
    return (DEMO / name / "profile.yaml").read_text()


def test_demo_profiles_load_and_say_which_are_multi_library():
    profiles = load_profiles(DEMO)
    assert set(profiles) == {"demo-university", "demo-college", "demo-lender"}
    assert profiles["demo-university"].multi_library
    assert profiles["demo-university"].rs_library_codes == ("WIN", "TC")
    assert not profiles["demo-college"].multi_library
    assert profiles["demo-college"].name == "demo-college"


def test_a_wrong_region_names_file_line_path_and_allowed_values(tmp_path):
    path = write(tmp_path, demo_text().replace("region: na", "region: us"))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert str(path) in message
    assert "institution.region (line 8)" in message
    assert "'na', 'eu', 'ap', 'aps', 'ca' or 'cn'" in message


def test_a_misspelt_key_is_reported_where_it_is(tmp_path):
    text = demo_text().replace(
        "    borrowing_location: CLSBORR\n", "    borowing_location: CLSBORR\n", 1
    )
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, text))
    message = str(caught.value)
    assert "resource_sharing_libraries[0].borowing_location" in message
    assert "unknown key" in message
    assert "resource_sharing_libraries[0].borrowing_location" in message
    assert "required, but missing" in message


def test_a_mapping_to_an_unknown_library_is_refused(tmp_path):
    path = write(tmp_path, demo_text().replace("TWINCITIES: TC", "TWINCITIES: TCX"))
    with pytest.raises(ProfileError, match="names TCX, which are not among"):
        load_profile(path)


def test_several_rs_libraries_need_a_patron_mapping(tmp_path):
    text = demo_text()
    start = text.index("patron_rs_library:")
    end = text.index("partners:")
    with pytest.raises(ProfileError, match="patron_rs_library is required"):
        load_profile(write(tmp_path, text[:start] + text[end:]))


def test_broken_yaml_gives_the_line(tmp_path):
    path = write(tmp_path, "institution:\n  code: [unclosed\n")
    with pytest.raises(ProfileError, match=r"not valid YAML: line \d+"):
        load_profile(path)


def test_a_non_code_value_is_explained(tmp_path):
    path = write(tmp_path, demo_text().replace("code: WIN", "code: WIN LIB", 1))
    with pytest.raises(ProfileError, match="'WIN LIB' is not an Alma code"):
        load_profile(path)


def test_unknown_institution_lists_what_is_available():
    with pytest.raises(ProfileError) as caught:
        load_profiles(DEMO, ["demo-univ"])
    assert "unknown institution demo-univ" in str(caught.value)
    assert "demo-college, demo-lender, demo-university" in str(caught.value)


def test_an_empty_profiles_folder_says_what_to_add(tmp_path):
    with pytest.raises(ProfileError, match="no institution profiles under"):
        load_profiles(tmp_path)


def test_committed_schema_is_current():
    committed = (DEMO / "profile.schema.json").read_text()
    assert committed == schema_text(), "run `make schema` and commit the result"
