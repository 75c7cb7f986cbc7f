"""Alma's rules in the stand-in, on small typed worlds and without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from alma_p2p.standin import render, rules
from alma_p2p.standin.rules import AlmaFault
from alma_p2p.standin.world import (
    Bib,
    BorrowingRequest,
    Holding,
    Institution,
    Item,
    LendingSetup,
    Library,
    Partner,
    User,
)

WIN = Library(code="WIN", name="Winona", resource_sharing=True, borrowing_default_location="B")
TC = Library(code="TC", name="Twin Cities", resource_sharing=True)
LAW = Library(code="LAW", name="Law")


def institution(**fields: Any) -> Institution:
    fields.setdefault("libraries", [WIN, TC, LAW])
    return Institution(code="01TEST", name="Test", **fields)


def patron(*rs_libraries: str) -> User:
    return User(primary_id="P-1", rs_libraries=list(rs_libraries))


def fault_code(call: Any, *args: Any) -> str:
    with pytest.raises(AlmaFault) as raised:
        call(*args)
    return raised.value.code


# -- owner ------------------------------------------------------------------------


def test_the_patrons_only_rs_library_owns_the_request():
    assert rules.resolve_owner(institution(), patron("TC"), None) == "TC"


def test_an_owner_among_the_patrons_rs_libraries_is_kept():
    assert rules.resolve_owner(institution(), patron("WIN", "TC"), "WIN") == "WIN"


def test_an_owner_outside_the_patrons_rs_libraries_is_401608():
    assert fault_code(rules.resolve_owner, institution(), patron("WIN"), "TC") == "401608"


def test_several_rs_libraries_and_no_owner_is_401607():
    assert fault_code(rules.resolve_owner, institution(), patron("WIN", "TC"), None) == "401607"


@pytest.mark.parametrize("owner", [None, "WIN"])
def test_a_patron_without_rs_library_gets_the_worlds_error(owner):
    assert fault_code(rules.resolve_owner, institution(), patron(), owner) == "401768"
    inst = institution(no_rs_library_error="401607")
    assert fault_code(rules.resolve_owner, inst, patron(), owner) == "401607"


def test_a_single_library_institution_owns_requests_of_patrons_without_rs_library():
    inst = institution(libraries=[WIN, LAW])
    assert rules.resolve_owner(inst, patron(), None) == "WIN"
    assert rules.resolve_owner(inst, patron(), "WIN") == "WIN"
    assert fault_code(rules.resolve_owner, inst, patron(), "LAW") == "401768"


# -- held, duplicate, default location --------------------------------------------------


def bib(title: str, *items: Item, electronic: bool = False, isbn: str | None = None) -> Bib:
    holdings = [Holding(holding_id="H1", library="WIN", location="STACKS", items=list(items))]
    return Bib(
        mms_id="991",
        title=title,
        isbn=isbn,
        electronic=electronic,
        holdings=holdings if items else [],
    )


def item(pid: str = "I1", **fields: Any) -> Item:
    return Item(pid=pid, barcode=f"B{pid}", **fields)


def test_a_title_the_institution_holds_is_401604():
    inst = institution(bibs=[bib("The  Held Book", item())])
    assert fault_code(rules.check_not_held, inst, "the held book", "") == "401604"


def test_held_counts_isbn_and_electronic_services_but_not_a_bare_record():
    inst = institution(
        bibs=[
            bib("Printed", item(), isbn="978-1"),
            bib("Online", electronic=True),
            bib("Bare record"),
        ]
    )
    assert rules.held(inst, "Another title", "978-1")
    assert rules.held(inst, "Online", "")
    assert not rules.held(inst, "Bare record", "")
    rules.check_not_held(inst, "Bare record", "")


def test_the_same_patron_asking_twice_for_a_title_is_402362():
    inst = institution()
    existing = render.seeded_borrowing(
        inst,
        BorrowingRequest(request_id="1", external_id="X", user="p-1", owner="WIN", title="A Book"),
    )
    assert fault_code(rules.check_no_duplicate, patron("WIN"), "a  book", [existing]) == "402362"
    rules.check_no_duplicate(patron("WIN"), "Another Book", [existing])
    rules.check_no_duplicate(User(primary_id="P-2"), "A Book", [existing])


def test_an_owner_without_a_borrowing_default_location_is_402039():
    assert rules.borrowing_library(institution(), "WIN") == WIN
    assert fault_code(rules.borrowing_library, institution(), "TC") == "402039"


# -- sending on after locate ------------------------------------------------------------


LENDER = Partner(code="LENDER", name="Lender")
PARTNERS = [
    Partner(code="ASLEEP", name="Inactive", status="INACTIVE"),
    Partner(code="BORROWS", name="Borrows only", lending_supported=False),
    LENDER,
    Partner(code="SECOND", name="Second"),
]


def test_with_a_sending_rule_the_first_active_lender_gets_the_request():
    inst = institution(partners=PARTNERS, rota=["GONE", "ASLEEP", "BORROWS", "LENDER", "SECOND"])
    assert rules.send_on(inst) == rules.SendOn("REQUEST_SENT", "Request sent to partner", LENDER)


def test_without_a_sending_rule_the_request_waits_ready_to_send():
    inst = institution(partners=PARTNERS, rota=["LENDER", "SECOND"], sends_automatically=False)
    sent = rules.send_on(inst)
    assert (sent.status, sent.partner) == ("READY_TO_SEND", LENDER)


@pytest.mark.parametrize("rota", [[], ["GONE", "ASLEEP", "BORROWS"]])
def test_with_no_active_lender_in_the_rota_locate_fails(rota):
    sent = rules.send_on(institution(partners=PARTNERS, rota=rota))
    assert (sent.status, sent.partner) == ("LOCATE_FAILED", None)


# -- lender locate and auto-reject --------------------------------------------------------


def lender(**flags: bool) -> Library:
    return Library(
        code="LEND", name="Lending", resource_sharing=True, lending=LendingSetup(**flags)
    )


def test_a_title_the_lender_does_not_hold_fails_locate():
    inst = institution(bibs=[bib("Held", item())])
    assert rules.locate(inst, lender(), "Not held") == rules.Located("LOCATE_FAILED", "")


def test_an_available_requestable_item_creates_the_request():
    inst = institution(bibs=[bib("Held", item("1", base_status="0"), item("2"))])
    located = rules.locate(inst, lender(), "held")
    assert (located.status, located.mms_id) == ("REQUEST_CREATED_LEND", "991")


CASES = {
    "reject_when_only_electronic": bib("Held", electronic=True),
    "reject_when_no_available": bib(
        "Held", item("1", base_status="0"), item("2", process_type="X")
    ),
    "reject_when_no_requestable": bib("Held", item(requestable_for_rs=False)),
}


@pytest.mark.parametrize("flag", sorted(CASES))
@pytest.mark.parametrize(("on", "status"), [(True, "REJECTED"), (False, "REQUEST_CREATED_LEND")])
def test_each_reject_flag_decides_its_case(flag, on, status):
    inst = institution(bibs=[CASES[flag]])
    others = {name: not on for name in CASES if name != flag}
    assert rules.locate(inst, lender(**{flag: on}, **others), "Held").status == status


def test_without_automatic_locate_every_request_is_created_unmatched():
    inst = institution(bibs=[bib("Held", electronic=True)])
    located = rules.locate(inst, lender(automatically_locate=False), "Held")
    assert located == rules.Located("REQUEST_CREATED_LEND", "")


def test_a_lending_owner_must_be_an_rs_library():
    assert rules.lending_library(institution(), "TC") == TC
    assert fault_code(rules.lending_library, institution(), "LAW") == "40166411"
    assert fault_code(rules.lending_library, institution(), "NOPE") == "40166411"
