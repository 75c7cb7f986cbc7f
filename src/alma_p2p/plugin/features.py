"""Feature files are test files: the standard suite in the package, and a project's own.

A project says ``alma_standard_features = true`` in its pytest configuration (``alma-p2p init``
writes it). Then:

- ``pytest`` with no path runs the package's standard features and the project's own
  feature files (``alma_features``, default ``features``), with the package's steps;
- a ``.feature`` path on the command line runs that feature; ``features/<domain>/<name>.feature``
  that the project does not have is the standard feature of that path;
- ``-k routing`` matches a feature by its file name or its Feature name;
- a project's own tags are markers without being declared (``--strict-markers`` holds for
  every other marker).

A standard feature's node id is ``features/<domain>/<name>.feature`` wherever the package is
installed. A scenario's cassette path is its feature's path inside the standard features
folder, or inside the project's features folder for its own (``recording.cassette_path``):
a project's own feature should not repeat a standard feature's path.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
from pytest_bdd.exceptions import GherkinParseError

from alma_p2p.suite import FEATURES, step_modules

STANDARD = "alma_standard_features"
OWN = "alma_features"
FEATURE_NAME = re.compile(r"^\s*Feature:\s*(.+?)\s*$", re.MULTILINE)
TAG_LINE = re.compile(r"^\s*(@.*)$", re.MULTILINE)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        STANDARD,
        "run the package's standard Alma features and steps (alma-p2p init sets it)",
        type="bool",
        default=False,
    )
    parser.addini(
        OWN,
        "the project's own feature folders, run beside the standard features",
        type="paths",
        default=[],
    )


def runs_suite(config: pytest.Config) -> bool:
    return bool(config.getini(STANDARD))


def own_feature_dirs(config: pytest.Config) -> list[Path]:
    dirs: list[Path] = list(config.getini(OWN)) or [config.rootpath / "features"]
    return [d.resolve() for d in dirs]


def pytest_configure(config: pytest.Config) -> None:
    if not runs_suite(config):
        return
    from alma_p2p.plugin.run import profiles_of  # run → scenario → this module

    # A project without profiles stops here on one line, not once per feature file.
    if not config.getoption("help", False):
        profiles_of(config)
    for module in step_modules():
        config.pluginmanager.import_plugin(module)
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # No path given: the standard features, then the project's own.
        wanted = [str(FEATURES)] + [str(d) for d in own_feature_dirs(config) if d.is_dir()]
        config.args[:] = wanted
        config.args_source = pytest.Config.ArgsSource.ARGS
    else:
        config.args[:] = [standard_path(config, arg) for arg in config.args]


def standard_path(config: pytest.Config, arg: str) -> str:
    """``features/<domain>/<name>.feature`` that the project does not have names the
    standard feature of that path (with any ``::`` part kept)."""
    path, sep, rest = arg.partition("::")
    if not path.endswith(".feature") or (config.invocation_params.dir / path).exists():
        return arg
    standard = FEATURES / Path(path).as_posix().removeprefix("features/")
    return f"{standard}{sep}{rest}" if standard.is_file() else arg


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix != ".feature" or not runs_suite(parent.config):
        return None
    # A standard feature has the same node id wherever the package is installed, and the
    # path that runs it: features/<domain>/<name>.feature.
    resolved = file_path.resolve()
    nodeid = (
        f"features/{resolved.relative_to(FEATURES).as_posix()}"
        if resolved.is_relative_to(FEATURES)
        else None
    )
    feature: FeatureFile = FeatureFile.from_parent(parent, path=file_path, nodeid=nodeid)
    return feature


def feature_base(config: pytest.Config, path: Path) -> Path:
    """The folder a feature's cassette path is taken from."""
    path = path.resolve()
    for base in [FEATURES, *own_feature_dirs(config)]:
        if path.is_relative_to(base):
            return base
    return config.rootpath


class FeatureFile(pytest.Module):
    """A ``.feature`` file collected as a module of its scenarios, one test per scenario."""

    def _getobj(self) -> types.ModuleType:
        text = self.path.read_text(encoding="utf-8")
        self._allow_tags(text)
        name = FEATURE_NAME.search(text)
        if name:
            self.extra_keyword_matches.add(name.group(1))
        module = types.ModuleType(f"alma_feature_{self.path.stem}")
        module.__file__ = str(self.path)
        namespace = module.__dict__
        # Asking for the institution makes the harness parametrise every scenario per profile.
        namespace["pytestmark"] = pytest.mark.usefixtures("alma_institution")
        namespace["_feature"] = str(self.path)
        namespace["_base"] = str(self.path.parent)
        code = "from pytest_bdd import scenarios\nscenarios(_feature, features_base_dir=_base)\n"
        try:
            exec(compile(code, str(self.path), "exec"), namespace)  # noqa: S102 - fixed code
        except GherkinParseError as exc:
            line = f"line {exc.line}: {exc.line_content.strip()!r}" if exc.line else ""
            raise self.CollectError(
                f"{self.path}: not a feature file pytest-bdd can read: {exc.message}\n"
                f"  {line}\n  Fix the Gherkin there (Feature:, Scenario:, Given/When/Then)."
            ) from None
        return module

    def _allow_tags(self, text: str) -> None:
        """A project's own tags need no declaration; ours are declared by the plugin."""
        known = {line.split(":", 1)[0].strip() for line in self.config.getini("markers")}
        tags = {t[1:] for line in TAG_LINE.findall(text) for t in line.split() if t[:1] == "@"}
        for tag in sorted(tags - known):
            self.config.addinivalue_line("markers", f"{tag}: a tag of {self.path.name}")
