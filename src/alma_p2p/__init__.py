"""Acceptance suite and contract harness for Ex Libris Alma peer-to-peer resource sharing."""

__version__ = "0.1.0"
