"""Re-recording: only the selection is rewritten, and an unchanged Alma gives the same bytes."""

from __future__ import annotations

import shutil

import pytest

from tests.suite_runner import REPO, demo_world, run_live

pytestmark = [pytest.mark.standin, pytest.mark.socket]


def test_recording_twice_is_byte_identical_and_selection_touches_nothing_else(tmp_path):
    cassettes = tmp_path / "cassettes"
    shutil.copytree(REPO / "cassettes" / "demo-college", cassettes / "demo-college")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in cassettes.rglob("*.yaml")}

    run = run_live(
        demo_world(),
        tmp_path,
        "--institution",
        "demo-college",
        "-k",
        "temporary_item",
        f"--cassettes-dir={cassettes}",
        mode="record",
        over="http",  # the cassettes were recorded over HTTP, and are compared byte for byte
    )
    assert run.returncode == 0, run.output[-2000:]
    selected = [p for p in before if "temporary_items" in str(p)]
    assert selected
    for path, (content, mtime) in before.items():
        if path.name == "_recording.yaml":
            continue
        assert path.read_bytes() == content, path  # same Alma, same bytes
        if path in selected:
            assert path.stat().st_mtime_ns != mtime, f"{path} was not re-recorded"
        else:
            assert path.stat().st_mtime_ns == mtime, f"{path} was rewritten"
