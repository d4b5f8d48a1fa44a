"""The package as users install it: a wheel built from the checkout, installed (not editable) into a
fresh virtual environment, answers a question from a corpus. An editable install hides a wheel that
lacks a subpackage (retrieval/ingest/formats was missing from it once)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.heavy


def _tracked(dest: Path) -> None:
    """The checkout's tracked files only (no .venv, no build leftovers)."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def test_wheel_installs_into_a_fresh_venv_and_answers(tmp_path):
    src = tmp_path / "src"
    _tracked(src)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(src)], check=True, capture_output=True)
    (wheel,) = dist.glob("citebot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {str(Path(n).parent) for n in names if n.endswith("/__init__.py")}
    expected = {str(p.parent.relative_to(src)) for p in [*(src / "retrieval").rglob("__init__.py"),
                                                          *(src / "bot").rglob("__init__.py")]}
    assert expected <= packages, expected - packages

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True)
    # the dependencies come from this environment's site-packages, added as a plain path: its own .pth
    # files (the editable install's finder among them) are not processed there
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "seeds", corpus)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_") and k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", HOME=str(tmp_path))
    out = subprocess.run([str(venv / "bin" / "citebot"), "ask", "--json", "--corpus", str(corpus),
                          "--index-dir", str(tmp_path / "index"), "What bounty has the US put on Maduro?"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout.splitlines()[-1])
    assert answer["answered"] and "$50 million" in answer["results"][0]["text"]
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import retrieval.ingest.formats.html as m; print(m.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(venv)), where  # the installed copy, not the checkout
