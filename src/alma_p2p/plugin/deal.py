"""Which worker of ``pytest -n N`` runs which institution (``alma_p2p.plugin.workers``)."""

from __future__ import annotations

from typing import Any

import pytest

from alma_p2p.plugin.run import run_of


def owner(institution: str, institutions: list[str], workers: int) -> int:
    """The index of the worker that runs ``institution`` (round-robin in name order)."""
    return sorted(institutions).index(institution) % workers


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def owns(config: pytest.Config, institution: str) -> bool:
    """Whether this process runs ``institution``'s scenarios (always, without workers).

    A worker takes its deal from the controller's scheduler (``workers``), which live and
    record runs always use; replay, which may use another ``--dist``, preflights nothing."""
    if not is_worker(config):
        return True
    profiles = run_of(config).profiles or {}
    if institution not in profiles:
        return True
    info: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
    index = int(str(info["workerid"]).removeprefix("gw"))
    return owner(institution, list(profiles), int(info["workercount"])) == index
