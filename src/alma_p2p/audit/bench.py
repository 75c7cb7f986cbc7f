"""``make bench``'s patron-audit figures (printed, never asserted).

1. Live: 10,000 patrons on the stand-in at 10 calls/s with 300 ms per call: patrons
   audited, calls (one list per 100 users, one read per active patron), 429s, the achieved
   rate against the limit, and the wall time against the floor (calls / limit).
2. From a file: 100,000 patrons of a users XML export: throughput, and the peak memory
   (tracemalloc) against a file a tenth the size: it should not grow with the file.

``python -m alma_p2p.audit.bench [patrons rate latency_ms file_patrons]`` runs it alone.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

from alma_p2p.alma import AlmaClient
from alma_p2p.audit.rules import Rules
from alma_p2p.audit.run import audit_file, audit_live
from alma_p2p.profile import load_profile
from alma_p2p.standin import serve
from alma_p2p.standin.population import Population
from alma_p2p.standin.world import World

KEY = "l7xxBENCHKEY"


def _rules(population: Population, folder: Path) -> Rules:
    path = folder / "bench" / "profile.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(population.profile_data()), encoding="utf-8")
    return Rules(load_profile(path))


def live(patrons: int, rate: float, latency_ms: int) -> dict[str, float]:
    """One live audit on the stand-in; its figures."""
    population = Population(size=patrons, seed=42)
    # The stand-in enforces the same per-second threshold the audit is given.
    world = World.model_validate(
        population.world_data(key=KEY, per_second=int(rate), latency_ms=latency_ms)
    )
    with tempfile.TemporaryDirectory() as scratch, serve(world) as standin:
        rules = _rules(population, Path(scratch))
        with AlmaClient(base_url=standin.base_url, api_key=KEY, rate_per_second=None) as client:
            done = audit_live(
                client, rules, Path(scratch) / "out", show_identifiers=False, rate=rate
            )
        refused = sum(1 for r in standin.app.request_log if r.status == 429)
    active = sum(1 for p in population.patrons() if p.status == "ACTIVE")
    return {
        "patrons": done.checkpoint.listed,
        "audited": done.checkpoint.audited,
        "findings": len(done.checkpoint.findings),
        "calls": done.calls,
        "expected_calls": -(-patrons // 100) + active,
        "429s": refused,
        "retries": done.retries,
        "wall": done.wall,
        "floor": done.calls / rate,
        "rate": done.calls / done.wall,
    }


def from_file(patrons: int, *, measure_memory: bool) -> dict[str, float]:
    """One file audit; its figures (peak traced memory when asked: slower)."""
    population = Population(size=patrons, seed=42)
    with tempfile.TemporaryDirectory() as scratch:
        users = Path(scratch) / "users.xml"
        population.write_users_xml(users)
        rules = _rules(population, Path(scratch))
        if measure_memory:
            tracemalloc.start()
        started = time.perf_counter()
        done = audit_file(users, rules, Path(scratch) / "out", show_identifiers=False)
        wall = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if measure_memory else 0
        if measure_memory:
            tracemalloc.stop()
        size = users.stat().st_size
    return {
        "patrons": done.tally.listed,
        "findings": done.tally.findings,
        "wall": wall,
        "per_second": done.tally.listed / wall,
        "peak_mib": peak / 2**20,
        "file_mib": size / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    args = [float(a) for a in (argv if argv is not None else sys.argv[1:])]
    defaults = [10_000.0, 10.0, 300.0, 100_000.0]
    patrons, rate, latency, file_patrons = (args + defaults[len(args) :])[:4]
    print(
        f"patron audit, live: {int(patrons):,} patrons on the stand-in at {rate:g} calls/s, "
        f"{int(latency)} ms per call"
    )
    fig = live(int(patrons), rate, int(latency))
    print(f"  patrons listed {fig['patrons']:,.0f}, audited {fig['audited']:,.0f}")
    print(
        f"  calls {fig['calls']:,.0f} (one list per 100 + one read per active patron: "
        f"{fig['expected_calls']:,.0f}); 429s {fig['429s']:.0f} (retried: "
        f"{fig['retries']:.0f}; none reaches a finding)"
    )
    print(
        f"  achieved {fig['rate']:.2f} calls/s against the limit {rate:g} "
        f"({100 * fig['rate'] / rate:.1f} %, aim >= 90 %)"
    )
    print(f"  wall {fig['wall']:.1f} s against the floor {fig['floor']:.1f} s (calls / limit)")
    print(f"patron audit, from a file: {int(file_patrons):,} patrons")
    fast = from_file(int(file_patrons), measure_memory=False)
    print(
        f"  {fast['wall']:.2f} s, {fast['per_second']:,.0f} patrons/s "
        f"({fast['file_mib']:.1f} MiB of XML, {fast['findings']:,.0f} findings)"
    )
    for size in (int(file_patrons) // 10, int(file_patrons)):
        mem = from_file(size, measure_memory=True)
        print(f"  peak traced memory, {size:,} patrons: {mem['peak_mib']:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
