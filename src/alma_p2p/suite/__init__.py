"""The standard acceptance suite shipped in the package: features and their step definitions.

``features/<domain>/<capability>.feature`` is the Gherkin; ``steps/`` holds one module per
domain noun. A project (this repository, or an institution's folder made by ``alma-p2p init``)
runs them with pytest; cassette names derive from a feature's path inside ``FEATURES``.
"""

from __future__ import annotations

from pathlib import Path

FEATURES = Path(__file__).resolve().parent / "features"

STEPS = Path(__file__).resolve().parent / "steps"


def step_modules() -> list[str]:
    """Every module of ``steps/`` (``common`` first): each is registered as a pytest plugin,
    so every feature sees every step. A new module is found without being listed."""
    names = sorted(p.stem for p in STEPS.glob("*.py") if p.stem != "__init__")
    names.sort(key=lambda name: name != "common")
    return [f"alma_p2p.suite.steps.{name}" for name in names]
