"""Reading YAML files: libyaml's C parser when PyYAML has it, and readable error places."""

from __future__ import annotations

from typing import Any

import yaml

# Same safe constructor and resolver as yaml.SafeLoader; only the parser is C (several times
# faster on cassettes and profiles).
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """The document in ``text``, built only from plain YAML types."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader


def problem(exc: yaml.YAMLError) -> str:
    """``line L, column C: what is wrong`` for a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None)
    said = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {said}"
    return str(said)
