"""The standard acceptance suite shipped in the package: features and their step definitions.

``features/<domain>/<capability>.feature`` is the Gherkin; ``steps/`` holds one module per
domain noun. A project (this repository, or an institution's folder made by ``alma-p2p init``)
runs them with pytest; cassette names derive from a feature's path inside ``FEATURES``.
"""

from __future__ import annotations

from pathlib import Path

FEATURES = Path(__file__).resolve().parent / "features"

# Every step module, registered as a pytest plugin so that every feature sees every step.
STEP_MODULES = (
    "alma_p2p.suite.steps.common",
    "alma_p2p.suite.steps.patrons",
    "alma_p2p.suite.steps.libraries",
    "alma_p2p.suite.steps.locations",
    "alma_p2p.suite.steps.jobs",
    "alma_p2p.suite.steps.partners",
    "alma_p2p.suite.steps.policies",
    "alma_p2p.suite.steps.checklist",
    "alma_p2p.suite.steps.borrowing",
    "alma_p2p.suite.steps.lending",
    "alma_p2p.suite.steps.sandbox",
)
