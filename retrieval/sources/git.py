"""A git repository fetched into the index folder with the git command: cloned shallow once
(``--depth 1 --branch B``), then ``git fetch --depth 1`` and a hard reset to what was fetched. The
build reads only the subdirectory; files whose bytes did not change are unchanged documents (nothing
re-embedded)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from retrieval.sources.crawl import Fetched, SourceError
from retrieval.sources.spec import Spec
from retrieval.sources.urls import Refused, check_public

# no prompt for a password (a missing repository on a forge asks for one), no system or user config
# (a helper or hook there must not run for a fetch the bot started)
_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true",
        "GCM_INTERACTIVE": "never"}


# a repository added from Discord: http(s) only, and no redirect git would follow unchecked
_GUARDED = ["-c", "protocol.allow=never", "-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always",
            "-c", "http.followRedirects=false"]


def _git(args: list[str], cwd: Path | None, timeout: float, guard: bool = False) -> str:
    env = {**os.environ, **_ENV, "HOME": os.environ.get("HOME", "/nonexistent")}
    try:
        done = subprocess.run(["git", *(_GUARDED if guard else []), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SourceError("the git command is not installed") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than {timeout:g} s (git_timeout)") from None
    if done.returncode != 0:
        raise SourceError(_reason(done.stderr))
    return done.stdout.strip()


def _reason(stderr: str) -> str:
    """git's error in one line: the ``fatal:`` line, which names the repository or branch."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.lower().startswith(("fatal:", "error:"))]
    text = (fatal or lines or ["git failed"])[-1]
    if "Remote branch" in text and "not found" in text:
        return text.removeprefix("fatal: ").replace("Remote branch", "branch")
    return text.removeprefix("fatal: ")


def fetch(spec: Spec, folder: Path, timeout: float = 300.0, guard: bool = False) -> tuple[Path, str, Fetched]:
    """Clone or update ``spec`` in ``folder/repo``.

    Returns:
        the folder the build reads (the subdirectory), the branch checked out, and what was done.

    Args:
        guard: a repository added from Discord: its host must resolve to public addresses only (checked
            before each clone or fetch), over http(s), and git follows no redirect.

    Raises:
        SourceError: the repository or branch does not exist, git failed, or the subdirectory is
            missing — and there is no earlier copy to keep serving (with one, it is kept and said).
    """
    t0 = time.perf_counter()
    repo = folder / "repo"
    out = Fetched()
    try:
        if guard:
            try:
                check_public(spec.url)
            except Refused as e:
                raise SourceError(f"refused: {e}") from None
        if (repo / ".git").is_dir():
            before = _git(["rev-parse", "HEAD"], repo, timeout)
            ref = spec.branch or "HEAD"
            _git(["fetch", "--depth", "1", "--no-tags", "origin", ref], repo, timeout, guard)
            _git(["reset", "--hard", "--quiet", "FETCH_HEAD"], repo, timeout)
            after = _git(["rev-parse", "HEAD"], repo, timeout)
            out.notes.append("unchanged" if before == after else f"updated {before[:10]} → {after[:10]}")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / "repo.part"
            shutil.rmtree(tmp, ignore_errors=True)
            args = ["clone", "--depth", "1", "--single-branch", "--no-tags", "--quiet"]
            args += ["--branch", spec.branch] if spec.branch else []
            _git([*args, "--", spec.url, str(tmp)], None, timeout, guard)
            os.replace(tmp, repo)
            out.notes.append(f"cloned at {_git(['rev-parse', 'HEAD'], repo, timeout)[:10]}")
    except SourceError as e:
        if not (repo / ".git").is_dir():
            raise
        out.kept.append((spec.text, str(e)))
        out.notes.append(f"fetch failed ({e}); the last good copy is kept")
    branch = spec.branch or _git(["rev-parse", "--abbrev-ref", "HEAD"], repo, timeout)
    root = repo / spec.subdirectory if spec.subdirectory else repo
    if not root.is_dir() or not root.resolve().is_relative_to(repo.resolve()):
        raise SourceError(f"the repository has no folder {spec.subdirectory!r}")
    out.seconds = time.perf_counter() - t0
    return root, branch, out
