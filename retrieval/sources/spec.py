"""Source specs: what a ``corpus`` value names — a local folder, a website, a sitemap or a git repository.

``https://host/path/`` crawls from that page (links on the same host under that path);
``https://host/…/sitemap.xml`` reads the pages the sitemap lists; ``git+https://host/org/repo.git@BRANCH
#subdirectory=docs`` (pip's VCS form, ``git+file://`` too) clones the repository; anything else is a path.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from retrieval.config import corpus_parts, is_remote
from retrieval.errors import ConfigError

#: forges whose file pages we can link to: host -> the path between ``org/repo`` and the branch
FORGES = {"github.com": "blob", "gitlab.com": "-/blob", "codeberg.org": "src/branch"}


@dataclass(frozen=True)
class Spec:
    """One source of a knowledge base.

    Args:
        kind: ``folder`` (a local path), ``site`` (crawl from ``url``), ``sitemap`` or ``git``.
        text: the spec as written (how it is named in messages and stored).
        url: the start page or sitemap (``site``/``sitemap``), or the repository URL git is given (``git``).
        path: the local folder or file (``folder``).
        branch: the branch to clone (``git``; None: the repository's default).
        subdirectory: the folder of the repository that is read (``git``; "" = all of it).
    """

    kind: str
    text: str
    url: str = ""
    path: Path | None = None
    branch: str | None = None
    subdirectory: str = ""

    @property
    def slug(self) -> str:
        """A short, file-name-safe, stable name: the folder its fetched copy lives in and the prefix of
        its document ids when a knowledge base has several sources."""
        if self.kind == "folder":
            base = self.path.name if self.path is not None else "folder"
        elif self.kind == "git":
            base = self.url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
            base += f"-{self.subdirectory.strip('/').replace('/', '-')}" if self.subdirectory else ""
        else:
            u = urlsplit(self.url)
            base = u.hostname or "site"
            path = u.path.strip("/").removesuffix("sitemap.xml").strip("/")
            base += f"-{path.replace('/', '-')}" if path else ""
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")[:40] or self.kind
        return f"{base}-{hashlib.sha256(self.text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"

    @property
    def remote(self) -> bool:
        return self.kind != "folder"

    def forge_link(self, branch: str, path: str) -> str | None:
        """The web page of ``path`` (relative to the repository root) on ``branch``, on a known forge."""
        u = urlsplit(self.url)
        if self.kind != "git" or u.scheme not in ("http", "https") or (u.hostname or "") not in FORGES:
            return None
        repo = u.path.strip("/").removesuffix(".git")
        if repo.count("/") < 1:
            return None
        return f"https://{u.hostname}/{repo}/{FORGES[u.hostname]}/{branch}/{path.lstrip('/')}"


def parse(value) -> Spec:
    """The :class:`Spec` of one corpus value (a Path, or a string path or URL).

    Raises:
        ConfigError: a URL citebot cannot fetch (another scheme, no host), in one line.
    """
    if not is_remote(value):
        return Spec("folder", str(value), path=Path(value))
    text = value.strip()
    if text.lower().startswith("git+"):
        return _git(text)
    u = urlsplit(text)
    if not u.hostname:
        raise ConfigError(f"corpus: {text!r} has no host")
    kind = "sitemap" if u.path.lower().endswith((".xml", ".xml.gz")) else "site"
    return Spec(kind, text, url=text)


def _git(text: str) -> Spec:
    rest = text[4:]
    rest, _, fragment = rest.partition("#")
    sub = parse_qs(fragment).get("subdirectory", [""])[0].strip("/")
    if ".." in sub.split("/"):
        raise ConfigError(f"corpus: the subdirectory of {text!r} leaves the repository")
    u = urlsplit(rest)
    path, branch = u.path, None
    if "@" in path.rsplit("/", 1)[-1]:  # pip's "repo.git@BRANCH"; "user@host" sits in the netloc instead
        path, _, branch = path.rpartition("@")
    if u.scheme == "file":
        url = f"file://{path}"
    else:
        if not u.hostname:
            raise ConfigError(f"corpus: {text!r} has no host")
        url = f"{u.scheme}://{u.netloc}{path}"
    if branch is not None and (not branch or branch.startswith("-") or not re.fullmatch(r"[\w./+-]+", branch)):
        raise ConfigError(f"corpus: {branch!r} is not a branch name")
    return Spec("git", text, url=url, branch=branch, subdirectory=sub)


def specs(corpus, extra: list[str] = ()) -> list[Spec]:
    """The specs of a ``corpus`` setting (one value or a list) and of the sources added from Discord
    (``extra``), each once, in order."""
    out: list[Spec] = []
    for value in [*corpus_parts(corpus), *extra]:
        spec = parse(value)
        if all(s.text != spec.text for s in out):
            out.append(spec)
    return out
