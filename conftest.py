"""Acceptance suite wiring: the step modules are plugins so every feature sees every step.

The harness itself (options, fixtures, cassettes) is the ``alma_p2p`` pytest plugin,
registered by the package's entry point.
"""

pytest_plugins = [
    "steps.common",
    "steps.patrons",
    "steps.libraries",
    "steps.locations",
    "steps.jobs",
    "steps.partners",
    "steps.policies",
    "steps.checklist",
    "steps.borrowing",
    "steps.lending",
    "steps.sandbox",
    "steps.lifecycle",
    "steps.staff",
    "steps.round_trip",
]
