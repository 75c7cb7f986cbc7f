"""Running an audit: live against Alma within its limits, or from a users XML file.

Live, a pool of workers shares ONE client. Every call waits its turn at a pacer that spaces
calls evenly just under the per-second limit (the pacer sits on the client's request hook,
so retries are paced too); enough workers are in flight to cover Alma's round trip. Pages
are done in order: the next page's list call is sent while the current page's reads run,
and the checkpoint is written when a page is done. Before a page, the audit makes sure
the page fits in what is left of the run's budget (``--max-calls``) and of the day's
allowance (``X-Exl-Api-Remaining``, less ``--keep``); otherwise it stops cleanly and says
when to continue. A read that fails (Alma refusing for load past the retries, the day's
allowance gone meanwhile) never becomes a finding: the page is not recorded and the run
stops, to be continued.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

import httpx

from alma_p2p.alma import AlmaClient, AlmaDailyLimitReached, AlmaError
from alma_p2p.audit import checkpoint as checkpoints
from alma_p2p.audit.checkpoint import Checkpoint
from alma_p2p.audit.output import CSV_FILE, Labeler, Tally, write_csv, write_reports
from alma_p2p.audit.progress import Progress
from alma_p2p.audit.rules import Finding, Rules
from alma_p2p.audit.source import PAGE_SIZE, Brief, list_page, read_patron, read_users_xml
from alma_p2p.files import streamed

# The pacer's spacing is this much above 1/limit: Alma counts arrivals, which jitter.
PACE_MARGIN = 1.05
PAGE_CALLS = PAGE_SIZE + 1  # the most one page can cost: its list call and 100 reads
T = TypeVar("T")


class Pacer:
    """Spaces calls at least ``1 / rate`` seconds apart, across threads."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = PACE_MARGIN / rate
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, _request: httpx.Request | None = None) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


@dataclass
class Outcome:
    """How a run ended: ``complete``, or stopped (``reason`` says why and what to do)."""

    checkpoint: Checkpoint
    complete: bool
    reason: str = ""
    calls: int = 0  # sent by this run
    wall: float = 0.0
    retries: int = 0


class Meter:
    """The calls this run sent and the day's allowance as Alma last reported it."""

    def __init__(self, client: AlmaClient, max_calls: int | None, keep: int) -> None:
        self.client = client
        self.max_calls = max_calls
        self.keep = keep
        self.sent = 0
        self.inflight = 0
        self._lock = threading.Lock()

    def call(self, fn: Callable[[], T]) -> T:
        with self._lock:
            self.sent += 1
            self.inflight += 1
        try:
            return fn()
        finally:
            with self._lock:
                self.inflight -= 1

    def left_today(self) -> int | None:
        remaining = self.client.stats.remaining
        return None if remaining is None else remaining - self.inflight

    def room(self, committed: int) -> int | None:
        """Calls this run may still start, beyond ``committed`` already promised; None: no
        limit known."""
        limits = []
        if self.max_calls is not None:
            limits.append(self.max_calls - self.sent - committed)
        today = self.left_today()
        if today is not None:
            limits.append(today - self.keep - committed)
        return min(limits) if limits else None


def _continue_when(meter: Meter, out: Path, today: datetime | None) -> str:
    now = today or datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    if meter.max_calls is not None and meter.max_calls - meter.sent < PAGE_CALLS:
        return (
            f"this run's budget of {meter.max_calls:,} calls (--max-calls) would not cover "
            f"another page (up to {PAGE_CALLS} calls); continue with the same command (and a "
            f"new --max-calls) whenever you like: the checkpoint in {out} keeps the place"
        )
    left = meter.left_today()
    # UNVERIFIED(gateway.daily_allowance_renewal): Alma renews it at midnight.
    return (
        f"Alma says {left:,} calls are left today (X-Exl-Api-Remaining), keeping {meter.keep:,} "
        f"for others (--keep), and a page needs up to {PAGE_CALLS}; continue after midnight, "
        f"when Alma renews the daily allowance ({tomorrow}): run the same command again, the "
        f"checkpoint in {out} keeps the place"
    )


def audit_live(
    client: AlmaClient,
    rules: Rules,
    out: Path,
    *,
    show_identifiers: bool,
    rate: float,
    workers: int = 8,
    max_calls: int | None = None,
    keep: int = 0,
    restart: bool = False,
    progress: Progress | None = None,
    today: datetime | None = None,
) -> Outcome:
    """Audit every user of the institution, continuing a checkpoint in ``out`` if any."""
    path = out / "checkpoint.json"
    cp = None if restart else checkpoints.load(path, rules.profile.name, show_identifiers)
    cp = cp or Checkpoint(rules.profile.name, show_identifiers)
    client.on_request(Pacer(rate).wait)
    audit = _LiveAudit(client, rules, out, cp, Meter(client, max_calls, keep), progress, today)
    return audit.run(workers)


class _LiveAudit:
    """One run of a live audit: pages in order, reads in parallel, a checkpoint per page."""

    def __init__(
        self,
        client: AlmaClient,
        rules: Rules,
        out: Path,
        cp: Checkpoint,
        meter: Meter,
        progress: Progress | None,
        today: datetime | None,
    ) -> None:
        self.client = client
        self.rules = rules
        self.out = out
        self.cp = cp
        self.meter = meter
        self.progress = progress
        self.today = today
        self.label = Labeler(cp.show_identifiers)
        self.pool: ThreadPoolExecutor | None = None
        self.pending: list[Future[object]] = []

    def run(self, workers: int) -> Outcome:
        started = time.monotonic()
        retries_before = self.client.stats.retries
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="audit")
        try:
            stopped = self._pages()
        except AlmaDailyLimitReached:
            stopped = (
                "Alma's daily allowance ran out during a page (another integration may share "
                "it); continue after midnight: run the same command again, the checkpoint in "
                f"{self.out} keeps the place"
            )
        except AlmaError as exc:
            stopped = (
                f"Alma did not answer a call ({self._redacted(str(exc))}); nothing of the "
                "unfinished page was "
                f"recorded: run the same command again to continue from the checkpoint in "
                f"{self.out}"
            )
        except KeyboardInterrupt:
            stopped = (
                f"interrupted; the pages done are in the checkpoint in {self.out}: run the "
                "same command again to continue"
            )
        finally:
            for future in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
        self._show(final=True)
        if self.cp.complete:
            finish(self.out, self.cp, self.rules)
        return Outcome(
            self.cp,
            self.cp.complete,
            "" if self.cp.complete else stopped,
            calls=self.meter.sent,
            wall=time.monotonic() - started,
            retries=self.client.stats.retries - retries_before,
        )

    def _pages(self) -> str:
        """Audit page after page; the reason it stopped early, or "" when done."""
        cp, meter = self.cp, self.meter
        room = meter.room(0)
        if room is not None and room < PAGE_CALLS:
            return _continue_when(meter, self.out, self.today)
        next_page: Future[tuple[int, list[Brief]]] | None = self._listing(cp.next_offset)
        while next_page is not None:
            total, briefs = next_page.result()
            next_page = None
            cp.total = total
            wanted = [b for b in briefs if self.rules.active(b.status)]
            room = meter.room(0)
            if room is not None and room < len(wanted):
                return _continue_when(meter, self.out, self.today)
            assert self.pool is not None
            reads = [self.pool.submit(self._read, b) for b in wanted]
            self.pending = list(reads)  # type: ignore[arg-type]
            offset = cp.next_offset + PAGE_SIZE
            if briefs and offset < total:
                room = meter.room(len(reads))
                if room is None or room >= PAGE_CALLS:
                    next_page = self._listing(offset)
            judged = [r.result() for r in reads]
            cp.findings.extend(f for _, f in judged if f is not None)
            cp.listed += len(briefs)
            cp.audited += sum(1 for in_scope, _ in judged if in_scope)
            cp.next_offset = offset
            cp.calls += 1 + len(reads)
            cp.complete = not briefs or offset >= total
            checkpoints.save(self.out / "checkpoint.json", cp)
            self._show()
            if next_page is None and not cp.complete:
                return _continue_when(meter, self.out, self.today)
        return ""

    def _redacted(self, text: str) -> str:
        """An error's text with the patron in its path as the artefacts name them."""
        return re.sub(
            r"/users/([^/?\s]+)", lambda m: "/users/" + self.label(unquote(m.group(1))), text
        )

    def _listing(self, offset: int) -> Future[tuple[int, list[Brief]]]:
        assert self.pool is not None
        future = self.pool.submit(self.meter.call, lambda: list_page(self.client, offset))
        self.pending.append(future)  # type: ignore[arg-type]
        return future

    def _read(self, brief: Brief) -> tuple[bool, Finding | None]:
        """(in scope, finding) of one patron's full record."""
        patron = self.meter.call(lambda: read_patron(self.client, brief.primary_id))
        finding = self.rules.check(patron)
        if finding is not None:
            finding = dataclasses.replace(finding, primary_id=self.label(finding.primary_id))
        return self.rules.in_scope(patron), finding

    def _show(self, final: bool = False) -> None:
        if self.progress is not None:
            cp = self.cp
            left = self.meter.left_today()
            self.progress.update(cp.listed, cp.total, self.meter.sent, left, final=final)


def finish(out: Path, cp: Checkpoint, rules: Rules) -> Tally:
    """Write the CSV, the summary and the readiness row of a finished live audit."""
    tally = Tally(audited=cp.audited, listed=cp.listed)
    with streamed(out / CSV_FILE, newline="") as handle:
        write_csv(handle, cp.findings, tally, rules)
    write_reports(out, tally, rules, cp.institution)
    return tally


@dataclass
class FileOutcome:
    tally: Tally
    wall: float


def audit_file(users: Path, rules: Rules, out: Path, *, show_identifiers: bool) -> FileOutcome:
    """Audit a users XML file: streamed in, findings streamed out, no API call."""
    started = time.monotonic()
    label = Labeler(show_identifiers)
    tally = Tally()

    def findings() -> Iterator[Finding]:
        for patron in read_users_xml(users):
            tally.listed += 1
            if not rules.in_scope(patron):
                continue
            tally.audited += 1
            finding = rules.check(patron)
            if finding is not None:
                yield dataclasses.replace(finding, primary_id=label(finding.primary_id))

    with streamed(out / CSV_FILE, newline="") as handle:
        write_csv(handle, findings(), tally, rules)
    write_reports(out, tally, rules, rules.profile.name)
    return FileOutcome(tally, time.monotonic() - started)
