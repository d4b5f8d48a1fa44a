"""Who may be quoted what: a passage from a Discord channel only for members who can read it now.

A passage comes from a Discord channel when its citation's source (or URL) is a jump link
``https://discord.com/channels/G/C/M``, or its document id / file is an export the bot wrote,
``_discord/G/C.json`` (see :mod:`bot.history_store`). Anything else (files, web pages) is visible to
everyone who may ask. For a Discord passage the asker must, at answer time:

* be a member of guild G (a DM or another guild sees none of it),
* have View Channel and Read Message History in channel C (roles and overwrites, as discord.py's
  ``permissions_for`` computes them; for a thread, its parent's),
* and for a private thread, be in the thread or have Manage Threads.

A public reply is read by more people than the asker: when the reply channel is given, a Discord
passage is quoted there only if everyone who can read the reply channel can read its channel (roles,
role and member overwrites; never a private thread), or it is the reply channel itself (or the reply
channel's parent, for a reply in a thread). Otherwise the passage is left out of the public answer,
so a moderator asking in #general does not leak #staff, nor #help to a role denied #help.

A channel the bot cannot resolve (deleted, or an archived thread it knows nothing of) is refused:
unknown means unreadable. The core does the filtering (:meth:`Visibility.doc_filter` hands
``Engine.ask`` a ``visible`` predicate): a hidden passage is as if it did not exist, so results,
numbering, "also in", disagreements and the not-found reason are all computed without it.

The decision (:func:`readable`, :func:`place_of`) is Discord-free; :class:`Visibility` feeds it
discord.py objects.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterable, Protocol

import discord

from .history_store import FOLDER, known_channels

JUMP = re.compile(r"https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/(\d+)/(\d+)(?:/(\d+))?")
EXPORT = re.compile(rf"(?:^|/){re.escape(FOLDER)}/(\d+)/(\d+)(?:\.json)?(?=$|[/#?.])")


class PermissionsLike(Protocol):
    view_channel: bool
    read_message_history: bool
    manage_threads: bool


def place_of(*texts: str | None) -> tuple[int, int] | None:
    """``(guild_id, channel_id)`` named by the first jump link or export path among ``texts``."""
    for t in texts:
        if not t:
            continue
        m = JUMP.search(t) or EXPORT.search(t.replace("\\", "/"))
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def citation_place(citation: Any, doc_id: str | None = None) -> tuple[int, int] | None:
    """Where a :class:`~retrieval.types.Citation` (or a stored citation dict) comes from on Discord."""
    get = citation.get if isinstance(citation, dict) else lambda k, d=None: getattr(citation, k, d)
    return place_of(get("source"), get("url"), doc_id or get("doc_id"))


def readable(perms: PermissionsLike | None, *, private_thread: bool = False, thread_member: bool = False) -> bool:
    """The rule itself: view + history in the channel; for a private thread, membership or Manage Threads."""
    if perms is None or not (perms.view_channel and perms.read_message_history):
        return False
    return not private_thread or thread_member or bool(perms.manage_threads)


_places: dict[tuple[str, str], dict[str, tuple[int, int] | None]] = {}  # (index dir, version) -> doc places


def discord_places(engine) -> dict[str, tuple[int, int] | None]:
    """Each document id of ``engine``'s index with its Discord ``(guild, channel)``, None for files and
    web pages (read once per index version; call it off the event loop)."""
    key = (str(engine.settings.index_dir), engine.version)
    got = _places.get(key)
    if got is None:
        got = {d["doc_id"]: place_of(d.get("source"), d.get("url"), d["doc_id"]) for d in engine.documents()}
        while len(_places) >= 8:
            _places.pop(next(iter(_places)))
        _places[key] = got
    return got


@dataclasses.dataclass(frozen=True)
class DocFilter:
    """``visible(doc_id)`` for one asker in one place (see :meth:`Visibility.doc_filter`). A document
    it has never heard of (an index version loaded since) is hidden: unknown means unreadable."""

    places: dict[str, tuple[int, int] | None]
    channels: dict[tuple[int, int], bool]

    def __call__(self, doc_id: str) -> bool:
        if doc_id not in self.places:
            return False
        where = self.places[doc_id]
        return where is None or self.channels.get(where, False)

    @property
    def hides_nothing(self) -> bool:
        return all(self.channels.values())

    def for_engine(self):
        """What to pass as ``visible=``: None when nothing is hidden (the plain, cheaper path)."""
        return None if self.hides_nothing else self


class Visibility:
    """Decides, for one asker, which Discord passages they may see. One per question (it caches).

    Args:
        guild: the guild the question is asked in (None in a DM: no Discord passage is visible).
        member: the asker as a guild member.
        known: exported channels and threads by id (``history_store.known_channels``): the parent
            and privacy of archived threads that are not in discord.py's cache.
        reply_channel: where a public answer goes (None for a private/ephemeral one): passages
            must then also suit everyone who reads that channel (see the module docstring).
    """

    def __init__(self, guild: discord.Guild | None, member: discord.abc.User | None,
                 known: dict[int, dict] | None = None, *, reply_channel: Any = None):
        self.guild = guild
        self.member = member if isinstance(member, discord.Member) else None
        self.known = known or {}
        self.reply_channel = reply_channel
        self._cache: dict[int, bool] = {}

    @classmethod
    def for_asker(cls, guild: discord.Guild | None, member: discord.abc.User | None, corpora: Iterable[Path],
                  *, reply_channel: Any = None) -> "Visibility":
        """A Visibility knowing the channels exported into these corpus folders."""
        known = known_channels(corpora, guild.id) if guild is not None else {}
        return cls(guild, member, known, reply_channel=reply_channel)

    async def _is_thread_member(self, thread_id: int) -> bool:
        """Asked of Discord each time (not cached across questions): a member removed from a private
        thread loses its passages at their next question."""
        try:
            thread = self.guild.get_thread(thread_id) or await self.guild.fetch_channel(thread_id)
            if not isinstance(thread, discord.Thread):
                return False
            await thread.fetch_member(self.member.id)
            return True
        except discord.HTTPException:  # NotFound: not a member; anything else: unknown, so refused
            return False

    async def can_read(self, guild_id: int, channel_id: int) -> bool:
        """Whether the asker can read channel (or thread) ``channel_id`` of guild ``guild_id`` now."""
        if self.guild is None or self.member is None or guild_id != self.guild.id:
            return False
        if channel_id in self._cache:
            return self._cache[channel_id]
        ok = await self._decide(channel_id) and (self.reply_channel is None or await self._open_to_audience(channel_id))
        self._cache[channel_id] = ok
        return ok

    async def _open_to_audience(self, channel_id: int) -> bool:
        """Everyone who can read the public reply may see ``channel_id``: it is the reply channel (or
        its parent), or every reader of the reply channel can read it.

        The readers are judged as Discord would, by roles and overwrites: @everyone, each role of
        the guild (with @everyone), every member discord.py holds, and every member named by a
        member overwrite of either channel. A combination of several roles that no single role or
        known member shows is not enumerated (see docs/RELIABILITY.md)."""
        reply = self.reply_channel
        if channel_id in (getattr(reply, "id", None), getattr(reply, "parent_id", None)):
            return True
        guild = self.guild
        channel = guild.get_channel_or_thread(channel_id)
        info = self.known.get(channel_id, {})
        if isinstance(channel, discord.Thread):
            if channel.type is discord.ChannelType.private_thread:
                return False
            channel = channel.parent
        elif channel is None and info.get("parent_id"):
            if info.get("private"):
                return False
            channel = guild.get_channel(int(info["parent_id"]))
        audience = reply.parent if isinstance(reply, discord.Thread) else reply
        if channel is None or audience is None or not hasattr(audience, "permissions_for"):
            return False
        readers = await self._readers(audience, channel)
        if readers is None:
            return False
        return all(readable(channel.permissions_for(r)) for r in readers if readable(audience.permissions_for(r)))

    async def _readers(self, *channels) -> list | None:
        """Who stands for "everyone" when judging ``channels``: the roles, the cached members and the
        members their overwrites name (fetched when not cached; None when one can't be)."""
        guild = self.guild
        out: list = [guild.default_role, *guild.roles, *guild.members]
        seen = {m.id for m in guild.members}
        for ch in channels:
            for target in getattr(ch, "overwrites", {}) or {}:
                if isinstance(target, discord.Role) or target.id in seen:
                    continue
                seen.add(target.id)
                member = target if isinstance(target, discord.Member) else guild.get_member(target.id)
                if member is None:
                    try:
                        member = await guild.fetch_member(target.id)
                    except discord.NotFound:
                        continue  # no longer in the guild: reads nothing
                    except discord.HTTPException:
                        return None
                out.append(member)
        return out

    async def _decide(self, channel_id: int) -> bool:
        guild = self.guild
        channel = guild.get_channel_or_thread(channel_id)
        info = self.known.get(channel_id, {})
        if isinstance(channel, discord.Thread):
            private = channel.type is discord.ChannelType.private_thread
            parent = channel.parent
        elif channel is not None:
            return readable(channel.permissions_for(self.member))
        elif info.get("parent_id"):
            # an archived thread: not cached, judged by its parent and what the export noted
            private = bool(info.get("private"))
            parent = guild.get_channel(int(info["parent_id"]))
        else:
            return False  # deleted or unknown: unreadable
        if parent is None:
            return False
        perms = parent.permissions_for(self.member)
        if not readable(perms):
            return False
        if private and not perms.manage_threads:
            return await self._is_thread_member(channel_id)
        return True

    async def allows(self, citation: Any, doc_id: str | None = None) -> bool:
        """Whether a citation (object or stored dict) may be shown to the asker."""
        where = citation_place(citation, doc_id)
        return where is None or await self.can_read(*where)

    async def doc_filter(self, places: dict[str, tuple[int, int] | None]) -> "DocFilter":
        """The asker's ``visible(doc_id)`` for :meth:`retrieval.engine.Engine.ask` and ``source``:
        ``places`` (:func:`discord_places`) says where each document of the index comes from; each
        Discord channel among them is judged once, here, on the event loop."""
        channels = {p for p in places.values() if p is not None}
        return DocFilter(places, {p: await self.can_read(*p) for p in channels})

    async def filter_documents(self, docs: list[dict]) -> list[dict]:
        """``/sources`` rows (``engine.documents()``) the asker may see."""
        return [d for d in docs if await self.allows(d, d.get("doc_id"))]

    async def filter_stored(self, results: list[dict], also_in: list[dict]) -> tuple[list[dict], list[dict]]:
        """A stored answer's results and "also in" sources (feedback store dicts) the asker may see,
        for the source buttons and "Show sources" (a member who can't read them gets nothing).
        Numbers are kept: they are the ones printed in the answer the member is looking at."""
        keep_r = [r for r in results if await self.allows(r.get("citation") or {}, r.get("doc_id"))]
        keep_a = [a for a in also_in if await self.allows(a.get("citation") or {}, a.get("doc_id"))]
        return keep_r, keep_a
