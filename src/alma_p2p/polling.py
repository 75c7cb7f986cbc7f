"""Waiting for Alma to move a request on: poll with a deadline, never a bare sleep.

A long wait says so: while a poll waits, ``PROGRESS`` (set by the plugin in live and record
runs) is told what is awaited and for how long, at most once every ``PROGRESS_EVERY``
seconds of that poll, so a CI log shows a slow Alma without filling up with it.
"""

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

# (what is awaited, seconds waited so far, the deadline) → shown to the person running it.
Progress = Callable[[str, float, float], None]
PROGRESS: Progress | None = None
PROGRESS_EVERY = 30.0


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
    start = told = clock()
    while True:
        value = fetch()
        if done(value):
            return value
        now = clock()
        if now - start >= deadline:
            raise DeadlineExceeded(what, deadline, value)
        if PROGRESS is not None and now - told >= PROGRESS_EVERY:
            PROGRESS(what, now - start, deadline)
            told = now
        if interval:
            sleep(interval)
