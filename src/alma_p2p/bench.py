"""``make bench``: the harness's speed and call economy, as printed figures (no assertions).

1. Wall time of the full replay suite against a bare pytest-bdd suite with the same number
   of scenarios and trivial steps: the harness's overhead ratio (aim: at most 1.5).
2. Cassette load time per scenario.
3. A live run against the stand-in: Alma calls per institution against distinct resources
   read (aim: GETs / distinct = 1.0; status polls and writes are shown apart).
4. The live suite in process through each fault mix of ``tests/faults.py`` (Alma's per-second
   429s, 5xx and resets on reads, Alma unreachable): calls sent and wall time against the
   clean run, and whether every verdict stayed the same (retries wait no time here).
5. A live consortium of 3 and of 30 institutions with Alma-like waits, serial and on two
   workers, against its floor (``alma_p2p.bench_consortium``; ``python -m
   alma_p2p.bench_consortium`` runs it alone).
6. The patron audit (``alma_p2p.audit.bench``): 10,000 patrons live at 10 calls/s and
   300 ms per call (about 17 minutes: the floor is calls / limit), and 100,000 from a file.
"""

from __future__ import annotations

import importlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path.cwd()
# BENCH_SMOKE=1 runs every part once and small, to prove `make bench` works (its test).
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
RUNS = 1 if SMOKE else 5
# The smoke run calls the stand-in at 20 a second (below its threshold of 25), not the
# default 10: its figures prove the parts run, they are not the figures README shows.
SMOKE_RATE = ["--alma-rate=20"] if SMOKE else []


def _pytest(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return time.perf_counter() - started, proc.stdout


def _import_time(modules: str, env: dict[str, str]) -> float:
    """Seconds a fresh interpreter takes to import ``modules`` (median of RUNS)."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", f"import {modules}"],
            env=env,
            capture_output=True,
            timeout=120,
            check=True,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _scenario_count(output: str) -> int:
    found = re.search(r"(\d+) passed", output)
    return int(found.group(1)) if found else 0


def bare_suite(folder: Path, scenarios: int) -> None:
    lines = ["Feature: Bare", ""]
    for i in range(scenarios):
        lines += [f"  Scenario: Bare scenario {i}", "    Given a thing", "    Then it is there", ""]
    (folder / "bare.feature").write_text("\n".join(lines))
    (folder / "test_bare.py").write_text(
        "from pytest_bdd import given, scenarios, then\n"
        "scenarios('bare.feature')\n"
        "@given('a thing', target_fixture='thing')\n"
        "def _():\n    return 1\n"
        "@then('it is there')\n"
        "def _(thing):\n    assert thing == 1\n"
    )
    (folder / "pytest.ini").write_text("[pytest]\n")


def main() -> int:
    # Both suites run with Python's default bytecode caching (this machine's environment
    # sets PYTHONDONTWRITEBYTECODE, which makes pytest recompile rewritten modules each run).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ALMA_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    with tempfile.TemporaryDirectory() as scratch:
        reports = f"--alma-report-dir={Path(scratch) / 'reports'}"
        replay = [_pytest(["-q", "-p", "no:cacheprovider", reports], ROOT, env)]
        replay += [
            _pytest(["-q", "-p", "no:cacheprovider", reports], ROOT, env) for _ in range(RUNS - 1)
        ]
        total = _scenario_count(replay[0][1]) + int(
            (re.search(r"(\d+) skipped", replay[0][1]) or [0, 0])[1]
        )
        bare_dir = Path(scratch) / "bare"
        bare_dir.mkdir()
        bare_suite(bare_dir, total)
        bare = [
            _pytest(
                ["-q", "-p", "no:cacheprovider", "-p", "no:alma_p2p", "-p", "no:faker"],
                bare_dir,
                env,
            )
            for _ in range(RUNS)
        ]
    replay_s = statistics.median(t for t, _ in replay)
    bare_s = statistics.median(t for t, _ in bare)
    print(f"scenarios run: {total} (replay) vs {_scenario_count(bare[0][1])} (bare pytest-bdd)")
    print(f"replay suite wall time (median of {RUNS}): {replay_s:.2f} s")
    print(f"bare pytest-bdd wall time (median of {RUNS}): {bare_s:.2f} s")
    print(f"overhead ratio: {replay_s / bare_s:.2f} (aim <= 1.5)")
    bare_imports = _import_time("pytest, pytest_bdd", env)
    harness_imports = _import_time("pytest, pytest_bdd, alma_p2p.plugin, faker", env)
    print(
        f"  of the difference, {harness_imports - bare_imports:.2f} s is importing the "
        "harness's libraries (httpx, pydantic, vcrpy, Faker, tenacity) and its plugin"
    )

    cassettes = sorted((ROOT / "cassettes").rglob("*.yaml"))
    cassettes = [c for c in cassettes if not c.name.startswith("_")]
    started = time.perf_counter()
    for cassette in cassettes:
        yaml.load(
            cassette.read_text(),
            Loader=yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader,  # noqa: S506 - safe loaders
        )
    per = (time.perf_counter() - started) / max(1, len(cassettes)) * 1000
    print(f"cassette load time: {per:.1f} ms per scenario ({len(cassettes)} cassettes)")

    live_s, live = _live_demo()
    print(f"live run against the stand-in: {live_s:.2f} s")
    for line in live.splitlines():
        found = re.match(
            r"(\S+): (\d+) Alma calls \((\d+) GETs, (\d+) writes\); (\d+) distinct", line
        )
        if found:
            name, calls, gets, writes, distinct = found.groups()
            ratio = int(gets) / max(1, int(distinct))
            print(
                f"  {name}: {calls} calls = {gets} GETs + {writes} writes; {distinct} distinct "
                f"resources read; GETs per distinct resource {ratio:.2f} (aim 1.0; status polls "
                "repeat on purpose)"
            )
    _fault_mixes()
    from alma_p2p import bench_consortium

    bench_consortium.main()
    from alma_p2p.audit import bench as audit_bench

    return audit_bench.main(["100", "100", "0", "2000"] if SMOKE else [])


def _fault_mixes() -> None:
    """Figures of the in-process live suite through each fault mix, against the clean run."""
    # The harness's own test helpers, from the repository (not part of the package).
    sys.path.insert(0, str(ROOT))
    faults = importlib.import_module("tests.faults")
    suite = importlib.import_module("tests.suite_runner")

    mixes = [
        ("clean", faults.Faults()),
        ("20 % per-second 429 on every method", faults.per_second_429s(rate=0.2)),
        ("10 % 5xx (half HTML) + 5 % resets on reads", faults.flaky_reads(0.1, 0.05)),
        ("Alma unreachable", faults.unreachable()),
    ]
    print("fault mixes (live suite in process against the demo world; retries do not wait):")
    with tempfile.TemporaryDirectory() as scratch:  # warm-up: imports, first collection
        suite.run_live(suite.demo_world(), Path(scratch))
    clean: tuple[int, float, dict[str, str]] | None = None
    for name, mix in mixes:
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            run = suite.run_live(suite.demo_world(), Path(scratch), transport=mix)
            wall = time.perf_counter() - started
        if clean is None:
            clean = (mix.sent, wall, run.outcomes)
            print(f"  {name}: {mix.sent} calls, {wall:.2f} s")
            continue
        calls, clean_wall, outcomes = clean
        same = sum(run.outcomes.get(t) == o for t, o in outcomes.items())
        print(
            f"  {name}: {mix.sent} calls ({mix.sent / max(1, calls):.2f}x), {wall:.2f} s "
            f"({wall / clean_wall:.2f}x); injected: {mix.describe()}; "
            f"{same}/{len(outcomes)} outcomes as in the clean run"
        )


def _live_demo() -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "alma_p2p.cli", "live-demo", "-q", "-p", "no:cacheprovider",
         f"--alma-report-dir={Path(tempfile.gettempdir()) / 'alma-bench-reports'}",
         *SMOKE_RATE],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    return time.perf_counter() - started, proc.stdout


if __name__ == "__main__":
    raise SystemExit(main())
