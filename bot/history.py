"""Fetching a guild's channels, forum posts and threads through discord.py into DCE JSON exports.

:class:`HistoryFetcher` reads a source channel (text, announcement or forum) with its threads
(active, archived public, archived private the bot may list), or a single thread, through
``channel.history(after=..., oldest_first=True)``, and merges what it got into the channel's export
(see :mod:`bot.history_store`). The next fetch asks only for messages after the last one fetched,
less the ``recheck`` most recent stored ones, which are read again to see their edits and
deletions. discord.py sleeps through rate limits (429) itself; when it gives up on a request (five
429s or server errors in a row) the fetch waits and resumes after the last message it received.

Message content is stored as text, never interpreted; the bot escapes it when quoting.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import aiohttp
import discord

from .history_store import GuildArchive, MergeResult

log = logging.getLogger("citebot.history")

# discord.py channel types -> DCE "ChannelKind" names
KINDS = {
    discord.ChannelType.text: "GuildTextChat",
    discord.ChannelType.news: "GuildNews",
    discord.ChannelType.forum: "GuildForum",
    discord.ChannelType.public_thread: "GuildPublicThread",
    discord.ChannelType.private_thread: "GuildPrivateThread",
    discord.ChannelType.news_thread: "GuildNewsThread",
}
# only messages people wrote: joins, pins, "thread created" notices carry no knowledge
KEPT_TYPES = {discord.MessageType.default: "Default", discord.MessageType.reply: "Reply"}
CHECKPOINT = 5000  # messages fetched between two writes of the export (an interrupted fetch resumes)
SOURCE_KINDS = (discord.TextChannel, discord.ForumChannel)  # announcement channels are TextChannels


@dataclass
class Progress:
    """Where a fetch is: passed to the progress callback after every page of messages."""

    channel: str  # name of the channel or thread being read
    done_channels: int
    total_channels: int
    messages: int  # messages received so far in this fetch
    started: float = field(default_factory=time.perf_counter)

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.messages / elapsed if elapsed > 0 else 0.0


ProgressFn = Callable[[Progress], Awaitable[None] | None]


@dataclass
class FetchReport:
    """What a fetch did, for the status message and the log."""

    channels: int = 0
    messages: int = 0  # messages received from Discord
    added: int = 0
    edited: int = 0
    deleted: int = 0
    dropped: int = 0
    skipped: list[str] = field(default_factory=list)  # "#name: reason", one per channel left out
    resumed: int = 0  # times the fetch resumed after discord.py gave up on a request
    seconds: float = 0.0

    def add(self, r: MergeResult) -> None:
        self.added += r.added
        self.edited += r.edited
        self.deleted += r.deleted
        self.dropped += r.dropped


def kind_of(channel: object) -> str:
    return KINDS.get(getattr(channel, "type", None), "GuildTextChat")


def header(channel: discord.abc.GuildChannel | discord.Thread) -> dict:
    """The export's ``guild`` and ``channel`` objects, as DiscordChatExporter writes them (for a
    thread, ``categoryId``/``category`` are its parent channel)."""
    guild = channel.guild
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        cat_id, cat = channel.parent_id, getattr(parent, "name", None)
    else:
        cat_id, cat = channel.category_id, getattr(channel.category, "name", None)
    return {
        "guild": {"id": str(guild.id), "name": guild.name, "iconUrl": None},
        "channel": {"id": str(channel.id), "type": kind_of(channel), "categoryId": str(cat_id) if cat_id else None,
                    "category": cat, "name": channel.name, "topic": getattr(channel, "topic", None)},
    }


def _mention_names(message: discord.Message) -> Callable[[re.Match], str]:
    users = {u.id: u.display_name for u in message.mentions}
    roles = {r.id: r.name for r in message.role_mentions}
    guild = message.guild

    def name(m: re.Match) -> str:
        kind, i = m.group(1), int(m.group(2))
        if kind in ("@", "@!"):
            return f"@{users.get(i, 'unknown-user')}"
        if kind == "@&":
            return f"@{roles.get(i, 'unknown-role')}"
        ch = guild.get_channel_or_thread(i) if guild is not None else None
        return f"#{ch.name if ch is not None else 'unknown-channel'}"

    return name


def plain_content(message: discord.Message) -> str:
    """The message text with mentions as names (``@Ada``, ``#help``) and custom emoji as
    ``:name:``, like DiscordChatExporter's plain-text rendering: no raw ``<@id>`` reaches the index."""
    text = re.sub(r"<(@!?|@&|#)(\d+)>", _mention_names(message), message.content or "")
    return re.sub(r"<a?:(\w+):\d+>", r":\1:", text)


def _person(user: discord.abc.User) -> dict:
    return {"id": str(user.id), "name": user.name, "discriminator": "0000", "nickname": user.display_name,
            "color": None, "isBot": bool(user.bot), "avatarUrl": None}


def to_dce(message: discord.Message) -> dict:
    """One message as a DiscordChatExporter JSON message object."""
    out = {
        "id": str(message.id),
        "type": KEPT_TYPES.get(message.type, message.type.name),
        "timestamp": message.created_at.isoformat(),
        "timestampEdited": message.edited_at.isoformat() if message.edited_at else None,
        "callEndedTimestamp": None,
        "isPinned": bool(message.pinned),
        "content": plain_content(message),
        "author": _person(message.author),
        "attachments": [{"id": str(a.id), "url": a.url, "fileName": a.filename, "fileSizeBytes": a.size}
                        for a in message.attachments],
        "embeds": [],
        "stickers": [],
        "reactions": [],
        "mentions": [_person(u) for u in message.mentions],
    }
    ref = message.reference
    if ref is not None and ref.message_id is not None:
        out["reference"] = {"messageId": str(ref.message_id), "channelId": str(ref.channel_id),
                            "guildId": str(ref.guild_id) if ref.guild_id else None}
    return out


def keep(message: discord.Message, *, me: int | None, forgotten: set[int]) -> bool:
    """Messages worth storing: written by people (or other bots), not by citebot itself (its answers
    quote the corpus), not by a forgotten user, and not system notices."""
    return message.type in KEPT_TYPES and message.author.id != me and message.author.id not in forgotten


def _retryable(error: BaseException) -> bool:
    if isinstance(error, discord.RateLimited):
        return True
    if isinstance(error, discord.HTTPException):
        return error.status == 429 or error.status >= 500
    return isinstance(error, (aiohttp.ClientError, asyncio.TimeoutError, OSError))


def readable_by_bot(channel: discord.abc.GuildChannel | discord.Thread) -> str | None:
    """Why the bot cannot read ``channel``'s history, or None when it can."""
    me = channel.guild.me
    if me is None:
        return "the bot is not a member of this server"
    perms = channel.permissions_for(me)
    if not perms.view_channel:
        return "the bot cannot see this channel"
    if not perms.read_message_history:
        return "the bot lacks Read Message History here"
    return None


class HistoryFetcher:
    """Fetches channels into a :class:`GuildArchive`.

    Args:
        me: the bot's user id (its own messages are not stored).
        recheck: how many of the most recent stored messages each fetch reads again for edits and
            deletions (0: only new messages).
        resume_tries: how many times one channel's fetch resumes after discord.py gave up on a
            request, before the channel is reported as skipped.
        resume_delay: seconds before the first resume; doubled each time.
    """

    def __init__(self, me: int | None, *, recheck: int = 50, resume_tries: int = 5, resume_delay: float = 1.0):
        self.me = me
        self.recheck = recheck
        self.resume_tries = resume_tries
        self.resume_delay = resume_delay

    async def threads_of(self, channel: discord.TextChannel | discord.ForumChannel, archive: GuildArchive,
                         report: FetchReport) -> list[discord.Thread]:
        """Active and archived threads (forum posts) of ``channel`` the bot can list; archived threads
        unchanged since the last fetch are left out (their history was read then)."""
        found: dict[int, discord.Thread] = {}
        try:
            active = await channel.guild.active_threads()
        except discord.HTTPException:
            active = list(channel.guild.threads)
        for t in active:
            if t.parent_id == channel.id:
                found[t.id] = t
        listings = [dict()]
        perms = channel.permissions_for(channel.guild.me)
        if getattr(channel, "type", None) is discord.ChannelType.text:  # announcement channels have no private threads
            listings.append({"private": True} if perms.manage_threads else {"private": True, "joined": True})
        for kw in listings:
            try:
                async for t in channel.archived_threads(limit=None, **kw):
                    last = archive.last_id(t.id)
                    if last is not None and (t.last_message_id or 0) <= last and t.id not in found:
                        continue  # archived and nothing new since we read it
                    found.setdefault(t.id, t)
            except discord.Forbidden:
                report.skipped.append(f"#{channel.name}: archived {'private ' if kw else ''}threads not listable")
        return [t for _, t in sorted(found.items()) if not archive.is_excluded(t.id)]

    async def fetch_source(self, archive: GuildArchive, channel: discord.abc.GuildChannel | discord.Thread,
                           progress: ProgressFn | None = None) -> FetchReport:
        """Fetch ``channel`` (text, announcement, forum or a thread) and its threads into ``archive``.

        Raises ValueError with a one-line reason when the channel itself cannot be read.
        """
        report = FetchReport()
        started = time.perf_counter()
        if not isinstance(channel, (*SOURCE_KINDS, discord.Thread)):
            raise ValueError("only text, announcement and forum channels or threads can be added")
        problem = readable_by_bot(channel)
        if problem:
            raise ValueError(problem)
        targets: list = [] if isinstance(channel, discord.ForumChannel) else [channel]
        if isinstance(channel, SOURCE_KINDS):
            targets += await self.threads_of(channel, archive, report)
        state = Progress(channel.name, 0, len(targets), 0)
        for target in targets:
            state.channel = target.name
            await self.fetch_one(archive, target, report, state, progress)
            state.done_channels += 1
            await _call(progress, state)
        archive.save_state()
        report.seconds = time.perf_counter() - started
        return report

    async def fetch_one(self, archive: GuildArchive, target, report: FetchReport, state: Progress,
                        progress: ProgressFn | None = None) -> None:
        """Fetch one channel or thread: new messages plus the re-checked recent ones, merged."""
        if archive.is_excluded(target.id):
            return
        if (problem := readable_by_bot(target)) is not None:
            report.skipped.append(f"#{target.name}: {problem}")
            return
        floor = archive.recheck_floor(target.id, self.recheck)
        cursor, seen, batch, tries = floor, set(), [], 0
        head = header(target)
        private = getattr(target, "type", None) is discord.ChannelType.private_thread
        parent = getattr(target, "parent_id", None)
        forgotten = archive.forgotten
        while True:
            try:
                async for m in target.history(limit=None, after=discord.Object(id=cursor), oldest_first=True):
                    cursor = m.id
                    seen.add(m.id)
                    state.messages += 1
                    report.messages += 1
                    if keep(m, me=self.me, forgotten=forgotten):
                        batch.append(to_dce(m))
                    if len(batch) >= CHECKPOINT:
                        report.add(archive.merge(target.id, head, batch))
                        archive.note_channel(target.id, name=target.name, kind=kind_of(target), parent_id=parent,
                                             private=private, last_id=cursor)
                        archive.save_state()
                        batch = []
                    if state.messages % 100 == 0:
                        await _call(progress, state)
                break
            except discord.Forbidden as e:
                report.skipped.append(f"#{target.name}: Discord refused ({e.status})")
                return
            except Exception as e:
                if not _retryable(e):
                    raise
                tries += 1
                if tries > self.resume_tries:
                    report.skipped.append(f"#{target.name}: Discord kept failing; fetched up to message {cursor}")
                    break
                report.resumed += 1
                delay = self.resume_delay * 2 ** (tries - 1)
                log.info("fetching #%s: %s; resuming after message %s in %.1f s", target.name, type(e).__name__,
                         cursor, delay)
                await asyncio.sleep(delay)
        complete = tries <= self.resume_tries
        # deletions are only known when the whole window after ``floor`` was read
        report.add(archive.merge(target.id, head, batch, seen=seen if complete else None,
                                 floor=floor if complete else None))
        archive.note_channel(target.id, name=target.name, kind=kind_of(target), parent_id=parent, private=private,
                             last_id=cursor or None)
        report.channels += 1


async def _call(progress: ProgressFn | None, state: Progress) -> None:
    if progress is None:
        return
    out = progress(state)
    if asyncio.iscoroutine(out):
        await out



def record_edit(archive: GuildArchive, message: discord.Message, *, me: int | None) -> bool:
    """MESSAGE_UPDATE while running: store the edited message in its channel's export (if stored)."""
    if not keep(message, me=me, forgotten=archive.forgotten):
        return False
    return archive.apply_edit(message.channel.id, to_dce(message))
