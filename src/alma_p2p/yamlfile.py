"""Reading YAML files: libyaml's C parser when PyYAML has it, and readable error places.

Every YAML file the harness reads (profiles, attestations, stand-in worlds, cassettes, the
facts register) goes through here, so each damage is refused the same way, naming the file,
the place in it and the fix:

- bytes that are not UTF-8 (the byte offset; "save it as UTF-8");
- a key given twice in one mapping (both lines; YAML would silently keep the last);
- an impossible date such as 2026-02-30 (the key path and line);
- a syntax error (line and column).

The fast path builds no node tree; the tree is composed again only to describe an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"


class YamlFileError(ValueError):
    """A YAML file that cannot be read; the message names the file, the place and the fix."""


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping that gives one key twice."""


class ImpossibleDateError(yaml.MarkedYAMLError):
    """A date with the shape of a date that is not one (2026-02-30)."""


class SafeLoader(_BASE):  # type: ignore[valid-type,misc]
    """yaml.SafeLoader's types and resolver (C parser when available), refusing duplicate
    keys and impossible dates instead of keeping the last key or raising a bare ValueError."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._checked: set[int] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Checked here, before merge keys (<<) are spliced in: a key that overrides a merged
        # one is YAML's intent, a key written twice by hand is not. A node is flattened in
        # place, so it is checked only the first time.
        if id(node) not in self._checked:
            self._checked.add(id(node))
            seen: dict[Any, yaml.Node] = {}
            for key_node, _value in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue
                if first is not key_node:
                    raise DuplicateKeyError(
                        "while reading a mapping",
                        first.start_mark,
                        f"key {key_node.value!r} is given twice (first on line "
                        f"{first.start_mark.line + 1}, again on line "
                        f"{key_node.start_mark.line + 1}); keep one",
                        key_node.start_mark,
                    )
        super().flatten_mapping(node)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise ImpossibleDateError(
                None, None, f"{node.value!r} is not a date ({exc})", node.start_mark
            ) from None


SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", SafeLoader.construct_yaml_timestamp)


def load(text: str) -> Any:
    """The document in ``text``, built only from plain YAML types."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader


def decode(data: bytes, source: Path | str) -> str:
    """``data`` as UTF-8 text, or a YamlFileError naming the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlFileError(
            f"{source}: not UTF-8 text: byte {exc.start} (line {line}) is "
            f"0x{data[exc.start]:02x}; save it as UTF-8"
        ) from None


def read(path: Path) -> tuple[str, Any]:
    """The text of the YAML file at ``path`` and its document; YamlFileError for a damaged
    file (OSError when it cannot be read at all)."""
    text = decode(path.read_bytes(), path)
    return text, parse(text, path)


def parse(text: str, source: Path | str) -> Any:
    """The document in ``text``; YamlFileError naming ``source`` and the place otherwise."""
    try:
        return load(text)
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{source}: {describe(exc, text)}") from None


def describe(exc: yaml.YAMLError, text: str) -> str:
    """What is wrong and where: ``line L (key.path): problem`` and the fix when we know it."""
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, DuplicateKeyError | ImpossibleDateError) and mark is not None:
        where = key_path_at(text, mark.line, mark.column)
        at = f"line {mark.line + 1}" + (f" ({where})" if where else "")
        fix = "" if isinstance(exc, DuplicateKeyError) else "; write a real date as YYYY-MM-DD"
        return f"{at}: {exc.problem}{fix}"
    return "not valid YAML: " + problem(exc)


def problem(exc: yaml.YAMLError) -> str:
    """``line L, column C: what is wrong`` for a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None)
    said = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {said}"
    return str(said)


def key_path_at(text: str, line: int, column: int) -> str:
    """The dotted key path (``attestations[0].checked_on``) of the key or scalar value that
    starts at 0-based ``line`` and ``column``; empty when the text cannot be composed or
    nothing starts there."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return ""
    found = _find(root, (line, column), "")
    return found or ""


def _find(node: yaml.Node | None, at: tuple[int, int], here: str) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = f"{here}.{key.value}" if here else str(key.value)
            if _starts(key, at):
                return path
            inner = _find(value, at, path)
            if inner is not None:
                return inner
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            inner = _find(item, at, f"{here}[{index}]")
            if inner is not None:
                return inner
    elif node is not None and _starts(node, at):
        return here
    return None


def _starts(node: yaml.Node, at: tuple[int, int]) -> bool:
    return (node.start_mark.line, node.start_mark.column) == at
