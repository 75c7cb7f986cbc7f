"""Recording policy: canonical URIs, no key, no volatile headers, patron pseudonyms."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from alma_p2p.recording import (
    before_record_request,
    before_record_response,
    canonical_uri,
    cassette_path,
    pseudonym,
    scrub_json,
)


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
