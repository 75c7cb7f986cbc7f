"""The repository's copy of the real Alma captures is the shared reference's, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COPY = REPO / "tests" / "captures"
SHARED = REPO.parent / "shared" / "reference" / "captures"


def test_the_copy_of_the_captures_is_the_shared_reference() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent here: nothing to compare the copy with")
    shared = {p.name: p.read_bytes() for p in SHARED.iterdir() if p.is_file()}
    copy = {p.name: p.read_bytes() for p in COPY.iterdir() if p.is_file()}
    assert copy == shared, "tests/captures differs from shared/reference/captures: copy it again"
