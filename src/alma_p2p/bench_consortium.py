"""``make bench``, consortium part: a live run of 3 and of 30 institutions against the
stand-in with Alma-like waits, serial and on two pytest-xdist workers.

The consortium is the demo's three institutions, copied (codes, keys and profile names
suffixed ``-gN``) until it has as many as asked. Each institution's stand-in takes
``SEND`` seconds to send a new borrowing request and ``LOCATE`` seconds to settle a new
lending request (``delays`` in the world); the harness polls every 2 s, calls at most
``--alma-rate`` (10) a second per institution, and the stand-in answers 429 above its
per-second threshold (25 per institution).

Printed per run: wall time; the floor as the issue defines it — the longest single
institution's own time: the waits its new requests imposed (each created request counted
once, at its delay) plus its calls divided by its per-second limit — and the same measure
for the run's workers (serial: every institution's own time added up; two workers: that
sum halved, or the floor if longer). Both overstate what a run must take: the client's
limiter lets a burst of calls through at once, and a wait can cover another scenario's
calls. Then the 429s the stand-in sent, and how many scenarios ended in an error for one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from alma_p2p.settings import api_key_variable
from alma_p2p.standin import StandinApp, World, serve
from alma_p2p.standin.worlds import DEMO_WORLD

ROOT = Path.cwd()

PROFILES = ROOT / "fixtures" / "institutions"
# BENCH_SMOKE=1 (the harness's test of `make bench`): no waits, the small consortium only.
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
SEND, LOCATE = (0.0, 0.0) if SMOKE else (2.0, 2.0)  # seconds
# The harness's default calls per second per institution; the smoke run uses 20 (below
# the stand-in's threshold of 25): its figures prove the part runs, nothing more.
RATE = 20.0 if SMOKE else 10.0
CREATES = re.compile(r"/(users/[^/]+/resource-sharing-requests|partners/[^/]+/lending-requests)$")


@dataclass
class Figures:
    institutions: int
    workers: int
    wall: float
    floor: float  # the longest single institution's own time
    serial_bound: float  # every institution's own time, one after another
    workers_bound: float  # that sum spread evenly over the workers, or the floor if longer
    too_many: int  # 429s the stand-in sent
    errors: int  # scenarios whose verdict is error
    verdicts: Counter[str]


def consortium(size: int, folder: Path) -> tuple[World, Path]:
    """A world and a profiles folder of ``size`` institutions (a multiple of 3)."""
    text = DEMO_WORLD.read_text(encoding="utf-8")
    names = sorted(p.name for p in PROFILES.iterdir() if (p / "profile.yaml").is_file())
    codes = re.findall(r"^  - code: (\S+)$", text, flags=re.MULTILINE)
    keys = re.findall(r"\{key: ([\w-]+),", text)
    institutions = []
    profiles = folder / "profiles"
    for group in range(size // len(codes)):

        def renamed(value: str, group: int = group) -> str:
            for code in codes:
                value = re.sub(rf"\b{code}\b", f"{code}_G{group}", value)
            for key in keys:
                value = value.replace(key, f"{key}-g{group}")
            # A profile names another member's profile folder (round_trip.lender).
            for name in names:
                value = re.sub(
                    rf"^(\s+lender: ){name}$", rf"\g<1>{name}-g{group}", value, flags=re.M
                )
            return value

        world = yaml.safe_load(renamed(text))
        institutions += world["institutions"]
        for name in names:
            dest = profiles / f"{name}-g{group}"
            shutil.copytree(PROFILES / name, dest)
            for path in dest.glob("*.yaml"):
                path.write_text(renamed(path.read_text(encoding="utf-8")), encoding="utf-8")
    world["institutions"] = institutions
    for inst in world["institutions"]:
        inst["delays"] = {"send": SEND, "locate": LOCATE}
    schema = PROFILES / "profile.schema.json"
    if schema.is_file():
        shutil.copy(schema, profiles / schema.name)
    return World.model_validate(world), profiles


def run(size: int, workers: int) -> Figures:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        world, profiles = consortium(size, folder)
        app = StandinApp(world)
        by_code = {i.code: i for i in world.institutions}
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALMA_")}
        for name in sorted(p.name for p in profiles.iterdir() if p.is_dir()):
            code = yaml.safe_load((profiles / name / "profile.yaml").read_text())["institution"][
                "code"
            ]
            env[api_key_variable(name)] = by_code[code].api_keys[0].key
        with serve(app) as standin:
            args = [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "-p", "no:randomly", "--alma-mode=live", f"--alma-base-url={standin.base_url}",
                f"--profiles-dir={profiles}", f"--alma-report-dir={folder / 'reports'}",
                f"--alma-ledger={folder / 'ledger.jsonl'}", "--alma-progress-every=0",
                f"--alma-rate={RATE:g}",
            ]  # fmt: skip
            if workers > 1:
                args += ["-n", str(workers)]
            started = time.perf_counter()
            subprocess.run(  # noqa: S603 - our own interpreter
                args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
                check=False,
            )  # fmt: skip
            wall = time.perf_counter() - started
        results = json.loads((folder / "reports" / "readiness.json").read_text())
    own = _own_time(app, {i.code: i for i in world.institutions})
    verdicts = Counter(r["verdict"] for r in results["results"])
    return Figures(
        institutions=size,
        workers=workers,
        wall=wall,
        floor=max(own.values()),
        serial_bound=sum(own.values()),
        workers_bound=max(*own.values(), sum(own.values()) / workers),
        too_many=sum(1 for r in app.request_log if r.status == 429),
        errors=sum(
            1 for r in results["results"] if r["verdict"] == "error" and "429" in r["message"]
        ),
        verdicts=verdicts,
    )


def _own_time(app: StandinApp, institutions: dict[str, object]) -> dict[str, float]:
    """Each institution's floor: the waits its new requests imposed plus its calls at the
    per-second limit."""
    calls: Counter[str] = Counter()
    waits: dict[str, float] = {}
    for logged in app.request_log:
        if logged.institution is None:
            continue
        calls[logged.institution] += 1
        if logged.method == "POST" and logged.status == 200 and CREATES.search(logged.path):
            wait = LOCATE if "lending-requests" in logged.path else SEND
            waits[logged.institution] = waits.get(logged.institution, 0.0) + wait
    return {code: waits.get(code, 0.0) + calls[code] / RATE for code in calls}


def main() -> None:
    print(
        f"consortium live runs against the stand-in (send {SEND:g} s, locate {LOCATE:g} s, "
        f"polls every 2 s, {RATE:g} calls/s per institution):"
    )
    # Two workers (this machine's CPUs), then one worker per institution for the 3 and ten
    # for the 30: the waits, not the CPUs, bound a live run.
    for size, many in ((3, 3),) if SMOKE else ((3, 3), (30, 10)):
        for workers in (1,) if SMOKE else (1, 2, many):
            f = run(size, workers)
            shown = ", ".join(f"{v} {n}" for v, n in sorted(f.verdicts.items()))
            bound = f.serial_bound if f.workers == 1 else f.workers_bound
            print(
                f"  {f.institutions} institutions, "
                f"{'serial' if f.workers == 1 else f'-n {f.workers}'}: "
                f"{f.wall:.1f} s; floor {f.floor:.1f} s ({f.wall / max(f.floor, 0.001):.2f}x); "
                f"{'sum of floors' if f.workers == 1 else 'spread over the workers'} "
                f"{bound:.1f} s "
                f"({f.wall / bound:.2f}x); 429s sent {f.too_many}, reaching a verdict "
                f"{f.errors}; verdicts: {shown}"
            )


if __name__ == "__main__":
    main()
