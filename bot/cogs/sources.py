"""Sources: ``/source`` (with autocomplete), ``/sources`` and the "Show sources" menu, each over the
knowledge base of the place it is used in (the citation buttons are in :mod:`bot.buttons`).

Documents from Discord channels the user can't read now are as if they did not exist here
(:mod:`bot.visibility`): not listed, not offered, not shown.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from retrieval.errors import DocumentNotFound

from ..buttons import ELSEWHERE, stored_here
from ..render import escape, render_answer_sources, render_source, truncate
from ..views import DocumentsPager
from ..visibility import discord_places

if TYPE_CHECKING:
    from ..client import CiteBot

NONE = discord.AllowedMentions.none()


class Sources(commands.Cog):
    """Shows where answers come from."""

    def __init__(self, bot: "CiteBot"):
        self.bot = bot
        # context menus can't be declared with a decorator inside a cog; add it by hand
        self.show_sources_menu = app_commands.ContextMenu(name="Show sources", callback=self.show_sources)
        self.bot.tree.add_command(self.show_sources_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.show_sources_menu.name, type=self.show_sources_menu.type)

    # ------------------------------------------------------------------ /source

    @app_commands.command(name="source", description="Show a document, or one paragraph of it with its neighbours.")
    @app_commands.describe(document="Document id (start typing to search)", paragraph="Paragraph number", private="Only you see it")
    async def source(
        self,
        interaction: discord.Interaction,
        document: str,
        paragraph: app_commands.Range[int, 1, None] | None = None,
        private: bool = True,
    ) -> None:
        """``/source document:<id> [paragraph:<n>]``."""
        kb = self.bot.require_kb(interaction)
        await interaction.response.defer(ephemeral=private, thinking=True)
        seen = self.bot.visibility(interaction.guild, interaction.user,
                                   reply_channel=None if private else interaction.channel)
        try:
            # the core looks the document up (and suggests near misses) among what this user may see
            visible = (await seen.doc_filter(await self.bot.in_kb(kb.name, discord_places))).for_engine()
            view = await self.bot.in_kb(kb.name, lambda e: e.source(document, paragraph, 1, visible=visible))
        except DocumentNotFound as e:
            # the message quotes what the user typed: escaped, and shown to them only
            text = f"{truncate(escape(str(e)), 300)} — try /sources for the list."
            await self._error_after_defer(interaction, text, deferred_public=not private)
            return
        reply = render_source(view)
        await interaction.followup.send(**reply.kwargs(), ephemeral=private, allowed_mentions=NONE)

    async def _error_after_defer(self, interaction: discord.Interaction, text: str, *, deferred_public: bool) -> None:
        """An error only the user sees, after a defer.

        The first follow-up after a public defer fills in the public "thinking" message and its
        ephemeral flag is ignored (Discord can't turn a message ephemeral). So that message is
        deleted first; the follow-up is then a new message, and ephemeral.
        """
        if deferred_public:
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                # it could not be removed: fill it in rather than leave it "thinking" forever
                await interaction.edit_original_response(content=text, allowed_mentions=NONE)
                return
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NONE)

    @source.autocomplete("document")
    async def document_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """Document ids of this place's knowledge base whose id or title contains what was typed (at most 25)."""
        kb = self.bot.kb_here(interaction.guild_id, interaction.channel)
        if kb is None:
            return []
        docs = await self.bot.in_kb(kb.name, lambda e: e.documents())
        docs = await self.bot.visibility(interaction.guild, interaction.user).filter_documents(docs)
        needle = current.lower().strip()
        out = []
        for d in docs:
            doc_id = str(d.get("doc_id"))
            title = d.get("title") or ""
            if len(doc_id) > 100:  # Discord's limit for a choice value
                continue
            if needle and needle not in doc_id.lower() and needle not in title.lower():
                continue
            name = truncate(f"{doc_id} — {title}" if title else doc_id, 100)
            out.append(app_commands.Choice(name=name, value=doc_id))
            if len(out) == 25:
                break
        return out

    # ------------------------------------------------------------------ /sources

    @app_commands.command(name="sources", description="List the indexed documents.")
    async def sources(self, interaction: discord.Interaction) -> None:
        """``/sources``: a paginated, ephemeral list of this place's knowledge base's documents."""
        kb = self.bot.require_kb(interaction)
        docs = await self.bot.in_kb(kb.name, lambda e: e.documents())
        docs = await self.bot.visibility(interaction.guild, interaction.user).filter_documents(docs)
        docs = sorted(docs, key=lambda d: str(d.get("doc_id")))
        pager = DocumentsPager(docs, interaction.user.id, per_page=self.bot.config.documents_per_page)
        sent = await interaction.response.send_message(
            **pager.reply().kwargs(), view=pager, ephemeral=True, allowed_mentions=NONE
        )
        # the ephemeral message, edited with this interaction's token to grey the buttons out at timeout
        pager.message = sent.resource

    # ------------------------------------------------------------------ context menu

    async def show_sources(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Message menu "Show sources" on one of the bot's answers (of this place's knowledge base)."""
        kb = self.bot.require_kb(interaction)
        record = await asyncio.to_thread(self.bot.store.get_answer, message.id)
        if record is not None and not stored_here(record, interaction):
            record = None  # another place's (or another member's private) answer: as if unknown
        if record is not None and record.kb != kb.name:
            await interaction.response.send_message(ELSEWHERE, ephemeral=True, allowed_mentions=NONE)
            return
        if record is None:
            text = (
                "I have no sources for that message."
                if message.author.id == self.bot.user.id
                else "That message isn't one of my answers."
            )
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NONE)
            return
        if not record.results:
            await interaction.response.send_message(
                "That answer had no sources: the corpus did not cover the question.", ephemeral=True, allowed_mentions=NONE
            )
            return
        # the numbers stay those of the answer; what this member may not read is left out
        results, also_in = await self.bot.visibility(interaction.guild, interaction.user).filter_stored(
            record.results, record.also_in)
        if not results and not also_in:
            await interaction.response.send_message(
                "You can't read the channels this answer's sources come from.", ephemeral=True, allowed_mentions=NONE)
            return
        reply = render_answer_sources(record.question, results, also_in)
        await interaction.response.send_message(**reply.kwargs(), ephemeral=True, allowed_mentions=NONE)


async def setup(bot: "CiteBot") -> None:
    await bot.add_cog(Sources(bot))
