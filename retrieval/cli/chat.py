"""``citebot chat``'s line editing: readline and a private history of the questions asked on a terminal."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

HISTORY_LINES = 1000  # chat history kept between sessions


def history_file() -> Path:
    """Where ``citebot chat`` keeps the questions asked on a terminal (per-user data folder)."""
    import platformdirs

    from retrieval.config import APP

    return Path(platformdirs.user_data_dir(APP)) / "chat-history"


def line_editing(path: Path) -> Callable[[], None]:
    """Turn on readline for ``input()`` (arrows, editing, Up for earlier questions) with the history
    in ``path``; returns the function that saves it (the last :data:`HISTORY_LINES` lines, private).
    Without readline (some platforms) input still works, unedited."""
    try:
        import readline
    except ImportError:
        return lambda: None
    readline.set_history_length(HISTORY_LINES)
    with contextlib.suppress(OSError):
        readline.read_history_file(path)

    def save() -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)
            path.chmod(0o600)  # questions can be private
        except OSError as e:  # history is a convenience: never fail the session for it
            logging.getLogger("citebot").warning("chat history not saved to %s: %s", path, e)

    return save
