"""One calibration: the sandbox guard, the order of asking (reads, then writes in a
ledgered write session, then the round trip with the lending member's client:
:mod:`.round_trip_probes`), merging with the file on disk, and drift."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from alma_p2p.alma import AlmaError
from alma_p2p.calibrate import read_probes  # noqa: F401  (importing it registers the read probes)
from alma_p2p.calibrate.probing import (
    PROBES,
    Answer,
    NotAsked,
    ProbeFailed,
    Probing,
    Seen,
    scrubbed,
)
from alma_p2p.calibrate.round_trip_probes import ROUND_TRIP_FACTS, TripAnswers, probe_round_trip
from alma_p2p.calibrate.write_probes import WRITE_FACTS
from alma_p2p.connect import base_url_for, client_for
from alma_p2p.facts import (
    CALIBRATED_FILE,
    CalibratedFact,
    CalibratedFacts,
    Register,
    load_calibrated,
    load_register,
    render_calibrated,
)
from alma_p2p.files import write_atomic
from alma_p2p.ledger import Ledger
from alma_p2p.profile import Profile, load_profiles
from alma_p2p.settings import Settings, api_key_variable, load_settings
from alma_p2p.targets import read_partners, refusals, targets
from alma_p2p.writes import WriteSession, guarded


class CalibrationRefused(AlmaError):
    """Calibration stopped before anything but ``/conf/general`` was sent."""


# -- the command --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a calibration wrote, and the drift it found."""

    path: Path
    calibrated: CalibratedFacts
    drift: tuple[str, ...]


def calibrate(
    institution: str,
    *,
    settings: Settings | None = None,
    transport: httpx.BaseTransport | None = None,
    today: date | None = None,
    say: Callable[[str], None] = print,
) -> Outcome:
    """Probe ``institution``'s sandbox and write its ``alma-facts.yaml``.

    ``transport`` replaces the network (the stand-in in tests). Raises
    :class:`CalibrationRefused` when Alma is not the profile's institution's sandbox.
    """
    settings = settings or load_settings(institutions=(institution,))
    profile = load_profiles(settings.profiles_dir, (institution,))[institution]
    key = settings.api_key_for(institution)
    if not key:
        raise CalibrationRefused(
            f"{institution}: no API key; set {api_key_variable(institution)} (or "
            "ALMA_API_KEY) to a sandbox key of the institution"
        )
    base = base_url_for(settings, profile)
    day = today or datetime.now(UTC).date()
    path = settings.profiles_dir / institution / CALIBRATED_FILE
    before = load_calibrated(path)
    # The lending member's file too, when the round trip will be asked: a broken one stops
    # the command here, before anything is sent.
    lender_before = _lender_file(settings, profile)
    register = load_register()
    with client_for(settings, profile, transport=transport) as client:
        gate = guarded(client)
        p = Probing(client, profile, base, transport, settings, _run_token())
        client.on_response(p.heard)
        _sandbox_guard(p, institution)
        answers = {fid: _ask(p, register, fid) for fid in PROBES if fid not in WRITE_FACTS}
        ledger = Ledger(settings.ledger)
        p.writes = WriteSession(client, gate, institution, ledger=ledger, run_token=p.run_token)
        try:
            held_back = _partners_may_leave_the_sandbox(p)
            if held_back:
                say(f"{institution}: no test request sent: {held_back}")
                why = f"no test request was sent: {held_back}"
                trip = TripAnswers(dict.fromkeys(ROUND_TRIP_FACTS, NotAsked(why)))
                answers |= dict.fromkeys(WRITE_FACTS, NotAsked(why))
            else:
                answers |= {fid: _ask(p, register, fid) for fid in WRITE_FACTS}
                trip = probe_round_trip(p, register, _sandbox_guard, ledger, say)
            answers |= trip.borrower
        finally:
            report = p.writes.close()
        for line in report.left:
            say(f"{institution}: LEFT IN ALMA: {line}")
    after = _merge(register, profile.institution.code, answers, before, day, _patrons(profile))
    drift = _write(path, before, after, institution, say)
    drift += _lender_facts(
        settings.profiles_dir, register, trip, lender_before, day, say, _patrons(profile)
    )
    return Outcome(path, after, drift)


def _write(
    path: Path,
    before: CalibratedFacts | None,
    after: CalibratedFacts,
    institution: str,
    say: Callable[[str], None],
) -> tuple[str, ...]:
    """Write ``after`` unless the file already holds it; its drift from ``before``."""
    drift = _drift(before, after)
    text = render_calibrated(after)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)
    for line in drift:
        say(f"{institution}: DRIFT {line}")
    return drift


def _lender_file(settings: Settings, profile: Profile) -> CalibratedFacts | None:
    """The lending member's calibrated facts (read and validated) when the round trip will
    be asked with its own key; else None."""
    trip = profile.round_trip
    if trip is None or trip.lender == profile.name:
        return None
    key = settings.api_key_for(trip.lender)
    if not key or key == settings.api_key_for(profile.name):
        return None
    return load_calibrated(settings.profiles_dir / trip.lender / CALIBRATED_FILE)


def _lender_facts(
    profiles_dir: Path,
    register: Register,
    trip: TripAnswers,
    before: CalibratedFacts | None,
    day: date,
    say: Callable[[str], None],
    patrons: Iterable[str],
) -> tuple[str, ...]:
    """The round trip's lending-member facts, merged into the lender's own file (``before``,
    read before anything was sent; made when something was seen and it has none yet); its
    drift, named by the lender."""
    if trip.lender is None or trip.lender_code is None:
        return ()
    path = profiles_dir / trip.lender / CALIBRATED_FILE
    if before is None and not any(isinstance(a, Seen) for a in trip.at_lender.values()):
        return ()
    merged = _merge(register, trip.lender_code, trip.at_lender, before, day, patrons)
    # Only the round trip's facts change: the rest is the lender's own calibration's.
    facts = dict(before.facts) if before else dict(merged.facts)
    facts |= {fact_id: merged.facts[fact_id] for fact_id in trip.at_lender}
    after = CalibratedFacts(institution=merged.institution, facts=facts)
    return tuple(f"{trip.lender}: {line}" for line in _write(path, before, after, trip.lender, say))


def _patrons(profile: Profile) -> list[str]:
    """The profile's test patrons' ids: no why in a facts file names them."""
    excluded = profile.borrowing.excluded_patron if profile.borrowing else None
    return [p.primary_id for p in profile.test_patrons] + ([excluded.patron] if excluded else [])


def _partners_may_leave_the_sandbox(p: Probing) -> str | None:
    """Why no test request may be created, or None: the suite's own check before its first
    write (alma_p2p.targets): a request sent on to a partner whose server is not one the
    profile allows may reach a production Alma. UNVERIFIED(partner.sandbox_host_pattern)."""
    try:
        found = targets(p.profile, read_partners(p.client))
    except AlmaError as exc:
        return f"the partners could not be read, so where a request would go cannot be told: {exc}"
    return "; ".join(refusals(p.profile, found)) or None


def _run_token() -> str:
    """Part of every external_id it creates: unique per calibration, like a live run's."""
    return "C" + datetime.now(UTC).strftime("%y%m%d%H%M%S")


def _sandbox_guard(p: Probing, institution: str) -> None:
    """Refuse unless ``/conf/general`` reports a sandbox of the profile's institution."""
    expected = p.profile.institution.code
    try:
        general = p.client.general()
    except AlmaError as exc:
        raise CalibrationRefused(
            f"{institution}: cannot read /conf/general, so cannot tell a sandbox: {exc}"
        ) from exc
    if not general.is_sandbox:
        raise CalibrationRefused(
            f"{institution}: refused to calibrate: Alma reports environment_type="
            f"{general.environment_type!r}, not sandbox. Calibration may create test "
            "requests; use a sandbox API key (Developer Network > Manage API Keys)."
        )
    # The guard's own answer is the environment_type probe's evidence.
    p.remember("/conf/general", p._last[-1] if p._last else None)
    # UNVERIFIED(gateway.general_institution_code): read as preflight reads it.
    reached = p.client.institution_code(expected)
    if (reached or "").upper() != expected.upper():
        raise CalibrationRefused(
            f"{institution}: refused to calibrate: the key reaches institution "
            f"{reached!r}, but the profile says {expected!r} "
            f"(institution.code in {institution}/profile.yaml). Use that institution's key."
        )


def _ask(p: Probing, register: Register, fact_id: str) -> Answer:
    try:
        return PROBES[fact_id](p, register.fact(fact_id))
    except ProbeFailed as exc:
        return NotAsked(f"probe could not ask Alma this time: {exc}")


def _merge(
    register: Register,
    code: str,
    answers: Mapping[str, Answer],
    before: CalibratedFacts | None,
    day: date,
    patrons: Iterable[str] = (),
) -> CalibratedFacts:
    """The file's new content. A why is scrubbed of the test patrons' ids and what differs
    per call (an Alma error's tracking id, request ids): the file names no patron and does
    not change while Alma does not."""
    old = before.facts if before else {}
    facts: dict[str, CalibratedFact] = {}
    for fact in register:
        answer = answers.get(fact.id)
        previous = old.get(fact.id)
        if isinstance(answer, Seen):
            same = (
                previous is not None
                and previous.status == "calibrated"
                and (previous.value, previous.seen, previous.evidence)
                == (answer.value, answer.seen, answer.evidence)
            )
            facts[fact.id] = CalibratedFact(
                status="calibrated",
                value=answer.value,
                seen=answer.seen,
                date=previous.date if same and previous else day,
                evidence=answer.evidence,
            )
        elif previous is not None and previous.status == "calibrated":
            facts[fact.id] = previous  # not asked this time: what was seen before stands
        elif isinstance(answer, NotAsked):
            facts[fact.id] = CalibratedFact(status="assumed", why=scrubbed(answer.why, patrons))
        elif fact.probe_safety == "none":
            facts[fact.id] = CalibratedFact(status="assumed", why=fact.probe)
        else:
            facts[fact.id] = CalibratedFact(
                status="assumed", why=f"not yet probed by alma-p2p calibrate ({fact.probe_safety})"
            )
    return CalibratedFacts(institution=code, facts=facts)


def _drift(before: CalibratedFacts | None, after: CalibratedFacts) -> tuple[str, ...]:
    if before is None:
        return ()
    out = []
    for fact_id, new in sorted(after.facts.items()):
        old = before.facts.get(fact_id)
        if old is None or old.status != "calibrated" or new.status != "calibrated":
            continue
        if (old.value, old.seen) != (new.value, new.seen):
            was = (old.value or "") + (f" ({old.seen})" if old.seen else "")
            now = (new.value or "") + (f" ({new.seen})" if new.seen else "")
            out.append(f"{fact_id}: was {was!r} on {old.date}, Alma now shows {now!r}")
    return tuple(out)
