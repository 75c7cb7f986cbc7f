"""The first live run, as a harness test makes it: calibrate the stand-in, then run.

``calibrate_world`` runs ``alma_p2p.calibrate`` against a stand-in world for each named
institution and leaves each ``alma-facts.yaml`` in a copy of the demo profiles; the suite
then reads them with ``--profiles-dir`` (``profiles_args``). Polls wait on a virtual clock,
so a probe that follows a request for a minute costs no time.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from alma_p2p.calibrate import calibrate
from alma_p2p.facts import CALIBRATED_FILE, CalibratedFacts, load_calibrated
from alma_p2p.settings import Settings, api_key_variable, load_settings
from tests.suite_runner import REPO, STANDIN_BASE_URL, TransportWrapper, standin_app
from tests.suite_runner import _virtual_time as virtual_time

DEMO = ("demo-university", "demo-college", "demo-lender")
# Each demo profile's Alma institution code in the demo world.
CODES = {
    "demo-university": "01DEMO_STMARYS",
    "demo-college": "01DEMO_COLLEGE",
    "demo-lender": "01DEMO_LENDER",
}


def demo_profiles(dest: Path) -> Path:
    """A copy of the demo profiles at ``dest`` (left as it is when it already exists)."""
    if not dest.exists():
        shutil.copytree(REPO / "fixtures" / "institutions", dest)
    return dest


def calibration_settings(
    name: str, profiles: Path, ledger: Path, keys: dict[str, str] | None = None
) -> Settings:
    """A live calibration of ``name`` against the in-process stand-in, with ``keys``
    (profile name → key), at the highest rate (the tests lift the stand-in's threshold)."""
    return load_settings(
        mode="live",
        institutions=(name,),
        base_url=STANDIN_BASE_URL,
        rate=100,
        profiles_dir=profiles,
        ledger=ledger,
        institution_keys={api_key_variable(n): SecretStr(k) for n, k in (keys or {}).items()},
    )


def calibrate_world(
    world: dict[str, Any],
    profiles: Path,
    *institutions: str,
    ledger: Path | None = None,
    wrapper: TransportWrapper | None = None,
) -> dict[str, CalibratedFacts]:
    """Calibrate each institution (all the demo ones by default) against ``world`` (through
    ``wrapper``, as ``run_live`` takes it); the facts files land in
    ``profiles/<name>/alma-facts.yaml``."""
    names = institutions or DEMO
    app = standin_app(world)
    keys = {i.code: i.api_keys[0].key for i in app.world.institutions if i.api_keys}
    out = {}
    with virtual_time():
        for name in names:
            # Every member's key, as a consortium's first live run has them: a borrower's
            # calibration then probes its round trip with the lender's.
            settings = calibration_settings(
                name,
                profiles,
                ledger or profiles.parent / "calibration-ledger.jsonl",
                {other: keys[CODES[other]] for other in DEMO},
            )
            calibrate(
                name,
                settings=settings,
                transport=(wrapper or (lambda t: t))(httpx.WSGITransport(app=app)),
                say=lambda _line: None,
            )
            found = load_calibrated(profiles / name / CALIBRATED_FILE)
            assert found is not None, f"{name}: calibration wrote no {CALIBRATED_FILE}"
            out[name] = found
    return out


def profiles_args(profiles: Path) -> tuple[str]:
    return (f"--profiles-dir={profiles}",)
