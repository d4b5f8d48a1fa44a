"""Websites and repositories as sources from Discord: ``/corpus site add|remove URL``, ``/corpus repo
add|remove URL`` and ``/corpus sources`` (admins of the knowledge base, as ``/corpus add``).

A source added here is kept in the knowledge base's ``index_dir/sources.json`` (one owner:
:mod:`retrieval.sources.added`) and fetched at its next build, with the address guard: a URL given
through Discord must be http(s) and must not resolve — now, and at every request and redirect of the
fetch — to a loopback, private, link-local, multicast or reserved address (a guild admin must not make
the bot read the host's own network). Sources of the config file are the operator's and are not
guarded. The commands are subgroups of the Admin cog's ``/corpus`` group (load this after it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from retrieval.config import format_duration
from retrieval.errors import ConfigError
from retrieval.sources.added import add as add_source
from retrieval.sources.added import added as added_sources
from retrieval.sources.added import remove as remove_source
from retrieval.sources.resolve import last_fetch
from retrieval.sources.spec import parse, specs
from retrieval.sources.urls import Refused, check_public

from ..checks import require_admin
from ..render import escape, render_text, truncate
from ..views import ReindexOfferView

if TYPE_CHECKING:
    from ..client import CiteBot

log = logging.getLogger("citebot.sources")
NONE = discord.AllowedMentions.none()
MAX_ADDED = 20  # sources one knowledge base may have from Discord


class _Group(app_commands.Group):
    def __init__(self, cog: "WebSources", name: str, what: str):
        super().__init__(name=name, description=f"{what} as a source (admins)", guild_only=True,
                         default_permissions=discord.Permissions(manage_guild=True))
        self.cog = cog

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        bot: CiteBot = interaction.client  # type: ignore[assignment]
        require_admin(interaction, bot.require_kb(interaction))
        return True


class SiteGroup(_Group):
    @app_commands.command(name="add", description="Index a documentation website (its pages under this address, "
                                                  "or a sitemap.xml).")
    @app_commands.describe(url="https://docs.example.org/guide/ or https://docs.example.org/sitemap.xml")
    async def add(self, interaction: discord.Interaction, url: str) -> None:
        await self.cog.add(interaction, url.strip(), "site")

    @app_commands.command(name="remove", description="Stop indexing a website added here.")
    @app_commands.describe(url="The address as added")
    async def remove(self, interaction: discord.Interaction, url: str) -> None:
        await self.cog.remove(interaction, url.strip())


class RepoGroup(_Group):
    @app_commands.command(name="add", description="Index a git repository's documentation folder.")
    @app_commands.describe(url="https://host/org/repo.git", branch="The branch (default: the repository's own)",
                           folder="The folder to read (default: all of it), e.g. docs")
    async def add(self, interaction: discord.Interaction, url: str, branch: str | None = None,
                  folder: str | None = None) -> None:
        await self.cog.add(interaction, repo_spec(url, branch, folder), "repo")

    @app_commands.command(name="remove", description="Stop indexing a repository added here.")
    @app_commands.describe(url="The source as /corpus sources lists it")
    async def remove(self, interaction: discord.Interaction, url: str) -> None:
        await self.cog.remove(interaction, url.strip())


def repo_spec(url: str, branch: str | None, folder: str | None) -> str:
    """pip's VCS form of a repository: ``git+https://host/org/repo.git@BRANCH#subdirectory=docs``."""
    url = url.strip().removeprefix("git+")
    spec = f"git+{url}" + (f"@{branch.strip()}" if branch and branch.strip() else "")
    folder = (folder or "").strip().strip("/")
    return spec + (f"#subdirectory={folder}" if folder else "")


def check_url(text: str, kind: str) -> str | None:
    """Why ``text`` cannot be added from Discord (one line), or None. Resolves the host: call off the loop."""
    try:
        spec = parse(text)
    except ConfigError as e:
        return str(e).removeprefix("corpus: ")
    if kind == "site" and spec.kind not in ("site", "sitemap"):
        return "Give a website address starting with https:// (or http://)."
    if kind == "repo" and (spec.kind != "git" or not spec.url.lower().startswith(("https://", "http://"))):
        return "Give a repository address starting with https://."
    try:
        check_public(spec.url)
    except Refused as e:
        return f"That address can't be added: {e}."
    return None


class WebSources(commands.Cog):
    """``/corpus site``, ``/corpus repo`` and ``/corpus sources``."""

    def __init__(self, bot: "CiteBot"):
        self.bot = bot
        corpus = bot.tree.get_command("corpus")
        self.parent = corpus if isinstance(corpus, app_commands.Group) else None
        self.groups = [SiteGroup(self, "site", "A website"), RepoGroup(self, "repo", "A git repository")]
        self.listing = _listing(self)
        if self.parent is not None:
            for g in self.groups:
                self.parent.add_command(g)
            self.parent.add_command(self.listing)

    async def cog_unload(self) -> None:
        if self.parent is not None:
            for name in ("site", "repo", "sources"):
                self.parent.remove_command(name)

    def _kb(self, interaction: discord.Interaction):
        kb = self.bot.require_kb(interaction)
        require_admin(interaction, kb)
        return kb

    async def add(self, interaction: discord.Interaction, text: str, kind: str) -> None:
        kb = self._kb(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)
        problem = await asyncio.to_thread(check_url, text, kind)
        if problem is None and len(added_sources(kb.settings.index_dir)) >= MAX_ADDED:
            problem = f"This knowledge base already has {MAX_ADDED} sources added from Discord; remove one first."
        if problem is not None:
            await interaction.followup.send(truncate(escape(problem), 1900), ephemeral=True, allowed_mentions=NONE)
            return
        new = await asyncio.to_thread(add_source, kb.settings.index_dir, text, kind, str(interaction.user.id))
        if not new:
            await interaction.followup.send(f"`{escape(text)}` is already a source.", ephemeral=True,
                                            allowed_mentions=NONE)
            return
        log.info("knowledge base %s: source %s added by %s", kb.name, text, interaction.user.id)
        admin = self.bot.get_cog("Admin")
        view = ReindexOfferView(kb, run=admin.run_reindex, busy=admin.busy) if admin is not None else None
        msg = (f"🌐 Added {escape(text)} to the sources; it is fetched at the next build. Reindex now?"
               if view is not None else f"🌐 Added {escape(text)}; it is fetched at the next build.")
        kwargs = {"view": view, "wait": True} if view is not None else {}
        sent = await interaction.followup.send(truncate(msg, 1900), ephemeral=True, allowed_mentions=NONE, **kwargs)
        if view is not None:
            view.message = sent

    async def remove(self, interaction: discord.Interaction, text: str) -> None:
        kb = self._kb(interaction)
        gone = await asyncio.to_thread(remove_source, kb.settings.index_dir, text)
        reply = (f"Removed {escape(text)}; its pages leave the index at the next build." if gone else
                 f"{escape(text)} is not a source added from Discord (see /corpus sources).")
        await interaction.response.send_message(truncate(reply, 1900), ephemeral=True, allowed_mentions=NONE)

    async def list_sources(self, interaction: discord.Interaction) -> None:
        kb = self._kb(interaction)
        reply = await asyncio.to_thread(sources_text, kb.settings)
        await interaction.response.send_message(**render_text(reply).kwargs(), ephemeral=True, allowed_mentions=NONE)


def _listing(cog: WebSources) -> app_commands.Command:
    """``/corpus sources``, made per cog (a command object belongs to one parent group)."""

    async def sources(interaction: discord.Interaction) -> None:
        await cog.list_sources(interaction)

    return app_commands.Command(name="sources", description="Websites and repositories indexed, with their last "
                                "fetch (admins).", callback=sources)


def sources_text(settings) -> str:
    """One line per source: where it comes from (config or Discord), and its last fetch."""
    mine = {a["source"] for a in added_sources(settings.index_dir)}
    lines = []
    try:
        all_specs = specs(settings.corpus, sorted(mine))
    except ConfigError as e:
        return escape(str(e))
    for spec in all_specs:
        origin = "added here" if spec.text in mine else "config"
        head = f"• {escape(spec.kind)} `{truncate(spec.text, 200).replace('`', '')}` ({origin})"
        if spec.kind == "folder":
            lines.append(head)
            continue
        last = last_fetch(settings.index_dir, spec)
        when = (f"fetched {format_duration(time.time() - last['when'])} ago: {escape(truncate(last['result'], 300))}"
                if last else "not fetched yet")
        lines.append(f"{head}\n  {when}")
    return truncate("**Sources**\n" + "\n".join(lines), 1900)


async def setup(bot: "CiteBot") -> None:
    await bot.add_cog(WebSources(bot))
