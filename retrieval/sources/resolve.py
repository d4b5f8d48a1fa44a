"""Sources → local folders the readers read, with each file's link.

A knowledge base's sources are its ``corpus`` setting (the operator's: any address) and the ones its
admins added from Discord (:mod:`retrieval.sources.added`; fetched with the address guard). Fetched copies live in ``index_dir/sources/<slug>/``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from retrieval.sources import crawl as crawl_mod
from retrieval.sources import git as git_mod
from retrieval.sources.crawl import Fetched, SourceError
from retrieval.sources.options import Options
from retrieval.sources.added import added
from retrieval.sources.spec import Spec, specs

log = logging.getLogger("citebot")


@dataclass
class Resolved:
    """One source, ready to read.

    Args:
        spec: what it is.
        root: the local folder (or file) the readers read.
        prefix: put before its document ids (``slug/``) when the knowledge base has several sources.
        pages: a fetched site's manifest entries by file path under ``root`` (``url`` is the link).
        branch: the branch a repository was read at.
        base_url: what a folder's files link to (the ``base_url`` setting).
        fetched: what the fetch did (None for a local folder).
    """

    spec: Spec
    root: Path
    prefix: str = ""
    pages: dict[str, dict] = field(default_factory=dict)
    branch: str | None = None
    base_url: str = ""
    fetched: Fetched | None = None

    def url(self, rel: str) -> str | None:
        """The web address of the file ``rel`` (path under :attr:`root`), or None."""
        if self.spec.kind in ("site", "sitemap"):
            return (self.pages.get(rel) or {}).get("url")
        if self.spec.kind == "git":
            path = f"{self.spec.subdirectory}/{rel}" if self.spec.subdirectory else rel
            return self.spec.forge_link(self.branch or "HEAD", quote(path))
        if self.base_url:
            return self.base_url.rstrip("/") + "/" + quote(rel)
        return None

    def source(self, rel: str) -> str:
        """What a citation shows as the file: its URL, or its path in the repository."""
        if self.spec.kind == "git":
            return f"{self.spec.subdirectory}/{rel}" if self.spec.subdirectory else rel
        return self.url(rel) or rel

    def line(self) -> str | None:
        """The build summary's line for a fetched source."""
        f = self.fetched
        if f is None:
            return None
        if self.spec.kind == "git":
            head = f"repository {self.spec.text}: {'; '.join(f.notes)} ({f.seconds:.1f} s)"
            return head
        parts = [f"{len(self.pages)} pages", f"{f.requests} requests", f"{f.not_modified} unchanged (304)",
                 f"{f.downloaded} downloaded", f"{f.bytes / 1e6:.1f} MB"]
        if f.dropped:
            parts.append(f"{len(f.dropped)} gone")
        line = f"site {self.spec.text}: {', '.join(parts)} in {f.seconds:.1f} s"
        extra = [*f.notes]
        if f.kept:
            extra.append(f"{len(f.kept)} failed, last good copy kept: " +
                         "; ".join(f"{u} ({why})" for u, why in f.kept[:5]) + (" …" if len(f.kept) > 5 else ""))
        if f.failed:
            extra.append(f"{len(f.failed)} failed: " + "; ".join(f"{u} ({why})" for u, why in f.failed[:5]) +
                         (" …" if len(f.failed) > 5 else ""))
        return line + "".join(f"\n  {e}" for e in extra)


def folder_of(index_dir: Path, spec: Spec) -> Path:
    return Path(index_dir) / "sources" / spec.slug


def resolve(corpus, index_dir: Path, options: Options, *, base_url: str = "",
            progress=None) -> list[Resolved]:
    """Every source of a knowledge base fetched (or refreshed) and ready to read.

    Raises:
        SourceError: a source gave nothing (unreachable, no such repository…) and had no earlier copy;
            one line naming it. The build stops there and the previous index stays live.
    """
    extra = [a["source"] for a in added(index_dir)]
    guarded = set(extra)
    all_specs = specs(corpus, extra)
    out: list[Resolved] = []
    for spec in all_specs:
        prefix = f"{spec.slug}/" if len(all_specs) > 1 else ""
        if spec.kind == "folder":
            out.append(Resolved(spec, spec.path, prefix, base_url=base_url))
            continue
        folder = folder_of(index_dir, spec)
        opts = Options(**{**options.__dict__, "guard": options.guard or spec.text in guarded})
        try:
            if spec.kind == "git":
                root, branch, fetched = git_mod.fetch(spec, folder, opts.git_timeout, opts.guard)
                r = Resolved(spec, root, prefix, branch=branch, fetched=fetched)
            else:
                fetched = crawl_mod.crawl(spec, folder, opts, progress)
                r = Resolved(spec, folder / "files", prefix, pages=fetched.pages, fetched=fetched)
        except SourceError as e:
            _status(folder, f"failed: {e}")
            raise SourceError(f"cannot fetch {spec.text}: {e}") from None
        _status(folder, r.line() or "ok")
        out.append(r)
    return out


def _status(folder: Path, line: str) -> None:
    """The last fetch of a source, for ``/corpus sources``."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "status.json.part"
    tmp.write_text(json.dumps({"when": time.time(), "result": line.split("\n", 1)[0]}), "utf-8")
    os.replace(tmp, folder / "status.json")


def last_fetch(index_dir: Path, spec: Spec) -> dict | None:
    """``{"when": epoch seconds, "result": line}`` of a source's last fetch, or None."""
    try:
        return json.loads((folder_of(index_dir, spec) / "status.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
