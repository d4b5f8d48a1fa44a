"""Bot settings: defaults < ``[bot]`` section of the citebot TOML file < ``CITEBOT_BOT_*`` environment.

The token is read from ``DISCORD_TOKEN`` only (never from the file, never logged or shown).
Lists of ids are TOML arrays, or comma-separated in the environment, e.g.
``CITEBOT_BOT_ADMIN_ROLE_IDS=123,456``.

This module does not import discord.py.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import platformdirs

from retrieval.config import APP, coerce, find_config, read_toml
from retrieval.ingest.documents import SUFFIXES
from retrieval.errors import ConfigError

TOKEN_ENV = "DISCORD_TOKEN"

# three dot-separated base64url parts: user id, timestamp, HMAC (format only; Discord decides validity)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{18,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")


def default_feedback_db() -> Path:
    """``~/.local/share/citebot/feedback.sqlite3`` on Linux."""
    return Path(platformdirs.user_data_dir(APP)) / "feedback.sqlite3"


@dataclass
class BotConfig:
    """Settings of the Discord bot.

    Args:
        token: bot token (from ``DISCORD_TOKEN``; hidden from repr).
        allowed_guilds: serve only these guilds (empty: any guild the bot is in).
        allowed_channels: serve only these channels or threads under them (empty: any).
        admin_role_ids / admin_user_ids: besides members with Manage Server, who may run admin commands.
        cooldown_rate / cooldown_per: each user may ask ``cooldown_rate`` questions per ``cooldown_per`` seconds.
        interaction_rate / interaction_per: each user may use ``interaction_rate`` commands, buttons,
            menus and autocompletes (together) per ``interaction_per`` seconds.
        auto_answer_channels: channels where every message is treated as a question.
        feedback_db: SQLite file for answers and votes.
        sync_commands: sync slash commands at start-up when they changed.
        command_guilds: sync commands to these guilds (instant) instead of globally.
        upload_types: file suffixes ``/corpus add`` accepts.
        upload_max_mb: largest attachment ``/corpus add`` accepts.
        progress_interval: least seconds between two edits of the reindex progress message.
        guild_ready_timeout: seconds discord.py waits for GUILD_CREATEs before ``on_ready``.
        documents_per_page: documents per page of ``/sources``.
        send_retries: further attempts at sending an answer after discord.py gave up on it (5xx,
            rate limits outlasting its own five tries, network errors).
        send_retry_delay: seconds before the first of those attempts; doubled before each next one.
        memory_budget_mb: the most the open indexes of all knowledge bases may take together
            (estimated from their files; 0: no limit). Idle ones are closed to make room.
        kb_idle_minutes: an index nobody asked for in this long is closed (reopened on demand).
        history_recheck: the most recent stored messages of each added Discord channel that every
            fetch reads again, to apply edits and deletions made while the bot was offline (0: none).
    """

    token: str | None = field(default=None, repr=False)
    allowed_guilds: list[int] = field(default_factory=list)
    allowed_channels: list[int] = field(default_factory=list)
    admin_role_ids: list[int] = field(default_factory=list)
    admin_user_ids: list[int] = field(default_factory=list)
    cooldown_rate: int = 3
    cooldown_per: float = 30.0
    interaction_rate: int = 30
    interaction_per: float = 30.0
    auto_answer_channels: list[int] = field(default_factory=list)
    feedback_db: Path = field(default_factory=default_feedback_db)
    sync_commands: bool = True
    command_guilds: list[int] = field(default_factory=list)
    upload_types: list[str] = field(default_factory=lambda: list(SUFFIXES))  # every type the corpus reads
    upload_max_mb: float = 8.0
    progress_interval: float = 2.0
    guild_ready_timeout: float = 2.0
    documents_per_page: int = 10
    send_retries: int = 2
    send_retry_delay: float = 3.0
    memory_budget_mb: float = 0.0
    kb_idle_minutes: float = 30.0
    history_recheck: int = 50

    @classmethod
    def load(cls, config: str | os.PathLike | None = None, **overrides) -> "BotConfig":
        """Read the ``[bot]`` section of the config file, the environment and ``overrides``."""
        values: dict = {}
        path = find_config(config)
        if path is not None:
            section = read_toml(path).get("bot", {})
            if not isinstance(section, dict):
                raise ConfigError("[bot] must be a table in the config file")
            if "token" in section:
                raise ConfigError(f"do not put the bot token in {path}; set the {TOKEN_ENV} environment variable")
            values.update(section)
        for f in fields(cls):
            raw = os.environ.get(f"CITEBOT_BOT_{f.name.upper()}")
            if f.name != "token" and raw not in (None, ""):
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        values.setdefault("token", os.environ.get(TOKEN_ENV) or None)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: dict) -> "BotConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown [bot] setting(s): {', '.join(unknown)}")
        cfg = cls()
        for name, raw in values.items():
            setattr(cfg, name, _coerce(name, raw, getattr(cfg, name)))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.cooldown_rate < 1 or self.cooldown_per <= 0:
            raise ConfigError("cooldown_rate must be at least 1 and cooldown_per positive")
        if self.interaction_rate < 1 or self.interaction_per <= 0:
            raise ConfigError("interaction_rate must be at least 1 and interaction_per positive")
        if not 1 <= self.documents_per_page <= 25:
            raise ConfigError("documents_per_page must be between 1 and 25")
        if self.upload_max_mb <= 0:
            raise ConfigError("upload_max_mb must be positive")
        if self.send_retries < 0 or self.send_retry_delay < 0:
            raise ConfigError("send_retries and send_retry_delay must not be negative")
        if self.memory_budget_mb < 0 or self.kb_idle_minutes <= 0:
            raise ConfigError("memory_budget_mb must not be negative and kb_idle_minutes must be positive")
        if self.history_recheck < 0:
            raise ConfigError("history_recheck must not be negative")
        self.upload_types = [t.lower() if t.startswith(".") else "." + t.lower() for t in self.upload_types]


def token_problem(token: str | None) -> str | None:
    """A one-line reason the token is unusable, or None when its format looks right."""
    if not token:
        return f"no bot token: set the {TOKEN_ENV} environment variable"
    if token != token.strip() or token.lower().startswith("bot "):
        return f"{TOKEN_ENV} must be the bare token (no 'Bot ' prefix, no spaces)"
    if not _TOKEN_RE.match(token):
        return f"{TOKEN_ENV} does not look like a Discord bot token (expected three dot-separated parts)"
    return None


def _coerce(name: str, raw, default):
    """``raw`` (TOML value or environment string) as the type of ``default``, as strictly as the
    retrieval settings (``retrieval.config.coerce``): ``sync_commands = "maybe"``, ``cooldown_rate =
    1.9`` or ``true`` for a number are errors, not guesses."""
    try:
        if isinstance(default, list):
            items = raw if isinstance(raw, (list, tuple)) else [x for x in re.split(r"[,\s]+", str(raw)) if x]
            item_type = str if name == "upload_types" else int
            if item_type is str and not all(isinstance(x, str) for x in items):
                raise ConfigError(f"setting {name}: cannot use {raw!r} as a list of text")
            return [coerce(name, x, item_type) for x in items]
        if default is None:  # token
            return None if raw is None else str(raw)
        return coerce(name, raw, type(default))
    except ConfigError as e:
        raise ConfigError(f"[bot] {e}") from None
