"""Fixtures for the harness's own tests."""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.suite_runner import _virtual_time

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent

# In-process runs (pytester's and tests/suite_runner's) drop the modules a run imported when
# it ends. The installed pytest plugins are imported once, here, so that each run finds them
# loaded instead of importing and assertion-rewriting them again (faker's alone is a hundred
# modules). Importing registers nothing: `-p no:faker` still holds.
for _plugin in importlib.metadata.entry_points(group="pytest11"):
    importlib.import_module(_plugin.module)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def on_virtual_time() -> Iterator[None]:
    """Calibration waits on the harness's clock (the per-second burst paces its calls, the
    write probes poll): on virtual time nothing waits in real time."""
    with _virtual_time():
        yield
