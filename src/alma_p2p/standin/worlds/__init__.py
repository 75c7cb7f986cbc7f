"""Stand-in worlds shipped with the package: ``DEMO_WORLD`` fits the demo consortium."""

from __future__ import annotations

from pathlib import Path

DEMO_WORLD = Path(__file__).resolve().parent / "demo-world.yaml"
