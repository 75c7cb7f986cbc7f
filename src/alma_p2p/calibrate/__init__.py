"""``alma-p2p calibrate``: ask an institution's sandbox what the register of facts assumes.

Live only, sandbox only: ``/conf/general`` is read first, and nothing else is sent unless
Alma reports a sandbox of the profile's institution (the guard of @writes scenarios). Then
every fact with a probe in :data:`PROBES` is asked — reads first, then writes with the
profile's test data through a ledgered :class:`~alma_p2p.writes.WriteSession`, then the
round trip's facts with the lending member's own key — and the answers go to
``<profiles>/<name>/alma-facts.yaml``: per fact the value observed (one of the register's
assumed or alternative values, or ``unexpected`` with what was seen), the date, and the
redacted exchange that shows it. A fact without a probe stays assumed, with why.

The file is sorted and carries no time beyond each fact's date, which is kept while the
observed value and its evidence stay the same, so calibrating an unchanged Alma again
rewrites the same bytes. A calibrated value that differs from the one on file is drift:
printed, and the command exits 1 (the file is still updated).

The package, one job per module: :mod:`.probing` (what a probe works with, the registry,
evidence), :mod:`.read_probes` and :mod:`.write_probes` (the probes), :mod:`.round_trip_probes`
(the round trip's facts, asked with both members' keys; the lender's go to its own file),
:mod:`.run` (the
sandbox guard, the order of asking, merging with the file on disk, drift).
"""

from __future__ import annotations

from alma_p2p.calibrate.probing import (
    PROBES,
    Answer,
    NotAsked,
    Probe,
    ProbeFailed,
    Probing,
    Seen,
    probe,
)
from alma_p2p.calibrate.run import CalibrationRefused, Outcome, calibrate
from alma_p2p.calibrate.write_probes import WRITE_FACTS

__all__ = [
    "PROBES",
    "WRITE_FACTS",
    "Answer",
    "CalibrationRefused",
    "NotAsked",
    "Outcome",
    "Probe",
    "ProbeFailed",
    "Probing",
    "Seen",
    "calibrate",
    "probe",
]
