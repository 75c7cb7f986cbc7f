"""What an audit leaves: the CSV of findings, the summary with the fix, the readiness row.

Patron identifiers appear only when the librarian asked (``--show-identifiers``); otherwise
every patron is the same stable pseudonym the cassettes use (``recording.pseudonym``).
Files are written whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from alma_p2p.audit.rules import FINDINGS, Finding, Rules
from alma_p2p.files import write_atomic
from alma_p2p.guide import GUIDE
from alma_p2p.recording import pseudonym

CSV_FILE = "findings.csv"
SUMMARY_FILE = "summary.md"
ROW_FILE = "readiness-row.json"
COLUMNS = ("patron", "finding", "campus_code", "user_group", "rs_library", "expected_rs_library")
PALS_ITEM = next(item for item in GUIDE if item.id == "patron_rs_library")


@dataclass(frozen=True)
class Labeler:
    """How a patron is named in what the audit writes."""

    show_identifiers: bool

    def __call__(self, primary_id: str) -> str:
        return primary_id if self.show_identifiers else pseudonym(primary_id, "primary_id")


@dataclass
class Tally:
    """Counts for the summary, kept while findings stream past."""

    audited: int = 0
    listed: int = 0
    by_campus: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_fix: Counter[tuple[str, str]] = field(default_factory=Counter)  # (key, expected)
    unmapped: Counter[str] = field(default_factory=Counter)

    def add(self, finding: Finding, rules: Rules) -> None:
        key = rules.key_of(finding) or "(empty)"
        self.by_campus[(key, finding.kind)] += 1
        if finding.kind == "unmapped":
            self.unmapped[key] += 1
        elif finding.expected:
            self.by_fix[(key, finding.expected)] += 1

    @property
    def findings(self) -> int:
        return sum(self.by_campus.values())


def csv_row(finding: Finding) -> list[str]:
    return [
        finding.primary_id,
        finding.kind,
        finding.campus_code or "",
        finding.user_group or "",
        " ".join(finding.rs_libraries),
        finding.expected or "",
    ]


def write_csv(out: TextIO, findings: Iterable[Finding], tally: Tally, rules: Rules) -> None:
    """Write the findings as CSV while counting them."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for finding in findings:
        tally.add(finding, rules)
        writer.writerow(csv_row(finding))


def verdict(tally: Tally) -> str:
    return "pass" if tally.findings == 0 else "fail"


def readiness_row(tally: Tally, institution: str) -> dict[str, object]:
    """The PALS item's row for the readiness report, with the counts."""
    kinds = Counter[str]()
    for (_key, kind), n in tally.by_campus.items():
        kinds[kind] += n
    counted = ", ".join(f"{kinds[k]:,} {FINDINGS[k]}" for k in FINDINGS if kinds[k])
    message = (
        f"{tally.findings:,} of {tally.audited:,} patrons in scope need attention: {counted}"
        if tally.findings
        else f"all {tally.audited:,} patrons in scope carry the RS library of their mapping"
    )
    return {
        "institution": institution,
        "item": PALS_ITEM.id,
        "title": PALS_ITEM.title,
        "verdict": verdict(tally),
        "message": message,
        "counts": {k: kinds[k] for k in FINDINGS},
        "audited": tally.audited,
        "listed": tally.listed,
    }


def summary(tally: Tally, rules: Rules, institution: str, csv_name: str) -> str:
    """The summary by campus (or user group) and finding, the fix, and the readiness row."""
    by = rules.by.replace("_", " ")
    out = io.StringIO()
    row = readiness_row(tally, institution)
    out.write(f"# Patron RS-library audit: {institution}\n\n")
    out.write(f"{tally.listed:,} users listed, {tally.audited:,} patrons in scope read; ")
    out.write(f"{tally.findings:,} findings ({csv_name}).\n\n")
    keys = sorted({key for key, _ in tally.by_campus})
    if keys:
        out.write(f"| {by} | " + " | ".join(FINDINGS) + " |\n")
        out.write("|---" * (len(FINDINGS) + 1) + "|\n")
        for key in keys:
            cells = " | ".join(str(tally.by_campus[(key, k)]) for k in FINDINGS)
            out.write(f"| {key} | {cells} |\n")
        out.write("\n")
    out.write("## The fix\n\n")
    if not tally.findings:
        out.write("Nothing to fix.\n\n")
    for (key, expected), n in sorted(tally.by_fix.items()):
        out.write(
            f"- {by} {key} → {expected} ({_patrons(n)}): build an itemized user set of the "
            f"patrons of {csv_name} whose {rules.by} is {key} (Admin > Manage Sets > Add Set > "
            "Itemized, from the identifiers: run the audit with --show-identifiers --out DIR "
            "to get them), then Admin > Run a Job > Update/Notify Users on that set, setting "
            f"Resource Sharing Library to {expected} and nothing else.\n"
        )
    for key, n in sorted(tally.unmapped.items()):
        out.write(
            f"- {by} {key} ({_patrons(n)}) is not in the profile's patron_rs_library.map: "
            "decide its RS library, add the line to the profile, and run the audit again to "
            "get the set to update.\n"
        )
    # UNVERIFIED(patron.bulk_update_sets_rs_library): the job sets the field on a set.
    mapping = "\n".join(f"    {k}: {v}" for k, v in rules.mapping.map.items())
    out.write(f"\nThe mapping applied (patron_rs_library, by {rules.by}):\n\n{mapping}\n\n")
    out.write("## Readiness report\n\n| item | verdict | what |\n|---|---|---|\n")
    out.write(f"| {row['title']} | {row['verdict']} | {row['message']} |\n")
    return out.getvalue()


def write_reports(folder: Path, tally: Tally, rules: Rules, institution: str) -> None:
    write_atomic(folder / SUMMARY_FILE, summary(tally, rules, institution, CSV_FILE))
    row = readiness_row(tally, institution)
    write_atomic(folder / ROW_FILE, json.dumps(row, indent=1) + "\n")


def _patrons(n: int) -> str:
    return "1 patron" if n == 1 else f"{n:,} patrons"
