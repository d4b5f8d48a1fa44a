"""The sources a knowledge base's admins added from Discord: ``index_dir/sources.json``, whose one
owner is this module (config-file sources are the operator's and live in the config)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

ADDED = "sources.json"
_lock = threading.Lock()  # one writer of sources.json per process


def added(index_dir: Path) -> list[dict]:
    """The sources added from Discord: ``[{"source", "kind", "by", "when"}]``."""
    try:
        data = json.loads((Path(index_dir) / ADDED).read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return [d for d in data.get("sources", []) if isinstance(d, dict) and isinstance(d.get("source"), str)] \
        if isinstance(data, dict) else []


def add(index_dir: Path, source: str, kind: str, by: str = "") -> bool:
    """Add a source (False when it is there already)."""
    with _lock:
        have = added(index_dir)
        if any(d["source"] == source for d in have):
            return False
        have.append({"source": source, "kind": kind, "by": by, "when": time.time()})
        _write(index_dir, have)
        return True


def remove(index_dir: Path, source: str) -> bool:
    with _lock:
        have = added(index_dir)
        left = [d for d in have if d["source"] != source]
        if len(left) == len(have):
            return False
        _write(index_dir, left)
        return True


def _write(index_dir: Path, items: list[dict]) -> None:
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(index_dir) / f".{ADDED}.part"
    tmp.write_text(json.dumps({"sources": items}, indent=1), "utf-8")
    os.replace(tmp, Path(index_dir) / ADDED)
