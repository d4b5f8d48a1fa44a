"""Knowledge bases: several corpora served by one process, each with its own index and settings.

The config file lists them as an array of tables::

    [[knowledge_bases]]
    name = "alpha"                      # lowercase letters, digits, - and _ (at most 32)
    corpus = "/srv/alpha/docs"
    index_dir = "/srv/alpha/index"
    guilds = [111111111111111111]       # the Discord servers it serves
    channels = []                       # optional: only these channels (threads count as their parent)
    k = 5                               # optional: any retrieval setting except model/precision/batch_size

Without ``[[knowledge_bases]]`` the top-level ``corpus``/``index_dir`` is one knowledge base called
``default`` serving every guild (and DMs). With them, that default exists only when ``corpus`` is
set explicitly (file, ``CITEBOT_CORPUS`` or ``--corpus``); it then serves what no other one claims.

The open indexes are kept by :class:`retrieval.serve.pool.EnginePool`. This module does not import discord.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from retrieval.config import Settings, find_config, read_toml
from retrieval.errors import ConfigError

log = logging.getLogger("citebot.kb")

DEFAULT = "default"
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
KB_KEYS = ("name", "corpus", "index_dir", "guilds", "channels")
# one encoder serves every knowledge base: these can only be set once, at top level
SHARED_ONLY = ("model", "precision", "batch_size")
MAX_SNOWFLAKE = 2**63 - 1


@dataclass(frozen=True)
class KnowledgeBase:
    """One corpus and its index, and where it is served.

    Args:
        name: short id (shown in ``/stats``, stored with answers, part of button ids).
        settings: retrieval settings, ``corpus`` and ``index_dir`` included.
        guilds: the guilds it serves. For the default: empty (every guild no other one claims), or
            the bot's ``allowed_guilds`` (see bot/routing.py).
        channels: when set, only these channels of those guilds (and threads under them).
        default: the top-level corpus.
    """

    name: str
    settings: Settings
    guilds: frozenset[int] = frozenset()
    channels: frozenset[int] = frozenset()
    default: bool = False


class Registry:
    """The configured knowledge bases, by name. (Which one answers where in Discord is the bot's
    business: bot/routing.py.)

    Raises:
        ConfigError: duplicate names or index folders.
    """

    def __init__(self, kbs: list[KnowledgeBase]):
        self.kbs = list(kbs)
        self.by_name: dict[str, KnowledgeBase] = {}
        self.default: KnowledgeBase | None = None
        dirs: dict[Path, str] = {}
        for kb in self.kbs:
            if kb.name in self.by_name:
                raise ConfigError(f"knowledge base name {kb.name!r} is used twice")
            self.by_name[kb.name] = kb
            where = Path(os.path.abspath(kb.settings.index_dir))
            if where in dirs:
                raise ConfigError(f"knowledge bases {dirs[where]!r} and {kb.name!r} have the same index_dir {where}")
            dirs[where] = kb.name
            if kb.default:
                self.default = kb

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    def get(self, name: str | None) -> KnowledgeBase:
        """The knowledge base called ``name`` (None: the only one, or the default)."""
        if name is None:
            if len(self.kbs) == 1:
                return self.kbs[0]
            if self.default is not None:
                return self.default
            raise ConfigError(f"several knowledge bases are configured; choose one with --kb ({', '.join(self.names)})")
        kb = self.by_name.get(name)
        if kb is None:
            raise ConfigError(f"no knowledge base {name!r}; configured: {', '.join(self.names) or 'none'}")
        return kb


def _ids(name: str, key: str, raw) -> frozenset[int]:
    if not isinstance(raw, list):
        raise ConfigError(f"knowledge base {name!r}: {key} must be a list of ids")
    out = set()
    for v in raw:
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= MAX_SNOWFLAKE:
            raise ConfigError(f"knowledge base {name!r}: {key} has {v!r}, not a Discord id")
        out.add(v)
    return frozenset(out)


def parse_knowledge_base(table, base: Settings, position: int) -> KnowledgeBase:
    """One ``[[knowledge_bases]]`` table as a :class:`KnowledgeBase` (settings: ``base`` + overrides)."""
    if not isinstance(table, dict):
        raise ConfigError(f"knowledge_bases entry {position} must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(f"knowledge_bases entry {position}: name must be 1-32 lowercase letters, digits, - or _ "
                          f"(starting with a letter or digit), not {name!r}")
    if name == DEFAULT:
        raise ConfigError(f"knowledge base name {DEFAULT!r} is reserved for the top-level corpus")
    setting_names = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(k for k in table if k not in KB_KEYS and k not in setting_names)
    if unknown:
        raise ConfigError(f"knowledge base {name!r}: unknown key(s): {', '.join(unknown)}")
    shared = sorted(k for k in table if k in SHARED_ONLY)
    if shared:
        raise ConfigError(f"knowledge base {name!r}: {', '.join(shared)} is shared by every knowledge base; set it at top level")
    for key in ("corpus", "index_dir"):
        if key == "corpus" and isinstance(table.get(key), list) and table[key]:  # several sources
            continue
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise ConfigError(f"knowledge base {name!r}: {key} is required (a path)")
    guilds = _ids(name, "guilds", table.get("guilds"))
    if not guilds:
        raise ConfigError(f"knowledge base {name!r}: guilds must list at least one guild id")
    channels = _ids(name, "channels", table.get("channels", []))
    values = dataclasses.asdict(base)
    values.update({k: v for k, v in table.items() if k in setting_names})
    try:
        settings = Settings.from_mapping(values)
    except ConfigError as e:
        raise ConfigError(f"knowledge base {name!r}: {e}") from None
    return KnowledgeBase(name, settings, guilds, channels)


def load_registry(config: str | os.PathLike | None = None, **overrides) -> Registry:
    """The knowledge bases of the config file (see the module docstring); ``overrides`` as for
    :meth:`Settings.load` (``corpus``, ``index_dir``; None values ignored)."""
    base = Settings.load(config, **overrides)
    path = find_config(config)
    data = read_toml(path) if path is not None else {}
    tables = data.get("knowledge_bases")
    if tables is None:
        return Registry([KnowledgeBase(DEFAULT, base, default=True)])
    if not isinstance(tables, list):
        raise ConfigError("knowledge_bases must be an array of tables ([[knowledge_bases]])")
    kbs = [parse_knowledge_base(t, base, i + 1) for i, t in enumerate(tables)]
    explicit = "corpus" in data.get("citebot", {}) or os.environ.get("CITEBOT_CORPUS") or overrides.get("corpus")
    if explicit:
        kbs.append(KnowledgeBase(DEFAULT, base, default=True))
    return Registry(kbs)
