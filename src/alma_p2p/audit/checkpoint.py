"""What a live audit has done so far: written atomically after every page.

It holds the offset of the next page, the counts and the findings of the pages done, and
whether it holds real patron identifiers (``--show-identifiers``) or pseudonyms, so a run
resumed with the other choice is refused instead of mixing the two. A page not finished
when the run stopped is read again; nothing before it is.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alma_p2p.audit.rules import AuditError, Finding
from alma_p2p.files import write_atomic

VERSION = 1


@dataclass
class Checkpoint:
    institution: str
    show_identifiers: bool
    next_offset: int = 0
    total: int | None = None
    listed: int = 0  # users on the pages done
    audited: int = 0  # patrons read and judged
    calls: int = 0  # calls the audit has made, over every run
    complete: bool = False
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> str:
        data = asdict(self)
        data["version"] = VERSION
        return json.dumps(data, indent=1) + "\n"


def load(path: Path, institution: str, show_identifiers: bool) -> Checkpoint | None:
    """The unfinished audit at ``path``; None when there is none (or it had finished)."""
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        findings = [
            Finding(**{**f, "rs_libraries": tuple(f["rs_libraries"])}) for f in data["findings"]
        ]
        data.pop("version", None)
        cp = Checkpoint(**{**data, "findings": findings})
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError(
            f"{path}: the checkpoint cannot be read ({exc}); start afresh with --restart"
        ) from None
    if cp.complete:
        return None
    if cp.institution != institution:
        raise AuditError(
            f"{path} is the checkpoint of {cp.institution}'s audit, not {institution}'s: give "
            "another --out, or --restart"
        )
    if cp.show_identifiers != show_identifiers:
        said = "with" if cp.show_identifiers else "without"
        raise AuditError(
            f"{path}: this audit was started {said} --show-identifiers; continue it the same "
            "way, or start afresh with --restart"
        )
    return cp


def save(path: Path, cp: Checkpoint) -> None:
    write_atomic(path, cp.to_json())
