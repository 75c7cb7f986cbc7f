"""Waiting for Alma to move a request on: poll with a deadline, never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Clock:
    """Where polling reads the time and waits: the real clock, unless a test swaps in its own
    (``CLOCK``), so a harness test can run a live suite without waiting out real deadlines."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


CLOCK = Clock()


class DeadlineExceeded(AssertionError):
    """The awaited state did not come in time; carries the last value seen."""

    def __init__(self, what: str, seconds: float, last: object) -> None:
        self.last = last
        super().__init__(f"{what}: not reached within {seconds:g} s (last seen: {last})")


def poll(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    what: str,
    deadline: float = 30.0,
    interval: float = 2.0,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> T:
    """Call ``fetch`` until ``done`` holds or ``deadline`` seconds pass.

    ``interval=0`` (replay) asks again at once: recorded answers come back in order.
    """
    sleep = sleep or CLOCK.sleep
    clock = clock or CLOCK.monotonic
    start = clock()
    while True:
        value = fetch()
        if done(value):
            return value
        if clock() - start >= deadline:
            raise DeadlineExceeded(what, deadline, value)
        if interval:
            sleep(interval)
