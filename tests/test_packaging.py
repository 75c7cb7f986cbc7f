"""Institutions install the harness, they do not fork it: the wheel, then an empty folder.

The proof builds the wheel from this checkout, installs it into a fresh venv (its
dependencies come from this venv through a .pth file: nothing is downloaded), makes a
project with ``alma-p2p init`` in an empty folder, records against the stand-in on
127.0.0.1 and replays, all with the installed package's own steps, features and demo world.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from alma_p2p import __version__

REPO = Path(__file__).resolve().parent.parent
# Every step of the proof is bounded; together they take about 15 s on a 2-core machine.
STEP_TIMEOUT = 120


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALMA_", "PYTEST_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {**env, **extra}


def _run(command: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        command,
        cwd=cwd,
        env=_env(**extra),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
    return proc


def build_wheel(tmp_path: Path) -> Path:
    """``pip wheel`` of a clean copy of the sources, without build isolation (offline)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(wheels),
         str(source)],
        cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = wheels.glob("alma_p2p_harness-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A venv holding only the wheel; this venv's site-packages lends the dependencies."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=tmp_path,
        ).stdout.strip()
    )
    # After the venv's own site-packages: the wheel's alma_p2p is found first.
    (site / "zz-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--disable-pip-version-check", "--no-deps", "--no-index", str(wheel)],
        cwd=tmp_path,
    )  # fmt: skip
    return venv


@pytest.mark.subprocess
@pytest.mark.socket
def test_the_wheel_in_an_empty_folder_inits_records_and_replays_offline(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "alma_p2p/suite/features/borrowing/request_routing.feature" in names
    venv = fresh_venv(tmp_path, wheel)
    bin_ = venv / "bin"
    project = tmp_path / "project"
    project.mkdir()

    version = _run([str(bin_ / "alma-p2p"), "--version"], cwd=project).stdout
    assert version.strip() == f"alma-p2p {__version__}"
    where = _run(
        [str(bin_ / "python"), "-c",
         "import alma_p2p.suite, alma_p2p.standin.worlds as w; "
         "print(alma_p2p.suite.FEATURES); print(w.DEMO_WORLD)"],
        cwd=project,
    ).stdout.split()  # fmt: skip
    features, world = (Path(p) for p in where)
    assert features.is_relative_to(venv), "the standard features come from the wheel"
    assert world.is_file()
    assert world.is_relative_to(venv)

    _run([str(bin_ / "alma-p2p"), "init", "--institution", "demo-college"], cwd=project)
    profile = project / "fixtures" / "institutions" / "demo-college" / "profile.yaml"
    # The librarian fills in the profile: here, the demo college's, which the world fits.
    profile.write_text((REPO / "fixtures/institutions/demo-college/profile.yaml").read_text())

    with subprocess.Popen(
        [str(bin_ / "alma-standin"), "--port", "0"],  # the packaged demo world
        cwd=project, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as standin:  # fmt: skip
        try:
            assert standin.stdout is not None
            base_url = standin.stdout.readline().split(" at ", 1)[1].split(" ", 1)[0]
            assert base_url.startswith("http://127.0.0.1:")
            recorded = _run(
                [str(bin_ / "python"), "-m", "pytest", "--alma-mode=record", "-q",
                 "-p", "no:cacheprovider"],
                cwd=project, ALMA_BASE_URL=base_url, ALMA_API_KEY="demo-college-key",
            ).stdout  # fmt: skip
        finally:
            standin.terminate()
            standin.wait(timeout=10)
    cassettes = sorted((project / "cassettes" / "demo-college").rglob("*.yaml"))
    assert project / "cassettes/demo-college/borrowing/request_routing" in {
        c.parent for c in cassettes
    }
    # Replay: no stand-in, no key, sockets refused; the same verdicts as the recording.
    replayed = _run(
        [str(bin_ / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project
    ).stdout
    summary = replayed.strip().splitlines()[-1]
    assert "passed" in summary, replayed
    assert "failed" not in summary, replayed
    assert summary.split(" in ")[0] == recorded.strip().splitlines()[-1].split(" in ")[0]
    assert "src/" not in replayed  # nothing of this checkout was used
    assert int(summary.split(" passed")[0].split()[-1]) >= 10
