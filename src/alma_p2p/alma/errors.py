"""Typed errors of the Alma client.

Every failure of a call to Alma surfaces as one of these, raised from the client's single
request chokepoint with ``raise ... from exc``::

    AlmaError                       root: catch this to catch everything below
    ├── AlmaConfigError             the harness is set up wrong (no key, unknown region, bad URL)
    ├── AlmaWriteRefused            a write on a client not cleared to write (not a sandbox)
    ├── AlmaTransportError          no HTTP answer at all (refused, reset, DNS, timeout)
    ├── AlmaUnreachable             not sent: Alma was unreachable at this run's preflight
    ├── NotAnAlmaGateway            an answer came, but not from an Alma API gateway (HTML page)
    ├── AlmaContractError           Alma answered 2xx, but not in the shape the harness relies on
    └── AlmaAPIError                Alma answered non-2xx; carries status, method, path, details
        ├── AlmaBadRequest          400: Alma's channel for business errors (codes like 401861)
        │   └── AlmaUnauthorized    errorCode UNAUTHORIZED: the key lacks an API area/permission
        ├── AlmaForbidden           403
        ├── AlmaNotFound            404
        ├── AlmaRateLimited         429 (PER_SECOND_THRESHOLD): retried after a pause
        │   └── AlmaDailyLimitReached   429, the day's call allowance used up: not retried
        └── AlmaServerError         5xx, Alma's own or a proxy's HTML page in front of Alma

AlmaTransportError, AlmaUnreachable, AlmaServerError and AlmaRateLimited (not the daily
one) are transient: the harness's verdict for them is *error (Alma unreachable)*.

Messages never contain the API key: the key travels only in a header, and paths are
recorded without their query string's ``apikey``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One entry of Alma's ``errorList``: code (a string), message and tracking id."""

    code: str
    message: str
    tracking_id: str | None = None

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message.strip()}"
        if self.tracking_id:
            text += f" (tracking id {self.tracking_id})"
        return text


class AlmaError(Exception):
    """Root of every error the harness raises about talking to Alma."""


class AlmaConfigError(AlmaError):
    """The harness's own settings make a call impossible; the message says what to set."""


class AlmaWriteRefused(AlmaError):
    """A write was attempted on a client that has not been cleared to write."""

    def __init__(self, method: str, path: str, reason: str) -> None:
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} refused before sending: {reason}")


class AlmaTransportError(AlmaError):
    """No HTTP answer: connection refused, name not resolved, timeout."""

    def __init__(self, method: str, path: str, reason: str) -> None:
        self.method = method
        self.path = path
        self.reason = reason
        super().__init__(f"{method} {path} → no answer: {reason}")


class AlmaUnreachable(AlmaError):
    """Not sent: the run's preflight could not reach this institution's Alma."""

    def __init__(self, institution: str, cause: str) -> None:
        self.institution = institution
        self.cause = cause
        super().__init__(
            f"Alma unreachable: not asked, as Alma did not answer {institution}'s preflight "
            f"({cause}); run again when Alma is reachable"
        )


class NotAnAlmaGateway(AlmaError):
    """The server answered with something that is not Alma's API (typically an HTML page)."""

    def __init__(self, method: str, path: str, status: int, content_type: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.content_type = content_type
        super().__init__(
            f"{method} {path} → {status} with a {content_type or 'non-JSON'} page: this is not an "
            "Alma API gateway. Check ALMA_BASE_URL (--alma-base-url) or the profile's region: "
            "it must be https://api-<region>.hosted.exlibrisgroup.com/almaws/v1, not the "
            "institution's Alma UI address."
        )


class AlmaContractError(AlmaError):
    """A 2xx answer that does not match the typed model the harness relies on."""

    def __init__(self, method: str, path: str, model: str, problems: list[str]) -> None:
        self.method = method
        self.path = path
        self.model = model
        self.problems = tuple(problems)
        listed = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            f"{method} {path} → Alma's answer no longer fits the {model} contract: {listed}{more}. "
            "If Alma changed this object in a release, record again and run the drift report."
        )


class AlmaAPIError(AlmaError):
    """Alma answered with a non-2xx status."""

    def __init__(
        self,
        status: int,
        method: str,
        path: str,
        details: tuple[ErrorDetail, ...] = (),
        body_excerpt: str = "",
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.details = details
        self.body_excerpt = body_excerpt
        self.retry_after: float | None = None  # seconds, from a Retry-After header
        super().__init__(self._render())

    @property
    def refusal(self) -> bool:
        """Alma answered and said no (a 4xx other than 429): the request's own outcome.
        A 429 or 5xx is Alma busy or failing: never read as its answer to the request."""
        return 400 <= self.status < 500 and self.status != 429

    @property
    def codes(self) -> tuple[str, ...]:
        """The ``errorCode`` of every detail, in order; tests compare these, never prose."""
        return tuple(d.code for d in self.details)

    @property
    def tracking_ids(self) -> tuple[str, ...]:
        return tuple(d.tracking_id for d in self.details if d.tracking_id)

    def _render(self) -> str:
        head = f"{self.method} {self.path} → {self.status}"
        if self.details:
            return head + " " + "; ".join(str(d) for d in self.details)
        if self.body_excerpt:
            return f"{head} {self.body_excerpt}"
        return head


class AlmaBadRequest(AlmaAPIError):
    """HTTP 400: Alma's business errors, including 'not found' (401861 and friends)."""


class AlmaUnauthorized(AlmaBadRequest):
    """``UNAUTHORIZED``: the key is not defined, or lacks the API area or write permission."""

    def __init__(
        self,
        status: int,
        method: str,
        path: str,
        details: tuple[ErrorDetail, ...] = (),
        body_excerpt: str = "",
        area: str | None = None,
        write: bool = False,
    ) -> None:
        self.area = area
        self.write = write
        super().__init__(status, method, path, details, body_excerpt)

    def _render(self) -> str:
        base = super()._render()
        need = "read/write" if self.write else "read"
        area = f"the '{self.area}' API area" if self.area else "this API area"
        return (
            f"{base}. The API key is not allowed to use {area} ({need}) in this environment. "
            "In the Ex Libris Developer Network, open the key (Manage API Keys) and add "
            f"{area} with {need} permission for the right environment (Sandbox or Production)."
        )


class AlmaForbidden(AlmaAPIError):
    """HTTP 403: invalid key or a source address outside the key's allowed range.

    UNVERIFIED(gateway.invalid_key_status).
    """


class AlmaNotFound(AlmaAPIError):
    """HTTP 404: no such endpoint (Alma reports missing records as 400, not 404)."""


class AlmaRateLimited(AlmaAPIError):
    """HTTP 429: per-second (``PER_SECOND_THRESHOLD``) or daily threshold exceeded."""


class AlmaDailyLimitReached(AlmaRateLimited):
    """HTTP 429 once the institution's daily call allowance is used up; waiting will not help.

    UNVERIFIED(gateway.daily_threshold_code): that Alma says so with errorCode
    ``DAILY_THRESHOLD`` comes from one
    third-party document (alma-api.md §1.4); ``X-Exl-Api-Remaining: 0`` on a 429 is taken
    as the same signal.
    """

    def _render(self) -> str:
        return (
            f"{super()._render()}. Alma's daily API call allowance for this institution is used "
            "up. Sandbox and production calls, and every other integration, share it; it "
            "starts again at midnight. Run the suite tomorrow, or run fewer scenarios "
            "(-k, -m, --institution)."
        )


class AlmaServerError(AlmaAPIError):
    """HTTP 5xx."""


DAILY_LIMIT_CODE = "DAILY_THRESHOLD"  # UNVERIFIED(gateway.daily_threshold_code): alma-api.md §1.4


def error_class_for(
    status: int, codes: tuple[str, ...], calls_left: int | None = None
) -> type[AlmaAPIError]:
    """The most specific error class for an HTTP status, Alma error codes and the
    ``X-Exl-Api-Remaining`` count that came with them."""
    if "UNAUTHORIZED" in codes:
        return AlmaUnauthorized
    if status == 400:
        return AlmaBadRequest
    if status == 403:
        return AlmaForbidden
    if status == 404:
        return AlmaNotFound
    if status == 429:
        if DAILY_LIMIT_CODE in codes or calls_left == 0:
            return AlmaDailyLimitReached
        return AlmaRateLimited
    if status >= 500:
        return AlmaServerError
    return AlmaAPIError
