"""Writing to Alma safely: a gate that refuses writes by default, and the write session.

The Alma client itself can write; the harness puts a :class:`WriteGate` on every client it
makes, so a write outside an open :class:`WriteSession` is refused before it is sent. A
session is opened only for a scenario tagged ``@writes`` after ``/conf/general`` reports a
sandbox. It writes each create to the ledger *before* sending it and completes the entry with
Alma's request id after, remembers what was created (and the last status the scenario read),
counts the writes whose answer was lost (they reached Alma), and undoes it all when it
closes, even when the scenario failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from alma_p2p.alma import AlmaAPIError, AlmaClient, AlmaError
from alma_p2p.alma.errors import AlmaWriteRefused
from alma_p2p.alma.gateway import PREFIX, SELF_TESTS, is_write
from alma_p2p.alma.models import RsRequest
from alma_p2p.cleanup import CleanupReport, Created, answer_lost, remove_created
from alma_p2p.ledger import Entry, Ledger


class WriteGate:
    """An httpx request hook: refuses every write while closed (self-tests excepted: they
    create nothing and only ask whether the key may write)."""

    def __init__(self) -> None:
        self.open = False

    def __call__(self, request: httpx.Request) -> None:
        if self.open or not is_write(request.method):
            return
        path = request.url.path
        below = path.split(PREFIX, 1)[1] if PREFIX in path else path
        if below in SELF_TESTS:
            return
        raise AlmaWriteRefused(
            request.method,
            PREFIX + below,
            "this client is read-only; writes are allowed only in scenarios tagged "
            "@writes, after /conf/general reports a sandbox",
        )


def guarded(client: AlmaClient) -> WriteGate:
    """Put a closed write gate on ``client`` and return it."""
    gate = WriteGate()
    client.on_request(gate)
    return gate


class WriteSession:
    """What one @writes scenario creates at one institution, and its undoing."""

    def __init__(
        self,
        client: AlmaClient,
        gate: WriteGate,
        institution: str,
        *,
        ledger: Ledger | None,
        run_token: str,
    ) -> None:
        self.alma = client
        self.institution = institution
        self.created: list[Created] = []
        self._gate = gate
        self._ledger = ledger
        self._run = run_token
        self.lost_answers = 0  # writes that reached Alma whose answer never came back
        gate.open = True

    def _register(self, kind: str, owner: str, body: Mapping[str, Any]) -> Created:
        library = str(body.get("owner") or "") or None if kind == "lending" else None
        created = Created(kind, owner, str(body.get("external_id") or ""), library=library)
        self.created.append(created)
        if self._ledger is not None:
            self._ledger.creating(
                Entry(self.institution, kind, owner, created.external_id, self._run, library)
            )
        return created

    def _sent(self, created: Created, request: RsRequest) -> None:
        created.request_id = request.request_id
        if self._ledger is not None and request.request_id:
            self._ledger.created(self.institution, created.external_id, request.request_id)

    def _failed(self, created: Created, exc: AlmaError) -> None:
        if answer_lost(exc):
            self.lost_answers += 1  # it reached Alma: cleanup finds it by its external id
        elif isinstance(exc, AlmaAPIError):
            created.refused = True  # Alma answered, with an error: nothing was created

    def create_borrowing_request(
        self, user_id: str, body: Mapping[str, Any], *, override_blocks: bool = False
    ) -> RsRequest:
        """Create a borrowing request for a patron (ledgered before it is sent)."""
        created = self._register("borrowing", user_id, body)
        try:
            request = self.alma.create_borrowing_request(
                user_id, body, override_blocks=override_blocks
            )
        except AlmaError as exc:
            self._failed(created, exc)
            raise
        self._sent(created, request)
        return request

    def create_lending_request(self, partner: str, body: Mapping[str, Any]) -> RsRequest:
        """Create a lending request from a partner (ledgered before it is sent)."""
        created = self._register("lending", partner, body)
        try:
            request = self.alma.create_lending_request(partner, body)
        except AlmaError as exc:
            self._failed(created, exc)
            raise
        self._sent(created, request)
        created.status = request.status.value
        return request

    def lending_request(self, partner: str, request_id: str) -> RsRequest:
        """Read a lending request this session created; its status spares cleanup a call."""
        request = self.alma.lending_request(partner, request_id)
        for created in self.created:
            if created.kind == "lending" and created.request_id == request_id:
                created.status = request.status.value
        return request

    def ended(self, request_id: str) -> None:
        """The scenario saw this lending request in a status the institution's facts give
        as final (its calibrated reject code): cleanup leaves it as it is."""
        for created in self.created:
            if created.kind == "lending" and created.request_id == request_id:
                created.ended = True

    def close(self) -> CleanupReport:
        """Undo what was created (newest first) and close the gate; never raises for one
        failed removal: the report says what is left in Alma."""
        try:
            report = remove_created(self.alma, self.institution, list(self.created), self._ledger)
            self.lost_answers += report.lost_answers
            return report
        finally:
            self.created.clear()
            self._gate.open = False
