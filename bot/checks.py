"""Shared checks: who is an admin, where the bot may answer, and the per-user question cooldown."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

import discord
from discord import app_commands
from discord.ext import commands

from .routing import sole_guild

if TYPE_CHECKING:
    from retrieval.serve.kb import KnowledgeBase

    from .client import CiteBot
    from .config import BotConfig


class NotAdmin(app_commands.CheckFailure):
    """Raised when a member without rights over this place's knowledge base runs an admin command."""

    def __init__(self, shared: bool = False) -> None:
        super().__init__(
            "The knowledge base here is shared by several servers: only the bot's owners can change it."
            if shared else "Only members with Manage Server or a configured admin role can do that."
        )


class NotHere(app_commands.CheckFailure):
    """Raised when a command is used outside the allowed guilds/channels."""

    def __init__(self) -> None:
        super().__init__("I'm not enabled in this channel.")


class TooFast(app_commands.CheckFailure):
    """Raised when a user is over the per-user limit of interactions (commands, buttons, autocomplete)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(cooldown_message(retry_after))


async def within_limit(interaction: discord.Interaction) -> bool:
    """Count one interaction against the user's limit (``bot.limiter``). A component over the
    limit is answered here (one ephemeral line) and False returned; the command tree raises
    :class:`TooFast` instead (:meth:`bot.client.CitebotTree.interaction_check`)."""
    retry = interaction.client.limiter.hit(getattr(interaction.user, "id", 0))  # type: ignore[attr-defined]
    if not retry:
        return True
    if not interaction.response.is_done():
        await interaction.response.send_message(cooldown_message(retry), ephemeral=True,
                                                allowed_mentions=discord.AllowedMentions.none())
    return False


NOT_SET_UP = "I'm not set up here: no knowledge base serves this server or channel."


class NotSetUp(app_commands.CheckFailure):
    """Raised when no knowledge base serves the guild/channel of an interaction."""

    def __init__(self) -> None:
        super().__init__(NOT_SET_UP)


def is_admin(config: "BotConfig", user: discord.abc.User, permissions: discord.Permissions | None = None,
             kb: "KnowledgeBase | None" = None, guild_id: int | None = None) -> bool:
    """May ``user`` administer ``kb`` from ``guild_id``?

    A configured admin user id (the bot's owners) always may. Otherwise Manage Server (in the guild
    or this channel) or a configured admin role counts only over a knowledge base that serves this
    guild alone: one shared by several guilds (the top-level default among them) would let one
    server's admins change what the others' members are quoted from. ``kb=None``: rights in the
    guild only (no knowledge base involved).
    """
    if user.id in config.admin_user_ids:
        return True
    if kb is not None and (sole_guild(kb) is None or sole_guild(kb) != guild_id):
        return False
    if isinstance(user, discord.Member):
        if user.guild_permissions.manage_guild or user.guild_permissions.administrator:
            return True
        if any(r.id in config.admin_role_ids for r in user.roles):
            return True
    # interaction.permissions is what Discord resolved for this member in this channel
    if permissions is not None and (permissions.manage_guild or permissions.administrator):
        return True
    return False


def interaction_is_admin(interaction: discord.Interaction, kb: "KnowledgeBase | None" = None) -> bool:
    """Admin rights over ``kb`` for this interaction, decided here and not by the command's default
    permissions.

    Only in a guild the bot is actually in, and only for a resolved member of it: DMs, other guilds
    and forged payloads without member data are refused whatever ids or permissions they carry.
    """
    bot: CiteBot = interaction.client  # type: ignore[assignment]
    guild = interaction.guild
    if interaction.guild_id is None or guild is None or bot.get_guild(interaction.guild_id) is None:
        return False
    user = getattr(interaction, "user", None)
    if not isinstance(user, discord.Member) or user.guild.id != guild.id:
        return False
    return is_admin(bot.config, user, interaction.permissions, kb, guild.id)


def require_admin(interaction: discord.Interaction, kb: "KnowledgeBase") -> None:
    """:class:`NotAdmin` unless the user may administer ``kb`` here; a server admin refused over a
    shared knowledge base is told why."""
    if not interaction_is_admin(interaction, kb):
        raise NotAdmin(shared=sole_guild(kb) is None and interaction_is_admin(interaction))


def place_allowed(config: "BotConfig", guild_id: int | None, channel: object | None) -> bool:
    """Whether the bot may answer in this guild/channel (threads count as their parent channel)."""
    if config.allowed_guilds and guild_id not in config.allowed_guilds:
        return False
    if config.allowed_channels:
        ids = {getattr(channel, "id", None), getattr(channel, "parent_id", None)}
        if not ids & set(config.allowed_channels):
            return False
    return True


class UserCooldown:
    """Per-user token bucket: ``rate`` questions per ``per`` seconds, shared by /ask and mentions.

    discord.py's :class:`~discord.ext.commands.CooldownMapping` keyed by user id keeps the buckets
    (and drops those idle for a whole window, so memory stays bounded). ``clock`` is injectable so
    the behaviour can be tested without sleeping.
    """

    def __init__(self, rate: int, per: float, *, clock: Callable[[], float] = time.monotonic):
        self.rate, self.per, self.clock = rate, per, clock
        self._mapping = self._new()

    def _new(self) -> commands.CooldownMapping:
        return commands.CooldownMapping.from_cooldown(self.rate, self.per, lambda user_id: user_id)

    def hit(self, user_id: int) -> float | None:
        """Count one question; returns seconds to wait if the user is over the limit (not counted)."""
        return self._mapping.update_rate_limit(user_id, self.clock())

    def reset(self, user_id: int | None = None) -> None:
        if user_id is None:
            self._mapping = self._new()
        else:
            bucket = self._mapping.get_bucket(user_id, self.clock())
            if bucket is not None:
                bucket.reset()


def cooldown_message(retry_after: float) -> str:
    return f"⏳ Slow down a little — you can ask again in {max(1, round(retry_after))} s."
