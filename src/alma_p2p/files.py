"""Writing files so that a crash, a full disk or Ctrl-C never leaves half of one behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def streamed(path: Path, newline: str | None = None) -> Iterator[TextIO]:
    """A draft beside ``path`` to write into, flushed to disk and put in place in one step
    only when the block ends well: ``path`` holds the old text or the new, never part of
    either (``newline=""`` for CSV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    draft = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the draft private (0600); the file gets what a plain write would give.
        umask = os.umask(0)
        os.umask(umask)
        draft.chmod(0o666 & ~umask)
        draft.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            draft.unlink()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash never leaves part of it (``streamed``)."""
    with streamed(path) as out:
        out.write(text)
