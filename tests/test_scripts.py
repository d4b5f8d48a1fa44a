"""scripts/setup.sh and scripts/demo.sh in a scratch copy of the checkout, with stand-ins for the
venv's pip and citebot that only record their calls (nothing is installed or downloaded)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkout(tmp_path) -> Path:
    co = tmp_path / "checkout"
    (co / "scripts").mkdir(parents=True)
    for f in ("scripts/setup.sh", "scripts/demo.sh", "scripts/test.sh", "pyproject.toml"):
        shutil.copy2(ROOT / f, co / f)
    b = co / ".venv" / "bin"
    b.mkdir(parents=True)
    log = co / "calls.log"
    (b / "python").write_text(f'#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done >> {log}\necho >> {log}\n')
    # pip "installs" the console script; citebot records how it was started
    (b / "pip").write_text(f'#!/bin/sh\necho "pip $*" >> {log}\nprintf \'#!/bin/sh\\necho "citebot $*" >> {log}\\n\''
                           f' > {b / "citebot"}\nchmod +x {b / "citebot"}\n')
    for f in b.iterdir():
        f.chmod(0o755)
    return co


def calls(co: Path) -> list[str]:
    log = co / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def sh(co: Path, script: str, **env) -> None:
    e = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    subprocess.run([str(co / "scripts" / script)], cwd=co, env={**e, **env}, check=True, timeout=60)


def test_setup_runs_pip_only_when_the_installed_state_is_out_of_date(checkout):
    sh(checkout, "setup.sh")
    assert [c.split()[0] for c in calls(checkout)] == ["pip", "pip"]  # torch first, then citebot
    sh(checkout, "setup.sh")
    assert len(calls(checkout)) == 2, "nothing changed: no pip run"
    with open(checkout / "pyproject.toml", "a") as fh:
        fh.write("\n# a dependency changed\n")
    sh(checkout, "setup.sh")
    assert len(calls(checkout)) == 4


def test_demo_starts_citebot_once(checkout):
    """One process (one model load) indexes and chats; setup does not run pip again."""
    sh(checkout, "setup.sh")
    before = len(calls(checkout))
    sh(checkout, "demo.sh")
    assert calls(checkout)[before:] == ["citebot chat --update --corpus seeds"]
    sh(checkout, "demo.sh", DISCORD_TOKEN="x")
    assert calls(checkout)[before + 1:] == ["citebot run --corpus seeds"]


def test_full_suite_and_quick_tier(checkout):
    """``test.sh`` runs pytest on everything; ``--quick`` leaves out the heavy tests; other arguments
    reach pytest unchanged."""
    sh(checkout, "setup.sh")
    before = len(calls(checkout))
    sh(checkout, "test.sh")
    subprocess.run([str(checkout / "scripts" / "test.sh"), "--quick", "-k", "cli and not chat"], cwd=checkout,
                   check=True, timeout=60)
    assert calls(checkout)[before:] == ["[-m][pytest][-q]", "[-m][pytest][-q][-m][not heavy][-k][cli and not chat]"]
