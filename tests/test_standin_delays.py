"""The stand-in's delays (a world knob for ``make bench``): a new request stays in locate
for as many seconds as its institution's ``delays`` say, then moves on as without them."""

from __future__ import annotations

from alma_p2p.standin import StandinApp
from tests.test_standin import borrow, client, inst, world


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_borrowing_request_stays_in_locate_for_the_send_delay():
    def slow(data):
        inst(data, "01DEMO_STMARYS")["delays"] = {"send": 5}

    clock = Clock()
    app = StandinApp(world(slow), clock=clock)
    created = borrow(app, "P2P-TEST-WIN-01", "Unheld one")
    alma = client(app)
    clock.now += 4.9
    assert alma.borrowing_request("P2P-TEST-WIN-01", created.request_id).status.value == (
        "LOCATE_IN_PROCESS"
    )
    clock.now += 0.1
    moved = alma.borrowing_request("P2P-TEST-WIN-01", created.request_id).status.value
    assert moved != "LOCATE_IN_PROCESS"
    # Without delays the first read moves it on, as before.
    quick = StandinApp(world())
    again = borrow(quick, "P2P-TEST-WIN-01", "Unheld one")
    assert client(quick).borrowing_request("P2P-TEST-WIN-01", again.request_id).status.value == (
        moved
    )
