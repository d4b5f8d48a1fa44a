"""Which knowledge base answers where in Discord.

A channel listed by a knowledge base wins (a thread counts as its parent channel), then a knowledge
base serving the whole guild, then the default; DMs get the default. The core only reads each
knowledge base's ``guilds`` and ``channels`` from the config file (retrieval/serve/kb.py); the rules
that route by them live here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from retrieval.errors import ConfigError
from retrieval.serve.kb import KnowledgeBase, Registry


def sole_guild(kb: KnowledgeBase) -> int | None:
    """The one guild ``kb`` serves, or None when it serves several (or, as the default without
    ``guilds``, any): only that guild's admins administer it."""
    return next(iter(kb.guilds)) if len(kb.guilds) == 1 else None


class Router:
    """The knowledge bases of ``registry`` by guild and channel.

    Args:
        allowed_guilds: the bot's ``allowed_guilds``: a default knowledge base without ``guilds``
            serves only these (a bot kept to one server gives that server's admins rights over it).

    Raises:
        ConfigError: a guild claimed whole by two knowledge bases, a channel listed by two.
    """

    def __init__(self, registry: Registry, allowed_guilds: Iterable[int] = ()):
        allowed = frozenset(allowed_guilds)
        if registry.default is not None and allowed and not registry.default.guilds:
            registry = Registry([dataclasses.replace(kb, guilds=allowed) if kb.default else kb for kb in registry.kbs])
        self.registry = registry
        self.by_guild: dict[int, KnowledgeBase] = {}
        self.by_channel: dict[int, KnowledgeBase] = {}
        for kb in registry.kbs:
            if kb.default:
                continue
            for c in kb.channels:
                if c in self.by_channel:
                    raise ConfigError(f"channel {c} is listed by knowledge bases {self.by_channel[c].name!r} and {kb.name!r}")
                self.by_channel[c] = kb
            if not kb.channels:
                for g in kb.guilds:
                    if g in self.by_guild:
                        raise ConfigError(f"guild {g} is claimed by knowledge bases {self.by_guild[g].name!r} and "
                                          f"{kb.name!r}; split it with `channels`")
                    self.by_guild[g] = kb

    def route(self, guild_id: int | None, channel_id: int | None = None, parent_id: int | None = None) -> KnowledgeBase | None:
        """The knowledge base answering in this place, or None (not set up here)."""
        default = self.registry.default
        if guild_id is None:
            return default
        for c in (channel_id, parent_id):
            kb = self.by_channel.get(c) if c is not None else None
            if kb is not None and guild_id in kb.guilds:
                return kb
        return self.by_guild.get(guild_id) or default

    def in_guild(self, guild_id: int, channel_id: int | None = None, parent_id: int | None = None) -> list[KnowledgeBase]:
        """The knowledge bases answering somewhere in ``guild_id``; the one answering in ``channel_id``
        (a thread: with its ``parent_id``) first."""
        first = self.route(guild_id, channel_id, parent_id) if channel_id is not None else None
        out = [first] if first is not None else []
        for kb in self.registry.kbs:
            if kb.default:
                # the default answers where no other one claims the whole guild
                serves = guild_id not in self.by_guild and (not kb.guilds or guild_id in kb.guilds)
            else:
                serves = guild_id in kb.guilds
            if serves and kb not in out:
                out.append(kb)
        return out
