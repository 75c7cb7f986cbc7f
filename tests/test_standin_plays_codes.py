"""The stand-in plays each alternative of the code, place and form facts it has switches for.

tests/test_alternatives.py runs the whole suite against each alternative; these tests show,
answer by answer, that the switch changes what the stand-in says (else that suite proves
nothing about the alternative).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from alma_p2p import payloads
from tests.suite_runner import demo_world, standin_app

BASE = "http://standin.test/almaws/v1"
UNIVERSITY = "demo-university-key"


def _alma(facts: dict[str, str]) -> httpx.Client:
    world = demo_world()
    world["facts"] = facts
    return httpx.Client(
        base_url=BASE,
        transport=httpx.WSGITransport(app=standin_app(world)),
        headers={"Authorization": f"apikey {UNIVERSITY}", "Accept": "application/json"},
        follow_redirects=True,
    )


def _codes(alma: httpx.Client, table: str) -> dict[str, str]:
    answer = alma.get(f"/conf/code-tables/{table}", params={"lang": "en"})
    assert answer.status_code == 200, answer.text
    return {row["code"]: row["description"] for row in answer.json()["row"]}


@pytest.mark.parametrize(
    ("facts", "code", "description"),
    [
        ({}, "REQUEST_SENT", "Request sent to partner"),
        ({"borrowing.request_sent_code": "other"}, "SENT_TO_PARTNER", "Request sent to partner"),
        ({}, "RECEIVED_PHYSICALLY", "Physically received by library"),
        (
            {"borrowing.received_status_code": "other"},
            "RECEIVED_BY_LIBRARY",
            "Physically received by library",
        ),
        ({}, "CANCELLED", "Canceled by staff"),
        ({"borrowing.cancelled_status_code": "other"}, "CANCELLED_BY_STAFF", "Canceled by staff"),
        ({"borrowing.cancelled_status_code": "other"}, "CANCELLED", "Cancelled by partner"),
    ],
)
def test_the_borrowing_steps_table_lists_the_codes_played(
    facts: dict[str, str], code: str, description: str
) -> None:
    assert _codes(_alma(facts), "MandatoryBorrowingWorkflowSteps")[code] == description


def test_the_lending_steps_table_lists_the_cancel_code_played() -> None:
    played = _codes(
        _alma({"lending.final_status_codes": "CANCELED"}), "MandatoryLendingWorkflowSteps"
    )
    assert "CANCELED" in played
    assert "CANCELLED" not in played


def _received(facts: dict[str, str]) -> dict[str, Any]:
    """The temporary item of the received request DEMO-RECEIVED-WIN-01."""
    found = _alma(facts).get("/items", params={"item_barcode": "RSTEMP-WIN-0001"})
    assert found.status_code == 200, found.text
    item: dict[str, Any] = found.json()
    return item


@pytest.mark.parametrize(
    ("form", "expected"),
    [("string", "true"), ("boolean", True), ("absent", None)],
)
def test_the_items_suppress_flag_takes_the_form_played(form: str, expected: object) -> None:
    bib = _received({"item.bib_suppress_field": form})["bib_data"]
    assert bib.get("suppress_from_publishing") == expected
    assert ("suppress_from_publishing" in bib) == (expected is not None)


def test_a_temporary_bib_left_visible_is_played() -> None:
    bib = _received({"borrowing.temp_bib_suppressed": "not_suppressed"})["bib_data"]
    assert bib["suppress_from_publishing"] == "false"


@pytest.mark.parametrize("place", ["as_given", "temp_not_in_temp", "permanent"])
def test_the_temporary_items_place_shows_where_played(place: str) -> None:
    item = _received({"borrowing.temp_item_place": place})
    holding, data = item["holding_data"], item["item_data"]
    if place == "temp_not_in_temp":
        assert holding["in_temp_location"] is False
        assert (holding["temp_library"]["value"], holding["temp_location"]["value"]) == (
            "WIN",
            "CLSBORR",
        )
        assert holding["temp_policy"]["value"] == "P2P_LOAN"
    else:
        assert holding["temp_location"]["value"] == ""
        assert (data["library"]["value"], data["location"]["value"]) == ("WIN", "CLSBORR")
        assert data["policy"]["value"] == "P2P_LOAN"


def _lend_as(owner: str, facts: dict[str, str]) -> httpx.Response:
    body = {
        "external_id": "SW-C-1",
        "owner": owner,
        "partner": {"value": "DEMO_LENDER"},
        "format": {"value": "PHYSICAL"},
        "citation_type": {"value": "BK"},
        "title": "Rivers of the Upper Midwest",
    }
    return _alma(facts).post("/partners/DEMO_LENDER/lending-requests", json=body)


@pytest.mark.parametrize(
    ("played", "code"), [("40166411", "40166411"), ("401608", "401608"), ("accepted", None)]
)
def test_a_lending_request_owned_by_a_library_without_resource_sharing(
    played: str, code: str | None
) -> None:
    answer = _lend_as("LAW", {"lending.owner_not_rs_library_code": played})
    if code is None:
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 400
    assert answer.json()["errorList"]["error"][0]["errorCode"] == code
    # An owner that is no library at all stays an invalid parameter, whatever is played.
    unknown = _lend_as("NO_SUCH", {"lending.owner_not_rs_library_code": played})
    assert unknown.json()["errorList"]["error"][0]["errorCode"] == "40166411"


def test_a_borrowing_request_without_requester_is_played() -> None:
    alma = _alma({"borrowing.requester_form": "null"})
    listed = alma.get("/users/P2P-TEST-WIN-01/resource-sharing-requests/36000000000001")
    assert listed.status_code == 200, listed.text
    assert listed.json()["requester"] is None
    assert listed.json()["status"]["value"] == "RECEIVED_PHYSICALLY"


def _borrow_at_college(owner: str | None, played: str, external_id: str) -> httpx.Response:
    world = demo_world()
    world["facts"] = {"borrowing.owner_without_rs_library": played}
    alma = httpx.Client(
        base_url=BASE,
        transport=httpx.WSGITransport(app=standin_app(world)),
        headers={"Authorization": "apikey demo-college-key", "Accept": "application/json"},
    )
    body = payloads.borrowing_request(
        title="A Title Nobody Holds",
        author=None,
        isbn=None,
        external_id=external_id,
        pickup_library="MAIN",
        owner=owner,
    )
    return alma.post("/users/P2P-TEST-COL-01/resource-sharing-requests", json=body)


@pytest.mark.parametrize(
    ("played", "without_owner", "with_owner"),
    [
        ("only_library", None, None),
        ("refused", "401768", None),
        ("owner_refused", None, "401608"),
    ],
)
def test_a_single_library_patron_without_library_is_served_as_played(
    played: str, without_owner: str | None, with_owner: str | None
) -> None:
    for owner, code in ((None, without_owner), ("MAIN", with_owner)):
        answer = _borrow_at_college(owner, played, f"SW-C-{owner}")
        if code is None:
            assert answer.status_code == 200, answer.text
            assert answer.json()["owner"] == "MAIN"
        else:
            assert answer.json()["errorList"]["error"][0]["errorCode"] == code


@pytest.mark.parametrize(
    ("played", "reads"),
    [("at_once", ["REQUEST_SENT"]), ("ready_first", ["READY_TO_SEND", "REQUEST_SENT"])],
)
def test_after_locate_the_request_is_sent_as_played(played: str, reads: list[str]) -> None:
    world = demo_world()
    world["facts"] = {"borrowing.send_on_after_locate": played}
    alma = httpx.Client(
        base_url=BASE,
        transport=httpx.WSGITransport(app=standin_app(world)),
        headers={"Authorization": f"apikey {UNIVERSITY}", "Accept": "application/json"},
    )
    body = payloads.borrowing_request(
        title="A Title Nobody Holds", external_id="SW-C-SEND", pickup_library="WIN", owner="WIN"
    )
    created = alma.post("/users/P2P-TEST-WIN-01/resource-sharing-requests", json=body)
    assert created.status_code == 200, created.text
    path = f"/users/P2P-TEST-WIN-01/resource-sharing-requests/{created.json()['request_id']}"
    seen = [alma.get(path).json()["status"]["value"] for _ in reads]
    assert seen == reads
