"""The questions ``citebot ask`` takes: its arguments (one question, or several quoted ones) and a
``--file`` of lines or JSONL records."""

from __future__ import annotations

import json
from pathlib import Path

from retrieval.errors import CitebotError

def read_questions(path: Path) -> list[str]:
    """One question per line (``\n`` or ``\r\n``), or JSONL objects with a ``q`` or ``text`` field.

    Only a newline ends a question: ``str.splitlines`` would also split at U+2028, U+0085, form
    feeds and the like, turning one question into several.

    Raises:
        CitebotError: a line starting with ``{`` that is not a JSON object with a text ``q`` or
            ``text`` (asking ``None`` or the raw JSON instead would hide the mistake).
    """
    out = []
    for n, line in enumerate(path.read_text("utf-8").split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise CitebotError(f"{path}:{n}: invalid JSON ({e.msg})") from None
            q = rec.get("q", rec.get("text")) if isinstance(rec, dict) else None
            if not isinstance(q, str):
                raise CitebotError(f"{path}:{n}: needs a text field 'q' or 'text'")
            out.append(q)
            continue
        out.append(line)
    return out


def split_questions(words: list[str]) -> list[str]:
    """The questions of ``citebot ask``'s arguments: ``how do I stash`` (unquoted words) is one question,
    ``"how do I stash?" "what is a tag?"`` (every argument holding a space: quoted) is two."""
    if len(words) > 1 and all(len(w.split()) > 1 for w in words):
        return [" ".join(w.split()) for w in words]
    return [" ".join(words)] if words else []
