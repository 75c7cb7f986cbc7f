"""``alma-p2p init [DIR]``: an institution's project, ready to fill in.

The project holds only the institution's own files: its profile (with the JSON Schema wired
for editors), its attestations, an example ``.env``, a CI workflow, a README and the pytest
configuration that runs the standard features and steps shipped in the package. Upgrading
the harness is ``pip install -U alma-p2p-harness``: these files stay as they are.

``init`` writes nothing when any of its files exists already (one-screen message, exit 2).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from alma_p2p import __version__
from alma_p2p.files import write_atomic
from alma_p2p.profile import schema_text

DEFAULT_INSTITUTION = "my-institution"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

PYTEST_INI = """\
[pytest]
# The Alma peer-to-peer harness runs its standard features and steps (shipped in the
# package) on every profile under fixtures/institutions, plus your own feature files in
# features/. Your own tags need no declaration here.
alma_standard_features = true
alma_features = features
addopts = -ra -p no:faker -p no:anyio
"""

PROFILE = """\
# yaml-language-server: $schema=../profile.schema.json
# Your institution as the harness expects to find it in your Alma sandbox. Replace every
# CHANGE-ME; your editor checks the file against ../profile.schema.json. The README of the
# harness describes every section (borrowing, lending, analytics are optional).
institution:
  code: CHANGE-ME_INST          # Alma institution code, e.g. 01ABC_INST
  name: CHANGE-ME Library
  region: na                    # na, eu, ap, aps, ca, cn

resource_sharing_libraries:
  - code: CHANGE-ME_RS
    name: CHANGE-ME Resource Sharing Library
    borrowing_location: CHANGE-ME_BORR
    lending_location: CHANGE-ME_LEND

partners: []                    # your peer-to-peer partners: code, name, workflows

test_patrons: []                # sandbox test patrons: primary_id, label
"""

ATTESTATIONS = """\
# Manual checks a person has done in the sandbox (items Alma's API cannot read).
# item: an item id of the guide (`alma-p2p facts` and the readiness report name them);
# the newest entry per item counts. Example:
#   - item: workflow_profiles
#     checked_by: Your Name
#     checked_on: 2026-01-31
#     note: Peer to Peer Borrowing and Lending profiles match the guide's lists.
attestations: []
"""

ENV_EXAMPLE = """\
# Copy to .env and fill in. Precedence: command-line option > environment > .env > default.
# .env is git-ignored; never commit a key.

# replay (cassettes, no network) | live (call Alma) | record (call Alma and write cassettes)
ALMA_MODE=replay

# Which institution profiles under fixtures/institutions to run (comma-separated; empty = all)
ALMA_INSTITUTIONS=

# Alma API gateway; leave empty to use the profile's region (na, eu, ap, aps, ca, cn)
ALMA_BASE_URL=

# The sandbox API key (Developer Network > Manage API Keys). Per institution:
# ALMA_API_KEY_<PROFILE NAME IN CAPITALS, - as _>.
ALMA_API_KEY=

# Calls per second (Alma's per-second threshold; about 10 is safe on a sandbox)
ALMA_RATE=10
"""

REQUIREMENTS = """\
# Where your project gets the harness: this version from your package index, or a wheel
# path, or a git URL. Upgrading: change the version here (pip install -U alma-p2p-harness
# locally); your profiles, attestations, cassettes and features stay as they are.
alma-p2p-harness=={version}
"""

GITIGNORE = """\
.env
reports/
.alma-p2p/
.venv/
__pycache__/
.pytest_cache/
"""

WORKFLOW = """\
# Replays the cassettes on every push and pull request (no network, no key); a person
# re-records them with `pytest --alma-mode=record` against the sandbox.
name: alma-acceptance
on:
  push:
  pull_request:
  workflow_dispatch:
permissions:
  contents: read
jobs:
  replay:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: python -m pip install -r requirements.txt
      - run: python -m pytest --alma-mode=replay --junitxml=reports/junit.xml
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: readiness-report
          path: reports/
"""

FEATURES_README = """\
Your own feature files (`*.feature`) go here. They run beside the harness's standard features,
with its steps; your own tags need no declaration. `pytest features/<file>.feature` runs one.
"""

README = """\
# Alma peer-to-peer acceptance: {title}

Made by `alma-p2p init` (alma-p2p-harness {version}). The standard features and steps come
from the installed package; this folder holds only your own files:

```
pytest.ini                                   runs the standard features + your own (features/)
fixtures/institutions/<name>/profile.yaml    your sandbox as the harness expects it: fill it in
fixtures/institutions/<name>/attestations.yaml  manual checks a person has done
fixtures/institutions/profile.schema.json    the profile's schema (your editor checks with it)
.env.example                                 settings; copy to .env (never commit a key)
requirements.txt                             the harness version this project runs (CI installs it)
.github/workflows/alma-acceptance.yml        CI: replays the cassettes
features/                                    your own feature files (optional)
cassettes/                                   recorded Alma answers (made by a record run)
```

1. Fill in `fixtures/institutions/<name>/profile.yaml` ({listed}); one folder per institution.
2. Record against your sandbox: `ALMA_API_KEY=… pytest --alma-mode=record`
3. Replay (CI does this, no network): `pytest`
4. Upgrade the harness: `pip install -U alma-p2p-harness`; these files stay as they are.
"""


class InitError(Exception):
    """The project cannot be made as asked: nothing was written."""


def project_files(names: Sequence[str]) -> dict[str, str]:
    """Path inside the project → text, for the institution folders ``names``."""
    for name in names:
        if not _NAME.fullmatch(name):
            raise InitError(
                f"alma-p2p init: {name!r} cannot name an institution folder: use lower-case "
                "letters, digits, - and _ (e.g. my-university)"
            )
    if len(set(names)) != len(names):
        raise InitError(f"alma-p2p init: an institution is named twice: {', '.join(names)}")
    listed = ", ".join(f"`{n}`" for n in names)
    files = {
        "pytest.ini": PYTEST_INI,
        "README.md": README.format(title=", ".join(names), listed=listed, version=__version__),
        ".env.example": ENV_EXAMPLE,
        ".gitignore": GITIGNORE,
        "requirements.txt": REQUIREMENTS.format(version=__version__),
        ".github/workflows/alma-acceptance.yml": WORKFLOW.format(version=__version__),
        "features/README.md": FEATURES_README,
        "fixtures/institutions/profile.schema.json": schema_text(),
    }
    for name in names:
        files[f"fixtures/institutions/{name}/profile.yaml"] = PROFILE
        files[f"fixtures/institutions/{name}/attestations.yaml"] = ATTESTATIONS
    return files


def init(directory: Path, names: Sequence[str] = (DEFAULT_INSTITUTION,)) -> list[Path]:
    """Write the project into ``directory``; refuse, writing nothing, if any file exists."""
    files = project_files(names)
    if directory.exists() and not directory.is_dir():
        raise InitError(f"{directory} is a file, not a folder: name a folder for the project")
    existing = [p for p in files if (directory / p).exists()]
    if existing:
        shown = "\n".join(f"  {directory / p}" for p in existing)
        raise InitError(
            f"alma-p2p init writes nothing: these files exist already\n{shown}\n"
            "Your files are never overwritten. To upgrade the harness, run "
            "`pip install -U alma-p2p-harness`; to start afresh, init an empty folder."
        )
    written: list[Path] = []
    try:
        for relative, text in files.items():
            path = directory / relative
            write_atomic(path, text)
            written.append(path)
    except OSError:
        for path in written:  # nothing half-made: take back what this run wrote
            path.unlink(missing_ok=True)
        raise
    return written


def main(directory: Path, names: Sequence[str]) -> int:
    names = list(names) or [DEFAULT_INSTITUTION]
    try:
        written = init(directory, names)
    except InitError as exc:
        print(exc, file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"alma-p2p init: cannot write into {directory}: {exc.strerror}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(
        f"Next: fill in {directory / 'fixtures/institutions' / names[0] / 'profile.yaml'}"
        f"{' (and the others)' if len(names) > 1 else ''}, then "
        "record against your sandbox: ALMA_API_KEY=… pytest --alma-mode=record"
    )
    return 0
