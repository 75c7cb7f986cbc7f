"""Request bodies the suite sends to Alma, built from data by small functions.

Shapes follow alma-api.md §3.2 (borrowing) and §4.1 (lending): ``owner`` and
``pickup_location_type`` are plain strings; ``format``, ``citation_type``, ``partner`` and
``pickup_location`` are ``{"value": …}`` objects. Borrowing citation types are ``BK``/``CR``,
lending ones ``BOOK``/``JOURNAL``.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faker import Faker

EXTERNAL_ID_PREFIX = "P2PH"
"""Every request the harness creates has an external_id starting ``P2PH-<run token>-``."""


def borrowing_request(
    *,
    title: str,
    external_id: str,
    pickup_library: str,
    owner: str | None = None,
    author: str | None = None,
    isbn: str | None = None,
    citation_type: str = "BK",
    request_format: str = "PHYSICAL",
) -> dict[str, Any]:
    """A physical book borrowing request.

    ``owner`` None leaves the choice of RS library to Alma, as Primo does for a patron.
    """
    body: dict[str, Any] = {
        "external_id": external_id,
        "title": title,
        "format": {"value": request_format},
        "citation_type": {"value": citation_type},
        "pickup_location": {"value": pickup_library},
        "pickup_location_type": "LIBRARY",
        "agree_to_copyright_terms": True,
    }
    if owner is not None:
        body["owner"] = owner
    if author:
        body["author"] = author
    if isbn:
        body["isbn"] = isbn
    return body


def lending_request(
    *,
    partner: str,
    owner: str,
    title: str,
    external_id: str,
    author: str | None = None,
    citation_type: str = "BOOK",
    request_format: str = "PHYSICAL",
) -> dict[str, Any]:
    """A physical lending request arriving from ``partner`` for the RS library ``owner``."""
    body: dict[str, Any] = {
        "external_id": external_id,
        "owner": owner,
        "partner": {"value": partner},
        "format": {"value": request_format},
        "citation_type": {"value": citation_type},
        "title": title,
    }
    if author:
        body["author"] = author
    return body


@dataclass
class TestData:
    """Generated titles and identifiers for one scenario.

    Seeded from the run token and the scenario's id, so recording and replay send the
    same bodies and two scenarios never share a title (which Alma would call a duplicate).
    """

    __test__ = False

    run_token: str
    scenario_id: str

    def __post_init__(self) -> None:
        self._seed = int(hashlib.sha256(self.scenario_id.encode()).hexdigest()[:12], 16)
        self._drawn = 0
        self._count = 0

    def external_id(self) -> str:
        self._count += 1
        digest = hashlib.sha256(self.scenario_id.encode()).hexdigest()[:8]
        return f"{EXTERNAL_ID_PREFIX}-{self.run_token}-{digest}-{self._count:02d}"

    def unheld_title(self) -> tuple[str, str]:
        """(title, author) of a book no library holds: made up, and marked as a test."""
        faker = _faker()
        # One shared generator, reseeded per draw: the n-th title of a scenario is always
        # the same, whatever ran before it.
        faker.seed_instance(self._seed + self._drawn)
        self._drawn += 1
        return f"P2P harness test: {faker.catch_phrase()}", faker.name()


@cache
def _faker() -> Faker:
    with _assert_rewriting_paused():
        from faker import Faker  # imported on first use: it is slow to import

    return Faker("en_US")


@contextlib.contextmanager
def _assert_rewriting_paused() -> Iterator[None]:
    """Import without pytest's assertion rewriting. faker ships a pytest plugin, so pytest
    marks the whole faker package for rewriting, even with that plugin disabled: each of the
    ~70 modules a ``Faker`` loads would be parsed, rewritten and compiled afresh (its bytecode
    is not cached where PYTHONDONTWRITEBYTECODE is set): about 1.5 s of every run, for
    asserts that are not ours and never fail in a scenario."""
    hooks = [
        (i, f) for i, f in enumerate(sys.meta_path) if type(f).__name__ == "AssertionRewritingHook"
    ]
    for _, hook in reversed(hooks):
        sys.meta_path.remove(hook)
    try:
        yield
    finally:
        for index, hook in hooks:
            sys.meta_path.insert(index, hook)
