"""The ledger: every create before it is sent, completed with Alma's id, settled at the end;
a damaged line is skipped with its number, never fatal."""

from __future__ import annotations

import json

import pytest

from alma_p2p.ledger import Damaged, Entry, Ledger


def test_a_create_is_written_before_it_is_sent_and_completed_with_almas_id(tmp_path):
    ledger = Ledger(tmp_path / "l.jsonl")
    ledger.creating(Entry("a", "borrowing", "u1", "X-1", "R"))
    (entry,) = ledger.outstanding()
    assert entry.request_id is None  # sent or not, Alma's answer is not known yet
    ledger.created("a", "X-1", "99001")
    assert ledger.outstanding() == [Entry("a", "borrowing", "u1", "X-1", "R", request_id="99001")]


def test_a_lending_entry_carries_its_owner_library(tmp_path):
    ledger = Ledger(tmp_path / "l.jsonl")
    ledger.creating(Entry("b", "lending", "PARTNER", "X-3", "R", library="RIVER"))
    assert ledger.outstanding()[0].library == "RIVER"


def test_settled_entries_are_no_longer_outstanding(tmp_path):
    ledger = Ledger(tmp_path / "l.jsonl")
    ledger.creating(Entry("a", "borrowing", "u1", "X-1", "R"))
    ledger.creating(Entry("a", "borrowing", "u1", "X-2", "R"))
    ledger.creating(Entry("b", "lending", "P", "X-3", "R", library="RIVER"))
    ledger.removed("a", "X-1", "removed")
    assert [e.external_id for e in ledger.outstanding()] == ["X-2", "X-3"]
    assert [e.external_id for e in ledger.outstanding("a")] == ["X-2"]


def test_a_damaged_line_is_reported_with_its_number_and_the_rest_is_read(tmp_path):
    path = tmp_path / "l.jsonl"
    ledger = Ledger(path)
    ledger.creating(Entry("a", "borrowing", "u1", "X-1", "R"))
    with path.open("a") as handle:
        handle.write('{"event": "creating", "institution": "a", "kind": "borr\n')  # cut short
        handle.write("[1, 2]\n")
        handle.write(json.dumps({"event": "creating", "institution": "a"}) + "\n")
        handle.write(json.dumps({"event": "shredded", "institution": "a", "external_id": "Z"}))
        handle.write("\n\n")
    ledger.creating(Entry("a", "borrowing", "u1", "X-2", "R"))

    reading = ledger.read()

    assert [e.external_id for e in reading.outstanding] == ["X-1", "X-2"]
    assert [d.line for d in reading.damaged] == [2, 3, 4, 5]
    assert reading.damaged[0].reason.startswith("not JSON")
    assert reading.damaged[1] == Damaged(3, "not a JSON object")
    assert "external_id" in reading.damaged[2].reason
    assert reading.damaged[3] == Damaged(5, "unknown event 'shredded'")


def test_a_ledger_of_the_older_form_still_reads(tmp_path):
    """Before request ids were kept, one "created" line was written before each create."""
    path = tmp_path / "l.jsonl"
    old = {"event": "created", "institution": "a", "kind": "borrowing", "owner": "u1",
           "external_id": "X-1", "run": "R", "at": "2026-11-01T10:00:00+00:00"}  # fmt: skip
    path.write_text(json.dumps(old) + "\n")
    assert Ledger(path).outstanding() == [Entry("a", "borrowing", "u1", "X-1", "R")]


def test_no_file_reads_empty_and_a_folder_is_refused(tmp_path):
    assert Ledger(tmp_path / "none.jsonl").read().outstanding == []
    with pytest.raises(IsADirectoryError):
        Ledger(tmp_path).read()
