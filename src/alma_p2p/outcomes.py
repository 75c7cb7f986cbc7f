"""Verdicts other than pass and fail, as typed outcomes a step raises.

The verdicts, everywhere (terminal, JUnit, Allure, readiness report): pass · fail ·
cannot tell · error · manual · attested · stale · not run · n/a.

A step that cannot prove an item through Alma ends the scenario with
:func:`checked_by_person` (manual, attested, stale); a step whose evidence is missing from
Alma's answer, or whose premise does not hold, ends it with :func:`cannot_tell`. pytest shows
both as skipped, with their text; the harness reads the verdict from the exception itself,
never from the wording of a message. ``error`` is given by the harness when Alma could not be
reached (see ``alma_p2p.plugin.results``), never by a step.
"""

from __future__ import annotations

from typing import Literal, NoReturn

import pytest

Verdict = Literal[
    "pass", "fail", "cannot tell", "error", "manual", "attested", "stale", "not run", "n/a"
]
PersonVerdict = Literal["manual", "attested", "stale"]


class Outcome(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A scenario that ends neither passed nor failed, with its verdict and what to do."""

    def __init__(self, verdict: Verdict, text: str) -> None:
        super().__init__(f"{verdict}: {text}")
        self.verdict: Verdict = verdict
        self.text = text


class CheckedByPerson(Outcome):
    """A scenario whose item a person checks: a checklist line, or that person's record."""

    def __init__(self, verdict: PersonVerdict, text: str) -> None:
        super().__init__(verdict, text)


class CannotTell(Outcome):
    """Alma's answer lacks what the check needs, or the scenario's premise does not hold:
    a checklist line saying what to look at by hand, never a pass or a fail."""

    def __init__(self, text: str) -> None:
        super().__init__("cannot tell", text)


# Shown as pytest shows its own skips ("Skipped: manual: …", whose prefix its summary
# drops), so these outcomes read the same in the terminal, JUnit and Allure.
for _shown_as_skip in (Outcome, CheckedByPerson, CannotTell):
    _shown_as_skip.__module__ = "builtins"
    _shown_as_skip.__name__ = _shown_as_skip.__qualname__ = "Skipped"


def checked_by_person(verdict: PersonVerdict, text: str) -> NoReturn:
    """End the scenario with ``verdict`` (manual, attested or stale) and what to check."""
    __tracebackhide__ = True  # the skip is reported at the step's line, not here
    raise CheckedByPerson(verdict, text)


def cannot_tell(text: str) -> NoReturn:
    """End the scenario with *cannot tell*: say what is missing and where to look by hand."""
    __tracebackhide__ = True
    raise CannotTell(text)


def broken_premise(text: str) -> NoReturn:
    """End the scenario with *cannot tell* because its test data no longer holds (a title
    no longer on loan, a partner missing): what to fix in the profile or the sandbox."""
    __tracebackhide__ = True
    raise CannotTell(f"the scenario's premise does not hold: {text}")
