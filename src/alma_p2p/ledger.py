"""The ledger of what the harness created in Alma, kept on disk so nothing is forgotten.

Every create is written here *before* it is sent, and its removal after it succeeds, so a
run that dies midway (a crash, Ctrl-C, a lost connection) leaves a list that
``alma-p2p sweep`` works through later. Alma has no endpoint that lists borrowing requests,
so this file is how leftovers are found. One JSON object per line; append-only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_LEDGER = Path(".alma-p2p") / "ledger.jsonl"


@dataclass(frozen=True)
class Entry:
    """A request the harness created (or may have created) at an institution."""

    institution: str
    kind: str  # "borrowing" | "lending"
    owner: str  # user primary id (borrowing) or partner code (lending)
    external_id: str
    run: str


class Ledger:
    """Append-only record of creations and removals."""

    def __init__(self, path: Path = DEFAULT_LEDGER) -> None:
        self.path = path

    def created(self, entry: Entry) -> None:
        self._append({"event": "created", **asdict(entry)})

    def removed(self, institution: str, external_id: str, how: str) -> None:
        self._append(
            {"event": "removed", "institution": institution, "external_id": external_id, "how": how}
        )

    def outstanding(self, institution: str | None = None) -> list[Entry]:
        """Entries created and not yet removed, oldest first."""
        open_entries: dict[tuple[str, str], Entry] = {}
        for record in self._records():
            key = (record["institution"], record["external_id"])
            if record["event"] == "created":
                open_entries[key] = Entry(
                    record["institution"],
                    record["kind"],
                    record["owner"],
                    record["external_id"],
                    record["run"],
                )
            elif record["event"] == "removed":
                open_entries.pop(key, None)
        return [e for e in open_entries.values() if institution in (None, e.institution)]

    def _records(self) -> Iterator[dict[str, str]]:
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as handle:
            for raw in handle:
                if raw.strip():
                    yield json.loads(raw)

    def _append(self, record: dict[str, str]) -> None:
        record["at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
