"""The README's patron-audit commands, run as written (the live one against the demo world
served on a free port instead of make standin's 8765)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from alma_p2p.cli import main
from alma_p2p.standin import load_world, serve
from alma_p2p.standin.worlds import DEMO_WORLD
from tests.audit_helpers import findings

REPO = Path(__file__).resolve().parent.parent
HEADING = "## Auditing every patron's RS library"
STANDIN_URL = "http://127.0.0.1:8765/almaws/v1"


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(HEADING) :]
    section = section[: section.index("\n## ", 1)]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the section has no sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _run(line: str, base_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    words = shlex.split(line.replace(STANDIN_URL, base_url))
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        monkeypatch.setenv(name, value)
    assert words[0] == ".venv/bin/alma-p2p", line
    return main(words[1:])


@pytest.mark.socket
def test_the_readme_audit_commands_run_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ALMA_BASE_URL", "ALMA_API_KEY", "ALMA_PROFILES_DIR", "ALMA_RATE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "fixtures").symlink_to(REPO / "fixtures")
    monkeypatch.chdir(tmp_path)
    from_file, live, mine = readme_commands()
    with serve(load_world(DEMO_WORLD)) as standin:
        assert _run(from_file, standin.base_url, monkeypatch) == 1
        pseudonymous = findings(tmp_path / "reports/patron-audit/demo-university")
        assert _run(live, standin.base_url, monkeypatch) == 0  # the demo patrons are in order
        assert _run(mine, standin.base_url, monkeypatch) == 1
    assert sorted(pseudonymous.values()) == ["missing", "multiple", "not_rs", "unmapped", "wrong"]
    assert all(p.startswith("Primary-") for p in pseudonymous)
    assert findings(tmp_path / "my-audit") == {
        "DEMO-0003": "missing",
        "DEMO-0004": "wrong",
        "DEMO-0005": "multiple",
        "DEMO-0006": "not_rs",
        "DEMO-0007": "unmapped",
    }
