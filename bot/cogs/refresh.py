"""Keeps knowledge bases current: builds on their ``reindex_every`` schedule and after their corpus
folder changes (``watch``), through :class:`retrieval.serve.schedule.Refresher`.

A build here and an admin's ``/reindex`` exclude each other (``Admin.busy`` sees these builds, and
:meth:`Refresh.busy` sees the admin's), so one knowledge base never has two builds at once; other
knowledge bases build alongside. Channel sources are fetched before each build, as for ``/reindex``.
The last build of every knowledge base (whatever started it) and the next scheduled one are shown
in ``/stats``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext import commands

from retrieval.serve.schedule import Build, Plan, Refresher

from .. import history_store

if TYPE_CHECKING:
    from ..client import CiteBot

log = logging.getLogger("citebot.refresh")


class Refresh(commands.Cog):
    """Scheduled and file-change builds."""

    def __init__(self, bot: "CiteBot"):
        self.bot = bot
        # the channel exports are rewritten before each build: counting those writes would start the
        # next build, which fetches again, and so on
        plans = [Plan.of(kb.name, kb.settings, ignore=(history_store.FOLDER,)) for kb in bot.registry.kbs]
        self.refresher = Refresher(plans, self._build, busy=self._admin_busy, prepare=self._fetch)

    async def cog_load(self) -> None:
        self.refresher.start()

    async def cog_unload(self) -> None:
        await self.refresher.close()  # on bot.close() too: discord.py unloads every extension

    def busy(self, name: str) -> bool:
        """A scheduled or watch build of ``name`` is running (or fetching its channels)."""
        return name in self.refresher.running

    def record(self, name: str, build: Build) -> None:
        """Record a build started elsewhere (``/reindex``) as ``name``'s latest."""
        self.refresher.record(name, build)

    def _admin_busy(self, name: str) -> bool:
        admin = self.bot.get_cog("Admin")
        return admin is not None and admin.busy(self.bot.registry.get(name), scheduled=False)

    async def _fetch(self, name: str) -> None:
        channels = self.bot.get_cog("Channels")
        if channels is not None:
            await channels.refresh_kb(self.bot.registry.get(name))

    async def _build(self, name: str, trigger: str):
        summary = await self.bot.in_kb(name, lambda e: e.reindex())
        self.bot.pool.resize(name)
        return summary


async def setup(bot: "CiteBot") -> None:
    await bot.add_cog(Refresh(bot))
