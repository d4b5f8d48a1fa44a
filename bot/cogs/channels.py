"""Discord history as a source: ``/corpus channel add|remove|list|fetch`` (admins) and ``/forget-me``.

The channel commands are a subgroup of the Admin cog's ``/corpus`` group when that group is loaded
(discord.py allows adding a class-based group to another cog's group at run time; this extension
must then be loaded after ``bot.cogs.admin``). Without it they form a ``/channels`` group. Either
way the admin check (``checks.require_admin``, as for ``/reindex``) runs in
:meth:`ChannelGroup.interaction_check` and again per knowledge base in the handlers, not only in
Discord's UI: a channel is added to the knowledge base answering in it, and only by an admin of
that knowledge base (one serving this guild alone, or the bot's owners).

Exports go to ``<corpus>/_discord/<guild>/<channel>.json`` in the corpus folder of that knowledge
base; ``/reindex`` of a knowledge base first fetches what is new in its channels (:meth:`Channels.refresh_kb`).

Edits and deletions seen on the gateway while the bot runs are applied to the stored exports.
All file work for one guild's archive is serialised by a lock: an edit that arrives during a fetch
is applied after the fetch wrote its (possibly older) copy of the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import discord
from discord import app_commands
from discord.ext import commands

from retrieval.ingest.formats.discord import message_text
from retrieval.serve.kb import KnowledgeBase
from retrieval.config import local_folder

from ..checks import NotAdmin, interaction_is_admin, require_admin
from ..history import FetchReport, HistoryFetcher, Progress, record_edit
from ..history_store import FOLDER, GuildArchive, guild_folder
from ..visibility import citation_place
from ..render import escape, render_text
from .admin import edit_or_post

if TYPE_CHECKING:
    from ..client import CiteBot

log = logging.getLogger("citebot.channels")
NONE = discord.AllowedMentions.none()
CHANNEL_TYPES = [discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.forum,
                 discord.ChannelType.public_thread, discord.ChannelType.private_thread, discord.ChannelType.news_thread]


class ChannelOrThread(app_commands.Transformer):
    """A text/announcement/forum channel or a thread, archived ones included: discord.py's own
    channel options only resolve what is cached, and archived threads are not."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return CHANNEL_TYPES

    async def transform(self, interaction: discord.Interaction, value) -> object:
        resolved = value.resolve() if hasattr(value, "resolve") else value
        if resolved is None:
            try:
                resolved = await value.fetch()
            except discord.HTTPException:
                raise app_commands.TransformerError(value, discord.AppCommandOptionType.channel, self) from None
        return resolved


Fetchable = app_commands.Transform[discord.abc.GuildChannel, ChannelOrThread]


def _name(channel: object) -> str:
    return f"#{escape(getattr(channel, 'name', '?'))}"


def summary_text(channel: object, r: FetchReport) -> str:
    """The final status line of a fetch."""
    text = (f"✅ {_name(channel)}: read {r.messages:,} messages from {r.channels} channel(s)/thread(s) in "
            f"{r.seconds:.1f} s — {r.added:,} new, {r.edited:,} edited, {r.deleted:,} deleted.")
    if r.dropped:
        text += f" {r.dropped:,} by people who asked to be forgotten were left out."
    if r.skipped:
        text += "\nSkipped: " + "; ".join(escape(s) for s in r.skipped[:5])
        if len(r.skipped) > 5:
            text += f" (and {len(r.skipped) - 5} more)"
    return text + "\nRun `/reindex` so these messages can be quoted."


class ChannelGroup(app_commands.Group):
    """``channel add|remove|list|fetch``: which channels' history is part of the knowledge base."""

    def __init__(self, cog: "Channels", name: str):
        super().__init__(name=name, description="Discord channels as a source (admins)", guild_only=True,
                         default_permissions=discord.Permissions(manage_guild=True))
        self.cog = cog

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        bot: CiteBot = interaction.client  # type: ignore[assignment]
        require_admin(interaction, bot.require_kb(interaction))  # the knowledge base of this place
        return True

    @app_commands.command(name="add", description="Index a text, announcement or forum channel (threads included).")
    @app_commands.describe(channel="The channel, forum or thread to read")
    async def add(self, interaction: discord.Interaction, channel: Fetchable) -> None:
        await self.cog.add_channel(interaction, channel)

    @app_commands.command(name="remove", description="Stop indexing a channel (or exclude one thread); its export is deleted.")
    @app_commands.describe(channel="The channel, forum or thread to leave out")
    async def remove(self, interaction: discord.Interaction, channel: Fetchable) -> None:
        await self.cog.remove_channel(interaction, channel)

    @app_commands.command(name="list", description="Channels indexed and excluded.")
    async def list_(self, interaction: discord.Interaction) -> None:
        await self.cog.list_channels(interaction)

    @app_commands.command(name="fetch", description="Fetch new messages of every added channel now.")
    async def fetch(self, interaction: discord.Interaction) -> None:
        await self.cog.fetch_all(interaction)


class Channels(commands.Cog):
    """Reads channels into the corpus; applies edits, deletions and ``/forget-me``."""

    def __init__(self, bot: "CiteBot"):
        self.bot = bot
        # most recent stored messages re-read by every fetch (edits, deletions)
        self.recheck = bot.config.history_recheck
        self.resume_delay = 1.0  # seconds before resuming a fetch discord.py gave up on
        self._archives: dict[tuple[Path, int], GuildArchive] = {}
        self._locks: dict[tuple[Path, int], asyncio.Lock] = {}
        self.events_applied = 0  # edits/deletions written to an export (for monitoring and tests)
        corpus = bot.tree.get_command("corpus")
        if isinstance(corpus, app_commands.Group):
            self.group = ChannelGroup(self, "channel")
            corpus.add_command(self.group)
            self._parent: app_commands.Group | None = corpus
        else:
            self.group = ChannelGroup(self, "channels")
            bot.tree.add_command(self.group)
            self._parent = None

    async def cog_unload(self) -> None:
        if self._parent is not None:
            self._parent.remove_command(self.group.name)
        else:
            self.bot.tree.remove_command(self.group.name)

    # ------------------------------------------------------------------ where exports go

    def corpora(self, guild_id: int, channel_id: int | None = None, parent_id: int | None = None) -> list[Path]:
        """The corpus folders of the knowledge bases serving this guild, first the one answering in
        ``channel_id`` (where its history goes): ``CiteBot.corpora_for_guild``."""
        return [Path(p) for p in self.bot.corpora_for_guild(guild_id, channel_id, parent_id)]

    def administered(self, interaction: discord.Interaction, channel: object | None = None) -> list[Path]:
        """:meth:`corpora` of the knowledge bases the user may administer from here (a server admin:
        those serving this guild alone)."""
        kbs = self.bot.kbs_for_guild(interaction.guild_id, getattr(channel, "id", None),
                                     getattr(channel, "parent_id", None))
        return [p for kb in kbs if interaction_is_admin(interaction, kb)
                and (p := local_folder(kb.settings.corpus)) is not None and p.is_dir()]

    def target(self, interaction: discord.Interaction, channel: object) -> KnowledgeBase | None:
        """The knowledge base a channel's history goes to: the one answering in that channel.
        :class:`NotAdmin` unless the user administers it; None when none serves it."""
        if getattr(channel, "guild", None) is not None and channel.guild.id != interaction.guild_id:
            raise NotAdmin()  # a channel of another server (forged option)
        kbs = self.bot.kbs_for_guild(interaction.guild_id, channel.id, getattr(channel, "parent_id", None))
        if not kbs:
            return None
        require_admin(interaction, kbs[0])
        return kbs[0]

    def archive(self, corpus: Path, guild_id: int) -> tuple[GuildArchive, asyncio.Lock]:
        key = (Path(corpus).resolve(), int(guild_id))
        if key not in self._archives:
            self._archives[key] = GuildArchive(key[0], key[1])
            self._locks[key] = asyncio.Lock()
        # /forget-me holds for the guild, so also for a knowledge base configured after it
        self._archives[key].guild_forgotten = self.bot.store.forgotten(guild_id)
        return self._archives[key], self._locks[key]

    def fetcher(self) -> HistoryFetcher:
        return HistoryFetcher(self.bot.user.id if self.bot.user else None, recheck=self.recheck,
                              resume_delay=self.resume_delay)

    # ------------------------------------------------------------------ status message

    async def _status(self, interaction: discord.Interaction, text: str) -> None:
        """Edit the (ephemeral) status message, or send it to the admin once the token expired; a
        failure is not the fetch's."""
        with contextlib.suppress(discord.HTTPException):
            await edit_or_post(interaction, text, private=True)

    def _progress(self, interaction: discord.Interaction, *, public: bool = False):
        """A progress callback editing the status message at most once per ``progress_interval``;
        a ``public`` status (``/reindex``'s) carries counts, never a channel's name."""
        loop = asyncio.get_running_loop()
        last = [0.0]

        async def show(p: Progress) -> None:
            if loop.time() - last[0] < self.bot.config.progress_interval and p.done_channels < p.total_channels:
                return
            last[0] = loop.time()
            where = "Discord channels" if public else f"#{escape(p.channel)}"
            text = (f"⏳ Reading {where}… {p.messages:,} messages so far ({p.rate:,.0f}/s), "
                    f"{p.done_channels}/{p.total_channels} channels and threads done.")
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(content=text, allowed_mentions=NONE)

        return show

    # ------------------------------------------------------------------ commands

    async def add_channel(self, interaction: discord.Interaction, channel: Fetchable) -> None:
        guild = interaction.guild
        kb = self.target(interaction, channel)
        folder = local_folder(kb.settings.corpus) if kb is not None else None
        if folder is None or not folder.is_dir():
            await interaction.response.send_message(
                "No knowledge base with a corpus folder serves that channel, so its history can't be stored.",
                ephemeral=True, allowed_mentions=NONE)
            return
        archive, lock = self.archive(folder, guild.id)
        # the status names the channel (maybe a private thread): the admin alone sees it
        await interaction.response.send_message(f"⏳ Reading {_name(channel)}…", ephemeral=True, allowed_mentions=NONE)
        async with lock:
            known = str(channel.id) in archive.sources
            archive.add_source(channel.id, channel.name, str(channel.type))
            try:
                report = await self.fetcher().fetch_source(archive, channel, self._progress(interaction))
            except ValueError as e:
                if not known:  # a channel the bot cannot read is not left behind as a source
                    archive.sources.pop(str(channel.id), None)
                    archive.save_state()
                await self._status(interaction, f"❌ {_name(channel)} was not added: {escape(str(e))}.")
                return
            except Exception:
                # what was fetched so far is kept (checkpoints); the status must not stay "⏳" forever
                log.exception("fetching #%s failed", channel.name)
                await self._status(interaction, f"❌ Reading {_name(channel)} failed; the error was logged. "
                                                "What was read so far is kept; `/corpus channel fetch` resumes.")
                return
        await self._status(interaction, summary_text(channel, report))

    async def remove_channel(self, interaction: discord.Interaction, channel: Fetchable) -> None:
        guild = interaction.guild
        deleted, was_source = 0, False
        for corpus in self.administered(interaction, channel):
            archive, lock = self.archive(corpus, guild.id)
            async with lock:
                s, d = archive.remove(channel.id)
            was_source, deleted = was_source or s, deleted + d
        verb = "removed" if was_source else "excluded (never fetched again)"
        await interaction.response.send_message(
            f"🗑️ {_name(channel)} {verb}; {deleted} export file(s) deleted. Run `/reindex` to drop its passages.",
            ephemeral=True, allowed_mentions=NONE)

    async def list_channels(self, interaction: discord.Interaction) -> None:
        guild = interaction.guild
        lines = []
        for corpus in self.administered(interaction):
            archive, _ = self.archive(corpus, guild.id)
            for cid, src in sorted(archive.sources.items()):
                threads = archive.children(int(cid))
                count = sum(int(archive.channel_state(c).get("messages") or 0) for c in [int(cid), *threads])
                lines.append(f"• <#{int(cid)}> ({escape(src.get('name'))}): {count:,} messages, {len(threads)} thread(s)")
            for cid in archive.state["excluded"]:
                lines.append(f"• <#{int(cid)}>: excluded")
        text = "\n".join(lines) if lines else "No channel is indexed: add one with `/corpus channel add`."
        await interaction.response.send_message(**render_text(text).kwargs(), ephemeral=True, allowed_mentions=NONE)

    async def fetch_all(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("⏳ Fetching new messages…", ephemeral=True, allowed_mentions=NONE)
        reports = []
        for corpus in self.administered(interaction):
            reports += await self.refresh_corpus(interaction.guild, corpus, self._progress(interaction))
        if not reports:
            await self._status(interaction, "No channel is indexed: add one with `/corpus channel add`.")
            return
        await self._status(interaction, "\n".join(summary_text(ch, r) for ch, r in reports))

    async def refresh_kb(self, kb: KnowledgeBase, interaction: discord.Interaction | None = None
                         ) -> list[tuple[object, FetchReport]]:
        """Fetch what is new in every channel exported into ``kb``'s corpus folder, for each guild
        there the bot is in (what ``/reindex`` does before building), showing progress on the
        interaction's message. Failures are logged, never raised: the reindex goes on."""
        corpus = local_folder(kb.settings.corpus)
        if corpus is None:  # websites and repositories only: no exports
            return []
        root = corpus / FOLDER
        if not root.is_dir():
            return []
        progress = self._progress(interaction, public=True) if interaction is not None else None
        out = []
        for folder in sorted(root.iterdir()):
            guild = self.bot.get_guild(int(folder.name)) if folder.name.isdigit() else None
            if guild is None or folder != guild_folder(corpus, guild.id):
                continue  # not a guild the bot is in (left, or an uploaded export): kept as it is
            out += await self.refresh_corpus(guild, corpus, progress)
        return out

    async def refresh_corpus(self, guild: discord.Guild, corpus: Path, progress=None) -> list[tuple[object, FetchReport]]:
        """Fetch what is new in every source of ``guild`` stored in ``corpus``."""
        out = []
        archive, lock = self.archive(corpus, guild.id)
        async with lock:
            for cid in list(archive.sources):
                channel = guild.get_channel_or_thread(int(cid))
                if channel is None:
                    with contextlib.suppress(discord.HTTPException):
                        channel = await guild.fetch_channel(int(cid))
                if channel is None:
                    log.warning("source channel %s of guild %s is gone; skipped", cid, guild.id)
                    continue
                try:
                    out.append((channel, await self.fetcher().fetch_source(archive, channel, progress)))
                except ValueError as e:
                    log.warning("cannot fetch #%s: %s", channel.name, e)
                except Exception:  # one channel's failure does not stop the others
                    log.exception("fetching #%s failed", channel.name)
        return out

    @app_commands.command(name="forget-me", description="Remove your messages from this server's knowledge base.")
    @app_commands.guild_only()
    async def forget_me(self, interaction: discord.Interaction) -> None:
        """``/forget-me``: drop the member's messages from every export of this guild, now and in
        every later fetch of any knowledge base; redact their words, name and questions in the
        stored answers and votes, and delete their votes. They leave the index at the next reindex."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id, user = int(interaction.guild_id), interaction.user
        # remembered first: a fetch that runs meanwhile skips them
        await asyncio.to_thread(self.bot.store.add_forgotten, guild_id, user.id)
        removed: list[dict] = []
        corpora = self.corpora(guild_id)
        for corpus in corpora:
            archive, lock = self.archive(corpus, guild_id)
            async with lock:
                removed += await asyncio.to_thread(archive.forget, user.id)
        names = {user.name, user.display_name, getattr(user, "global_name", None) or user.name}
        names |= {str((m.get("author") or {}).get("nickname") or "") for m in removed}

        def in_guild(entry: dict) -> bool:
            where = citation_place(entry.get("citation") or {}, entry.get("doc_id"))
            return where is not None and where[0] == guild_id

        changed = await asyncio.to_thread(self.bot.store.forget, guild_id, user.id,
                                          words=[message_text(m) for m in removed], names=sorted(names), in_guild=in_guild)
        await interaction.followup.send(forget_summary(len(removed), len(corpora), changed), ephemeral=True,
                                        allowed_mentions=NONE)

    # ------------------------------------------------------------------ gateway events

    async def _apply(self, guild_id: int | None, channel_id: int, change: Callable[[GuildArchive], object]) -> None:
        if guild_id is None:
            return
        for corpus in self.corpora(guild_id):
            archive, lock = self.archive(corpus, guild_id)
            async with lock:  # after a fetch in progress has written its copy
                if not archive.export_path(channel_id).exists():
                    continue
                if await asyncio.to_thread(change, archive):
                    self.events_applied += 1

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        me = self.bot.user.id if self.bot.user else None
        await self._apply(payload.guild_id, payload.channel_id, lambda a: record_edit(a, payload.message, me=me))

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._apply(payload.guild_id, payload.channel_id, lambda a: a.apply_delete(payload.channel_id, [payload.message_id]))

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await self._apply(payload.guild_id, payload.channel_id, lambda a: a.apply_delete(payload.channel_id, payload.message_ids))


def forget_summary(messages: int, corpora: int, changed: dict[str, int]) -> str:
    """What ``/forget-me`` removed, in one reply."""
    return (
        f"Done. Removed: {messages:,} of your messages from this server's stored history "
        f"({corpora:,} knowledge base(s)); {changed['quotes']:,} quote(s) of your words and "
        f"{changed['names']:,} mention(s) of your name in {changed['answers']:,} stored answer(s); "
        f"{changed['questions']:,} of your questions; {changed['votes']:,} of your vote(s). Your messages "
        "will not be read again by any knowledge base of this server. The index stops quoting them at "
        "its next reindex."
    )


async def setup(bot: "CiteBot") -> None:
    await bot.add_cog(Channels(bot))
