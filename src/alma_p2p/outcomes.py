"""Verdicts other than pass and fail, as typed outcomes a step raises.

A step that cannot prove an item through Alma ends the scenario with :func:`checked_by_person`.
pytest shows it as skipped (with its text); the harness reads the verdict from the exception
itself, never from the wording of a message.
"""

from __future__ import annotations

from typing import Literal, NoReturn

import pytest

PersonVerdict = Literal["manual", "attested", "stale"]


class CheckedByPerson(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A scenario whose item a person checks: a checklist line, or that person's record."""

    def __init__(self, verdict: PersonVerdict, text: str) -> None:
        super().__init__(f"{verdict}: {text}")
        self.verdict: PersonVerdict = verdict
        self.text = text


# Shown as pytest shows its own skips ("Skipped: manual: …", whose prefix its summary
# drops), so a person's check reads the same in the terminal, JUnit and Allure.
CheckedByPerson.__module__ = "builtins"
CheckedByPerson.__name__ = CheckedByPerson.__qualname__ = "Skipped"


def checked_by_person(verdict: PersonVerdict, text: str) -> NoReturn:
    """End the scenario with ``verdict`` (manual, attested or stale) and what to check."""
    __tracebackhide__ = True  # the skip is reported at the step's line, not here
    raise CheckedByPerson(verdict, text)
