"""The ledger of what the harness created in Alma, kept on disk so nothing is forgotten.

Every create is written here *before* it is sent (``creating``: who, what, its external id,
and for a lending request the RS library that owns it) and completed after Alma answers
(``created``: Alma's request id). A run that dies midway (a crash, Ctrl-C, a lost
connection) leaves a list that ``alma-p2p sweep`` works through later; an entry without a
request id is found in Alma by its external id. What teardown or the sweep has settled is
closed with ``removed`` (removed, already gone, or ended). Alma has no endpoint that lists
borrowing requests, so this file is how leftovers are found. One JSON object per line;
append-only; a damaged line is reported with its number and skipped, never fatal.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_LEDGER = Path(".alma-p2p") / "ledger.jsonl"
_ENTRY_FIELDS = ("institution", "kind", "owner", "external_id", "run")


@dataclass(frozen=True)
class Entry:
    """A request the harness created (or may have created) at an institution."""

    institution: str
    kind: str  # "borrowing" | "lending"
    owner: str  # user primary id (borrowing) or partner code (lending)
    external_id: str
    run: str
    library: str | None = None  # lending: the RS library that owns it (its task list)
    request_id: str | None = None  # Alma's id, once Alma's answer came back


@dataclass(frozen=True)
class Damaged:
    """A ledger line that could not be read: its number (from 1) and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class Reading:
    """What the ledger holds open, and the lines it could not read."""

    outstanding: list[Entry]
    damaged: list[Damaged]


class Ledger:
    """Append-only record of creations and their settling."""

    def __init__(self, path: Path = DEFAULT_LEDGER) -> None:
        self.path = path

    def creating(self, entry: Entry) -> None:
        """Written before the create is sent."""
        self._append({"event": "creating", **asdict(entry)})

    def created(self, institution: str, external_id: str, request_id: str) -> None:
        """Written after Alma answered the create: the request id it gave."""
        self._append(
            {
                "event": "created",
                "institution": institution,
                "external_id": external_id,
                "request_id": request_id,
            }
        )

    def removed(self, institution: str, external_id: str, how: str) -> None:
        """Settled: Alma confirmed it removed, gone, or ended (``how`` says which)."""
        self._append(
            {"event": "removed", "institution": institution, "external_id": external_id, "how": how}
        )

    def outstanding(self, institution: str | None = None) -> list[Entry]:
        """Entries created and not yet settled, oldest first (damaged lines skipped)."""
        return [e for e in self.read().outstanding if institution in (None, e.institution)]

    def read(self) -> Reading:
        """Every open entry, oldest first, and every line that could not be read.

        A missing file reads as empty (no run has written yet); a folder raises
        ``IsADirectoryError``.
        """
        open_entries: dict[tuple[str, str], Entry] = {}
        damaged: list[Damaged] = []
        if not self.path.exists():
            return Reading([], [])
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    _apply(open_entries, json.loads(raw))
                except (ValueError, TypeError, KeyError) as exc:
                    damaged.append(Damaged(number, _why(exc)))
        return Reading(list(open_entries.values()), damaged)

    def _append(self, record: dict[str, Any]) -> None:
        record["at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _apply(open_entries: dict[tuple[str, str], Entry], record: Any) -> None:
    if not isinstance(record, dict):
        raise TypeError("not a JSON object")
    event = record["event"]
    key = (_text(record, "institution"), _text(record, "external_id"))
    # Ledgers written before the request id was kept had one "created" line per create,
    # written before sending: it reads as a "creating".
    if event == "creating" or (event == "created" and "kind" in record):
        fields = {name: _text(record, name) for name in _ENTRY_FIELDS}
        if fields["kind"] not in ("borrowing", "lending"):
            raise ValueError(f"unknown kind {fields['kind']!r}")
        open_entries[key] = Entry(
            **fields,
            library=_optional(record, "library"),
            request_id=_optional(record, "request_id"),
        )
    elif event == "created":
        request_id = _text(record, "request_id")
        if key in open_entries:
            open_entries[key] = replace(open_entries[key], request_id=request_id)
    elif event == "removed":
        open_entries.pop(key, None)
    else:
        raise ValueError(f"unknown event {event!r}")


def _text(record: dict[str, Any], name: str) -> str:
    value = record[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is not a non-empty string")
    return value


def _optional(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    return value if isinstance(value, str) and value else None


def _why(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg})"
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r}"
    return str(exc)
