"""An interrupted audit loses nothing: killed (SIGKILL) or stopped with Ctrl-C halfway, the
resumed run reports exactly the full set of findings, and repeats no call beyond the page
that was in flight."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from alma_p2p.standin import serve
from alma_p2p.standin.population import Population
from alma_p2p.standin.world import World
from tests.audit_helpers import KEY, audit_args, findings, profiles_for
from tests.suite_runner import ctrl_c_reaches_it

pytestmark = [pytest.mark.subprocess, pytest.mark.socket]

POP = Population(size=200, seed=11)
DEADLINE = 60.0


# The run that is stopped goes slower, so that the signal finds it on its second page even
# on a busy machine (the resumed run goes at full speed).
SLOW = "30"


def _env(base_url: str, rate: str = "100") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMA_")}
    env.update(ALMA_BASE_URL=base_url, ALMA_API_KEY=KEY, ALMA_RATE=rate, PYTHONUNBUFFERED="1")
    return env


def _audit(tmp: Path, base_url: str, out: Path, rate: str = "100") -> subprocess.Popen[str]:
    args = audit_args(profiles_for(POP, tmp), out, "--live", "--show-identifiers", "--keep", "0")
    return subprocess.Popen(
        [sys.executable, "-m", "alma_p2p.cli", *args],
        cwd=tmp,
        env=_env(base_url, rate),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,  # noqa: PLW1509 - only resets one signal
    )


def _wait_for_a_page(out: Path, proc: subprocess.Popen[str]) -> int:
    """Wait until the checkpoint holds a page (and the audit is still going); its offset."""
    deadline = time.monotonic() + DEADLINE
    path = out / "checkpoint.json"
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the audit ended before it could be interrupted"
        if path.exists():
            offset = int(json.loads(path.read_text(encoding="utf-8"))["next_offset"])
            if offset >= 100:
                return offset
        time.sleep(0.02)
    raise AssertionError("no page was checkpointed in time")


def test_killed_halfway_the_resumed_audit_repeats_only_the_page_in_flight(
    tmp_path: Path,
) -> None:
    world = tmp_path / "world.yaml"
    world.write_text(yaml.safe_dump(POP.world_data(key=KEY, per_second=200, latency_ms=20)))
    log = tmp_path / "standin.log"
    with log.open("w", encoding="utf-8") as log_file:
        standin = subprocess.Popen(
            [sys.executable, "-m", "alma_p2p.standin.cli", "--world", str(world), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            preexec_fn=ctrl_c_reaches_it,  # noqa: PLW1509 - only resets one signal
        )
        try:
            assert standin.stdout is not None
            first = standin.stdout.readline()
            base_url = re.search(r"(http://127\.0\.0\.1:\d+/almaws/v1)", first)
            assert base_url, first
            out = tmp_path / "mine"
            audit = _audit(tmp_path, base_url.group(1), out, rate=SLOW)
            kept = _wait_for_a_page(out, audit)
            audit.send_signal(signal.SIGKILL)
            audit.communicate(timeout=DEADLINE)
            killed_at = json.loads((out / "checkpoint.json").read_text())["next_offset"]
            assert killed_at >= kept
            assert killed_at < POP.size, "the audit finished before it was killed"
            again = _audit(tmp_path, base_url.group(1), out)
            _, err = again.communicate(timeout=DEADLINE)
            assert again.returncode == 1, err
            time.sleep(0.5)  # the stand-in prints its log every 0.2 s
        finally:
            standin.send_signal(signal.SIGINT)
            standin.communicate(timeout=DEADLINE)
    assert findings(out) == POP.planted()
    calls = re.findall(r"GET (/almaws/v1/users\S*) → (\d+)", log.read_text(encoding="utf-8"))
    assert all(status == "200" for _, status in calls)
    reads = Counter(path.rsplit("/", 1)[1] for path, _ in calls if path.count("/") == 4)
    lists = sum(1 for path, _ in calls if path.endswith("/users"))
    active = [p.primary_id for p in POP.patrons() if p.status == "ACTIVE"]
    assert set(reads) == set(active)  # every active patron read, nobody else
    in_flight = {p.primary_id for p in list(POP.patrons())[killed_at : killed_at + 100]}
    repeated = {pid for pid, n in reads.items() if n > 1}
    assert repeated <= in_flight
    assert max(reads.values()) <= 2
    # 2 pages; at most the page in flight and the next one's list call are asked again.
    assert 2 <= lists <= 4


def test_ctrl_c_stops_cleanly_and_the_audit_continues(tmp_path: Path) -> None:
    world = World.model_validate(POP.world_data(key=KEY, per_second=200, latency_ms=20))
    with serve(world) as standin:
        out = tmp_path / "mine"
        audit = _audit(tmp_path, standin.base_url, out, rate=SLOW)
        _wait_for_a_page(out, audit)
        audit.send_signal(signal.SIGINT)
        _, err = audit.communicate(timeout=DEADLINE)
        assert audit.returncode == 130, err
        assert "interrupted" in err
        assert "run the same command again" in err
        assert "Traceback" not in err
        cp = json.loads((out / "checkpoint.json").read_text(encoding="utf-8"))
        assert not cp["complete"]
        again = _audit(tmp_path, standin.base_url, out)
        _, err = again.communicate(timeout=DEADLINE)
        assert again.returncode == 1, err
    assert findings(out) == POP.planted()
