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
passage is quoted there only if its channel is open to ``@everyone`` (and not a private thread), or
is the reply channel itself (or the reply channel's parent, for a reply in a thread). Otherwise the
passage is left out of the public answer, so a moderator asking in #general does not leak #staff.

A channel the bot cannot resolve (deleted, or an archived thread it knows nothing of) is refused:
unknown means unreadable. Filtering makes hidden passages as if they did not exist: results are
dropped and renumbered, "also in" entries and ``/sources`` rows disappear.

The decision (:func:`readable`, :func:`place_of`) is Discord-free; :class:`Visibility` feeds it
discord.py objects.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any, Iterable, Protocol

import discord

from retrieval.query.conflicts import disagreements

from .history_store import FOLDER, known_channels

JUMP = re.compile(r"https?://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/(\d+)/(\d+)(?:/(\d+))?")
EXPORT = re.compile(rf"(?:^|/){re.escape(FOLDER)}/(\d+)/(\d+)(?:\.json)?(?=$|[/#?.])")
MEMBERSHIP_TTL = 60.0  # seconds a private thread's "is a member" answer is reused


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


_members: dict[tuple[int, int], tuple[float, bool]] = {}  # (thread, user) -> (checked at, member?)


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
        key = (thread_id, self.member.id)
        hit = _members.get(key)
        if hit is not None and time.monotonic() - hit[0] < MEMBERSHIP_TTL:
            return hit[1]
        try:
            thread = self.guild.get_thread(thread_id) or await self.guild.fetch_channel(thread_id)
            if not isinstance(thread, discord.Thread):
                return False
            result = any(m.id == self.member.id for m in thread.members)
            if not result:
                await thread.fetch_member(self.member.id)
                result = True
        except discord.NotFound:
            result = False
        except discord.HTTPException:
            return False  # unknown this time: refuse, and don't remember it
        _members[key] = (time.monotonic(), result)
        return result

    async def can_read(self, guild_id: int, channel_id: int) -> bool:
        """Whether the asker can read channel (or thread) ``channel_id`` of guild ``guild_id`` now."""
        if self.guild is None or self.member is None or guild_id != self.guild.id:
            return False
        if channel_id in self._cache:
            return self._cache[channel_id]
        ok = await self._decide(channel_id) and (self.reply_channel is None or self._open_to_audience(channel_id))
        self._cache[channel_id] = ok
        return ok

    def _open_to_audience(self, channel_id: int) -> bool:
        """A public reply's readers may all see ``channel_id``: it is the reply channel (or its
        parent), or @everyone can read it."""
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
        return channel is not None and readable(channel.permissions_for(guild.default_role))

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

    async def filter_answer(self, answer: Any, *, abstain_threshold: float | None = None,
                            keep: int | None = None) -> Any:
        """The answer without the results and "also in" sources the asker cannot read, renumbered,
        and at most ``keep`` results (ask the engine for a few more than shown, then cut here, so
        hidden passages leave room for visible ones).

        When the best result was hidden, the answer does not count as answered (the engine's
        confidence was about that passage); the visible ones stay listed as the closest passages.
        ``abstain_threshold`` is accepted for compatibility and unused. Returns the same object when
        nothing was hidden.
        """
        results, changed = [], False
        for r in answer.results:
            if not await self.allows(r.citation, r.doc_id):
                changed = True
                continue
            also_c = [c for c in r.also_in_citations if await self.allows(c)]
            hidden = {c.doc_id for c in r.also_in_citations} - {c.doc_id for c in also_c}
            also = [d for d in r.also_in if d not in hidden and await self.allows({"doc_id": d})]
            if len(also_c) != len(r.also_in_citations) or len(also) != len(r.also_in):
                changed = True
            results.append((r, also, also_c))
        if keep is not None and len(results) > keep:
            results, changed = results[:keep], True
        if not changed:
            return answer
        top_hidden = bool(answer.results) and (not results or results[0][0] is not answer.results[0])
        out = []
        for i, (r, also, also_c) in enumerate(results, 1):
            out.append(dataclasses.replace(r, rank=i, citation=dataclasses.replace(r.citation, number=i),
                                           also_in=also, also_in_citations=also_c))
        # the engine's confidence was about the best passage; when the asker may not see it, nothing
        # vouches for the next one, so the visible passages are offered as the closest, not as the answer
        answered = bool(answer.answered and out and not top_hidden)
        # recomputed over what is shown: a hidden document's figures must not show, numbers changed
        differ = disagreements(out) if answered else []
        return dataclasses.replace(answer, results=out, answered=answered, disagreements=differ)

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
