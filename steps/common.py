"""Steps and helpers shared by every domain."""

from __future__ import annotations

from collections.abc import Iterable

import pytest


def fail_with(problems: Iterable[str], heading: str) -> None:
    """Fail once, listing every problem found (a librarian fixes them all in one pass)."""
    found = list(problems)
    if found:
        lines = "\n".join(f"  - {p}" for p in found)
        pytest.fail(f"{heading}\n{lines}", pytrace=False)
