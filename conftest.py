"""Acceptance suite wiring: the step modules are plugins so every feature sees every step.

The harness itself (options, fixtures, cassettes) is the ``alma_p2p`` pytest plugin,
registered by the package's entry point; the standard steps and features ship in
``alma_p2p.suite``.
"""

from alma_p2p.suite import STEP_MODULES

pytest_plugins = list(STEP_MODULES)
