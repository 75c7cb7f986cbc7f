"""Recording policy: canonical URIs, no key, no volatile headers, patron pseudonyms."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import yaml

from alma_p2p.recording import (
    before_record_request,
    before_record_response,
    canonical_uri,
    cassette_path,
    json_diff,
    pseudonym,
    scrub_json,
)
from alma_p2p.suite import FEATURES
from tests.suite_runner import run_pytest


def test_uri_is_canonical_and_loses_the_key():
    uri = "http://127.0.0.1:5123/almaws/v1/users/X?view=full&apikey=l7xxSECRET"
    assert canonical_uri(uri) == "https://alma.invalid/almaws/v1/users/X?view=full"


def test_request_loses_authorization_header():
    request = SimpleNamespace(
        uri="https://api-na.hosted.exlibrisgroup.com/almaws/v1/conf/general",
        headers={"Authorization": "apikey l7xxSECRET", "Accept": "application/json"},
    )
    before_record_request(request)
    assert request.headers == {"Accept": "application/json"}
    assert request.uri == "https://alma.invalid/almaws/v1/conf/general"


def test_response_drops_volatile_headers_and_scrubs_patrons():
    user = {
        "primary_id": "P2P-TEST-WIN-01",
        "first_name": "Mary",
        "last_name": "Lovelace",
        "birth_date": "1990-02-03Z",
        "contact_info": {"email": [{"email_address": "mary@example.edu"}], "phone": []},
        "rs_library": [{"code": {"value": "WIN", "desc": "Winona"}}],
    }
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Date": ["x"], "X-Exl-Api-Remaining": ["99"], "Content-Type": ["json"]},
        "body": {"string": json.dumps(user).encode()},
    }
    before_record_response(response)
    assert set(response["headers"]) == {"Content-Type"}
    body = response["body"]["string"].decode()
    for real in ("Mary", "Lovelace", "1990-02-03", "mary@example.edu"):
        assert real not in body
    data = json.loads(body)
    assert data["rs_library"] == user["rs_library"]
    assert data["contact_info"]["email"][0]["email_address"].endswith("@example.invalid")


def test_pseudonyms_are_stable_and_distinct():
    assert pseudonym("Mary", "first_name") == pseudonym("Mary", "first_name")
    assert pseudonym("Mary", "first_name") != pseudonym("Anne", "first_name")
    assert scrub_json({"last_name": ""}) == {"last_name": ""}


def test_cassette_path_layout():
    path = cassette_path(Path("cassettes"), "demo-college", "patrons/x.feature", "A b, C!")
    assert path == Path("cassettes/demo-college/patrons/x/a-b-c.yaml")


def test_json_diff_names_each_field():
    sent = {"title": "A", "format": {"value": "PHYSICAL"}, "owner": "WIN"}
    recorded = {"title": "B", "format": {"value": "DIGITAL"}, "pickup": "X"}
    assert json_diff(sent, recorded) == [
        "format.value: sent 'PHYSICAL', recorded 'DIGITAL'",
        "owner: sent 'WIN', not in the recording",
        "pickup: not sent, recorded 'X'",
        "title: sent 'A', recorded 'B'",
    ]


def test_replay_miss_shows_the_nearest_request_and_the_field_that_differs(repo, tmp_path):
    cassettes = tmp_path / "cassettes"
    shutil.copytree(repo / "cassettes" / "demo-college", cassettes / "demo-college")
    held = cassettes / "demo-college" / "borrowing" / "request_routing"
    path = held / "a-title-the-institution-holds-cannot-be-requested-from-a-partner.yaml"
    data = yaml.safe_load(path.read_text())
    post = next(i for i in data["interactions"] if i["request"]["method"] == "POST")
    body = json.loads(post["request"]["body"])
    assert body["title"] == "Demo Valley College Yearbook 1999"
    post["request"]["body"] = json.dumps({**body, "title": "Yearbook 2000"})
    path.write_text(yaml.safe_dump(data))
    proc = run_pytest(
        [str(FEATURES), "--institution", "demo-college",
         "-k", "holds_cannot", f"--cassettes-dir={cassettes}", "-p", "no:cacheprovider",
         f"--alma-report-dir={tmp_path / 'reports'}"],
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout
    assert "Replay miss at demo-college" in proc.stdout
    assert "Nearest:  POST https://alma.invalid/almaws/v1/users/P2P-TEST-COL-01/" in proc.stdout
    assert (
        "differs in json_body: title: sent 'Demo Valley College Yearbook 1999', "
        "recorded 'Yearbook 2000'" in proc.stdout
    )
    assert "--alma-mode=record --institution demo-college -k" in proc.stdout


def test_replay_warns_when_cassettes_predate_the_sandbox_refresh(repo, tmp_path):
    cassettes = tmp_path / "cassettes"
    shutil.copytree(repo / "cassettes" / "demo-university", cassettes / "demo-university")
    meta = cassettes / "demo-university" / "_recording.yaml"
    data = yaml.safe_load(meta.read_text())
    assert data["institution_code"] == "01DEMO_STMARYS"
    # One cassette older than the refresh is enough: the warning goes by the oldest.
    first = sorted(data["cassettes"])[0]
    data["cassettes"][first] = "2026-07-01"
    meta.write_text(yaml.safe_dump(data))
    proc = run_pytest(
        [str(FEATURES), "--institution", "demo-university", "-q",
         f"--cassettes-dir={cassettes}", "-p", "no:cacheprovider",
         f"--alma-report-dir={tmp_path / 'reports'}"],
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout
    assert (
        "WARNING: cassettes of demo-university were recorded on 2026-07-01, before the sandbox "
        "refresh of 2026-08-01" in proc.stdout
    )
