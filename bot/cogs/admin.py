"""Admin: ``/reindex``, ``/corpus add`` and ``/stats``, over the knowledge base of the place they
are used in.

Every command here is gated in :meth:`Admin.interaction_check` and again in its handler
(:meth:`Admin.authorize`): a configured admin user id, or Manage Server / a configured admin role
over a knowledge base that serves this guild alone (see ``checks.is_admin``).
``default_member_permissions`` only hides the commands in Discord's UI; server admins can change
that, so the handler check is what enforces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import discord
from discord import app_commands
from discord.ext import commands

from retrieval.errors import CitebotError, ReindexInProgress
from retrieval.serve.kb import KnowledgeBase
from retrieval.serve.schedule import Build
from retrieval.config import local_folder

from ..checks import require_admin
from ..render import (FIELD_VALUE, escape, render_progress, render_summary, render_text,
                      summary_has_details, truncate)
from ..stats import render_stats
from ..views import ReindexOfferView

if TYPE_CHECKING:
    from ..client import CiteBot

log = logging.getLogger("citebot.admin")
NONE = discord.AllowedMentions.none()
ALREADY_RUNNING = "A reindex is already running; wait for its summary before starting another."
REINDEX_FAILED = (
    "❌ Reindex failed; the details were sent to the admin who started it and logged.\n"
    "The previous index is still answering questions."
)


def safe_upload_name(filename: str, accepted: list[str]) -> tuple[str | None, str | None]:
    """``(problem, name)``: a refusal message, or the safe file name to save an upload under.

    Names with folders, parent references, drive letters, control characters or a leading dot are
    refused outright (not silently rewritten); other odd characters become ``_``.
    """
    # normalize first: a full-width dot (U+FF0E) must not become a leading "." after the check
    raw = unicodedata.normalize("NFKC", filename or "")
    if (
        not raw.strip()
        or any(sep in raw for sep in ("/", "\\", ":", "\x00"))
        or raw.strip() in (".", "..")
        or raw.startswith(".")
        or any(unicodedata.category(ch).startswith("C") for ch in raw)
    ):
        return "That file name is not allowed: use a plain name like `report.txt` (no folders, no leading dot).", None
    name = unicodedata.normalize("NFKC", raw).strip()
    name = re.sub(r"[^\w.\-]+", "_", name)
    name = re.sub(r"\.{2,}", ".", name)
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or f".{suffix.lower()}" not in accepted:
        return f"Only {', '.join(accepted)} files can be added to the corpus.", None
    if len(name) > 120:
        name = stem[: 119 - len(suffix)] + "." + suffix
    return None, name


def _write_atomic(target: Path, data: bytes, replace: bool) -> bool:
    """Write ``data`` to ``target`` via a temp file; False if it exists and ``replace`` is off."""
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if replace:
            os.replace(tmp, target)
        else:
            # link() fails if the name appeared meanwhile: no overwrite race
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


async def edit_or_post(interaction: discord.Interaction, text: str, *, private: bool = False) -> None:
    """Edit the command's status message to ``text``; once the interaction token has expired (15
    minutes: a long reindex or fetch), post it in the channel instead, or, for a ``private``
    (ephemeral) status, send it to the admin directly: it may name what the channel must not see."""
    reply = render_text(text)
    try:
        await interaction.edit_original_response(**reply.kwargs(), allowed_mentions=NONE)
    except discord.HTTPException:
        if private:
            with contextlib.suppress(discord.HTTPException):
                await interaction.user.send(**reply.kwargs(), allowed_mentions=NONE)
            return
        channel = interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            await channel.send(**reply.kwargs(), allowed_mentions=NONE)


class Admin(commands.Cog):
    """Index maintenance for admins."""

    def __init__(self, bot: "CiteBot"):
        self.bot = bot
        self._running: set[str] = set()  # knowledge bases being reindexed from here
        # called from the reindex worker thread with (done, total); for monitoring and tests
        self.progress_listeners: list[Callable[[int, int], None]] = []

    def authorize(self, interaction: discord.Interaction) -> KnowledgeBase:
        """The knowledge base of this place, when the user may administer it; else NotSetUp / NotAdmin."""
        kb = self.bot.require_kb(interaction)
        require_admin(interaction, kb)
        return kb

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        self.authorize(interaction)
        return True

    def busy(self, kb: KnowledgeBase, *, scheduled: bool = True) -> bool:
        """A reindex of ``kb`` is running: :meth:`run_reindex` would answer "already running".

        Args:
            scheduled: count the Refresh cog's scheduled and watch builds too.
        """
        engine = self.bot.pool.peek(kb.name)
        refresh = self.bot.get_cog("Refresh") if scheduled else None
        return (kb.name in self._running or (engine is not None and engine.reindexing)
                or (refresh is not None and refresh.busy(kb.name)))

    def _record(self, kb: KnowledgeBase, started: float, t0: float, summary=None, error=None) -> None:
        """The admin's build as ``kb``'s latest, for /stats (bot.cogs.refresh)."""
        refresh = self.bot.get_cog("Refresh")
        if refresh is not None:
            refresh.record(kb.name, Build.of("admin", started, time.monotonic() - t0, summary, error))

    # ------------------------------------------------------------------ /reindex

    @app_commands.command(name="reindex", description="Rebuild the index from the corpus folder (admins).")
    @app_commands.describe(rebuild="Re-embed every passage instead of reusing unchanged ones")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def reindex(self, interaction: discord.Interaction, rebuild: bool = False) -> None:
        """``/reindex [rebuild:<bool>]``."""
        await self.run_reindex(interaction, self.authorize(interaction), rebuild=rebuild)

    async def run_reindex(self, interaction: discord.Interaction, kb: KnowledgeBase, *, rebuild: bool = False) -> None:
        """Reindex ``kb`` off the event loop, editing a progress message, then post the summary.
        Other knowledge bases keep answering (and may reindex) meanwhile."""
        require_admin(interaction, kb)  # whoever called: the command or the offer button
        if self.busy(kb):
            await interaction.response.send_message(ALREADY_RUNNING, ephemeral=True, allowed_mentions=NONE)
            return
        self._running.add(kb.name)  # before the first await: a second click can't slip in
        try:
            await interaction.response.send_message(render_progress(None, None, rebuild=rebuild), allowed_mentions=NONE)
            fetched = await self._fetch_history(interaction, kb)
            loop = asyncio.get_running_loop()
            latest: list[tuple[int, int] | None] = [None]
            changed = asyncio.Event()

            def show(value: tuple) -> None:  # worker thread
                def set_latest() -> None:
                    latest[0] = value
                    changed.set()

                loop.call_soon_threadsafe(set_latest)

            def on_progress(done: int, total: int) -> None:  # files read
                show((done, total, "documents"))
                for listener in list(self.progress_listeners):
                    listener(done, total)

            def on_embedding(done: int, total: int) -> None:  # a long build's time goes here
                if total:
                    show((done, total, "passages"))

            def on_training(done: int, total: int) -> None:  # the query adapter (adapt = true)
                if total:
                    show((done, total, "training"))

            updater = asyncio.create_task(self._edit_progress(interaction, latest, changed, rebuild))
            details = None
            started, t0 = time.time(), time.monotonic()
            try:
                summary = await self.bot.in_kb(kb.name, lambda e: e.reindex(rebuild=rebuild, progress=on_progress,
                                                                              embedding=on_embedding,
                                                                              training=on_training))
                self.bot.pool.resize(kb.name)
            except ReindexInProgress:
                text = ALREADY_RUNNING
            except CitebotError as e:
                # the message can hold server paths: the channel gets a generic line, the admin the details
                log.warning("reindex of %s failed: %s", kb.name, e)
                text, details = REINDEX_FAILED, str(e)
                self._record(kb, started, t0, error=e)
            except Exception as e:  # keep the bot up; the old index stays in place
                log.exception("reindex of %s failed", kb.name)
                text, details = REINDEX_FAILED, f"{type(e).__name__}: {e}"
                self._record(kb, started, t0, error=e)
            else:
                # the channel sees counts; what was added, changed or skipped (names of documents,
                # private threads) goes to the admin alone
                text = fetched + render_summary(summary, details=False)
                details = render_summary(summary) if summary_has_details(summary) else None
                self._record(kb, started, t0, summary)
            finally:
                updater.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await updater
            await edit_or_post(interaction, text)
            if details is not None and text == REINDEX_FAILED:
                await self._failure_details(interaction, details)
            elif details is not None:
                await self._private(interaction, details)
        finally:
            self._running.discard(kb.name)

    async def _fetch_history(self, interaction: discord.Interaction, kb: KnowledgeBase) -> str:
        """Fetch what is new in ``kb``'s Discord channels first (bot.cogs.channels; progress on the
        status message), so the reindex quotes them: a line for the summary, or "" when none."""
        channels = self.bot.get_cog("Channels")
        try:
            reports = await channels.refresh_kb(kb, interaction) if channels is not None else []
        except Exception:  # the reindex of what is stored goes on
            log.exception("fetching the Discord history of %s failed", kb.name)
            return "⚠️ Fetching new Discord messages failed (logged); what was stored before is indexed.\n"
        if not reports:
            return ""
        new = sum(r.added for _, r in reports)
        changed = sum(r.edited + r.deleted for _, r in reports)
        return f"📥 Discord: {new:,} new message(s), {changed:,} edited or deleted, from {len(reports)} channel(s).\n"

    async def _edit_progress(self, interaction: discord.Interaction, latest: list, changed: asyncio.Event, rebuild: bool) -> None:
        """Edit the progress message with the newest (done, total), at most once per interval."""
        shown = None
        while True:
            await changed.wait()
            changed.clear()
            value = latest[0]
            if value is not None and value != shown:
                try:
                    await interaction.edit_original_response(content=render_progress(*value, rebuild=rebuild), allowed_mentions=NONE)
                    shown = value
                except discord.HTTPException as e:
                    log.warning("could not edit the reindex progress message: %s", e)
            if self.bot.config.progress_interval > 0:
                await asyncio.sleep(self.bot.config.progress_interval)

    async def _private(self, interaction: discord.Interaction, text: str) -> None:
        """``text`` (already escaped) to the admin who started the reindex only."""
        with contextlib.suppress(discord.HTTPException):
            await interaction.followup.send(**render_text(text).kwargs(), ephemeral=True, allowed_mentions=NONE)

    async def _failure_details(self, interaction: discord.Interaction, details: str) -> None:
        """Why the reindex failed, to the admin who started it only (escaped: it is the error's text)."""
        reply = render_text(f"Reindex failed: {escape(details)}")
        try:
            await interaction.followup.send(**reply.kwargs(), ephemeral=True, allowed_mentions=NONE)
        except discord.HTTPException:
            # the interaction token expired (a reindex longer than 15 minutes): the log has it
            log.info("could not send the reindex failure details to the admin; they are in the log above")

    # ------------------------------------------------------------------ /corpus add

    corpus = app_commands.Group(
        name="corpus",
        description="Manage the corpus (admins)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @corpus.command(name="add", description="Add a document (attachment) to the corpus folder.")
    @app_commands.describe(file="A document: .txt .md .html .pdf .docx .odt .rst, or a Discord export .json",
                           replace="Overwrite a file with the same name")
    async def corpus_add(self, interaction: discord.Interaction, file: discord.Attachment, replace: bool = False) -> None:
        """``/corpus add file:<attachment> [replace:<bool>]``: into this place's knowledge base."""
        kb = self.authorize(interaction)
        cfg = self.bot.config
        problem, name = safe_upload_name(file.filename, cfg.upload_types)
        if problem:
            await interaction.response.send_message(problem, ephemeral=True, allowed_mentions=NONE)
            return
        limit = int(cfg.upload_max_mb * 1024 * 1024)
        if file.size > limit:
            await interaction.response.send_message(
                f"That file is {file.size / 1048576:.1f} MB; the limit is {cfg.upload_max_mb:g} MB.", ephemeral=True
            )
            return
        folder = local_folder(kb.settings.corpus)
        if folder is None or not folder.is_dir():
            await interaction.response.send_message(
                "The corpus is not a folder, so files can't be added to it.", ephemeral=True
            )
            return
        target = folder / name
        if target.resolve().parent != folder.resolve():  # belt and braces after the name check
            await interaction.response.send_message("That file name is not allowed.", ephemeral=True)
            return
        if target.exists() and not replace:
            await interaction.response.send_message(
                f"`{name}` is already in the corpus; add `replace:True` to overwrite it.", ephemeral=True
            )
            return
        await interaction.response.defer(thinking=True)
        data = await file.read()
        if len(data) > limit:
            await interaction.followup.send(f"That file is larger than {cfg.upload_max_mb:g} MB.", allowed_mentions=NONE)
            return
        written = await asyncio.to_thread(_write_atomic, target, data, replace)
        if not written:
            await interaction.followup.send(f"`{name}` appeared in the corpus meanwhile; not overwritten.", allowed_mentions=NONE)
            return
        verb = "Replaced" if replace else "Saved"
        offer = ReindexOfferView(kb, run=self.run_reindex, busy=self.busy)
        # wait=True: the view is tied to this message's id, and the offer can grey its button out
        offer.message = await interaction.followup.send(
            f"📄 {verb} `{name}` ({len(data):,} bytes) in the corpus. Reindex now so it can be quoted?",
            view=offer,
            wait=True,
            allowed_mentions=NONE,
        )

    # ------------------------------------------------------------------ /stats

    @app_commands.command(name="stats", description="Index size and age, questions answered, latency (admins).")
    @app_commands.default_permissions(manage_guild=True)
    async def stats(self, interaction: discord.Interaction) -> None:
        """``/stats``: of this place's knowledge base."""
        kb = self.authorize(interaction)
        stats = await self.bot.in_kb(kb.name, lambda e: e.stats())
        answered = await asyncio.to_thread(self.bot.store.count_answers, kb.name)
        tally = await asyncio.to_thread(self.bot.store.tally, kb.name)
        reply = render_stats(stats, answered=answered, latencies=list(self.bot.metrics[kb.name].latencies), feedback=tally,
                             kb=kb.name)
        refresh = self.bot.get_cog("Refresh")
        if refresh is not None and reply.embeds:  # builds: bot.cogs.refresh
            last, upcoming = refresh.refresher.status(kb.name)
            reply.embeds[0].add_field(name="Last build", value=truncate(escape(last), FIELD_VALUE), inline=False)
            reply.embeds[0].add_field(name="Next build", value=truncate(escape(upcoming), FIELD_VALUE), inline=False)
        await interaction.response.send_message(**reply.kwargs(), ephemeral=True, allowed_mentions=NONE)


async def setup(bot: "CiteBot") -> None:
    await bot.add_cog(Admin(bot))
