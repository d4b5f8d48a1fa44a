"""Views: the persistent answer buttons (sources, feedback), the documents pager, the reindex offer.

Answer buttons are dynamic items (:mod:`bot.buttons`): their custom_id carries the knowledge base
and the citation number, the answer is looked up by the message id in the feedback store, so they
keep working after a restart.

The pager and the reindex offer are short-lived: their buttons are disabled when they time out
(or, for the offer, once used), and :class:`ExpiredControls` answers clicks that still arrive.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Sequence

import discord

from .buttons import SourceButton, VoteButton
from .checks import NotAdmin, require_admin, within_limit
from .render import page_count, render_documents

log = logging.getLogger("citebot.views")

DOCS_PREVIOUS = "citebot:docs:previous"
DOCS_NEXT = "citebot:docs:next"
REINDEX_OFFER = "citebot:reindex:offer"
MAX_SOURCE_BUTTONS = 10  # two rows of five; the third row holds the votes
PAGER_EXPIRED = "This list has expired: run /sources again to page through the documents."
OFFER_EXPIRED = "This offer has expired or was already used: run /reindex to update the index."


class ReportingView(discord.ui.View):
    """A view whose callbacks' errors reach the user like a command's (one ephemeral line, logged),
    instead of discord.py's default of only logging them: the clicker would be left with "This
    interaction failed" or, after a defer, a "thinking…" message that never resolves."""

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        await interaction.client.report_interaction_error(interaction, error)  # type: ignore[attr-defined]

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await within_limit(interaction)  # every click counts against the user's limit


class ExpiringView(ReportingView):
    """A view with a timeout whose buttons are greyed out when it ends, so nobody is left clicking a
    button that no longer answers ("This interaction failed").

    ``message`` is the message carrying the view, set by whoever sends it: an
    :class:`~discord.InteractionMessage` or :class:`~discord.WebhookMessage`, edited with the
    token of the interaction that sent it (valid for 15 minutes, longer than any timeout here;
    ephemeral messages can only be edited that way). Clicks that still arrive afterwards (a client
    that had not refreshed, or a restart in between) reach :class:`ExpiredControls`.
    """

    message: Any = None

    async def expire(self) -> None:
        """Stop listening and edit the message to show every button disabled."""
        self.stop()
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        if self.message is None:
            return
        try:
            await self.message.edit(view=self)
        except discord.HTTPException as e:  # deleted, or the token expired: nothing left to grey out
            log.info("could not disable the buttons of message %s: HTTP %s, code %s", self.message.id, e.status, e.code)

    async def on_timeout(self) -> None:
        await self.expire()


class AnswerView(ReportingView):
    """Buttons under an answer: one per citation, then 👍/👎 (see :mod:`bot.buttons`).

    Args:
        kb: the knowledge base that answered (part of every button's custom_id).
        sources: ``(number, title)`` per citation shown as a button (at most 10).
        votes: include the feedback buttons.
    """

    def __init__(self, kb: str, sources: Sequence[tuple[int, str | None]] = (), *, votes: bool = True):
        super().__init__(timeout=None)
        for number, title in list(sources)[:MAX_SOURCE_BUTTONS]:
            self.add_item(SourceButton(kb, number, title))
        if votes:
            self.add_item(VoteButton(kb, 1))
            self.add_item(VoteButton(kb, -1))


class DocumentsPager(ExpiringView):
    """◀ / ▶ through the indexed documents; only the person who asked can page. The buttons are
    disabled after ``timeout`` seconds without a click."""

    def __init__(self, docs: list[dict], owner_id: int, *, per_page: int = 10, timeout: float = 300):
        super().__init__(timeout=timeout)
        self.docs, self.owner_id, self.per_page, self.page = docs, owner_id, per_page, 0
        self.pages = page_count(len(docs), per_page)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page <= 0
        self.next.disabled = self.page >= self.pages - 1

    def reply(self):
        return render_documents(self.docs, self.page, self.per_page)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not await within_limit(interaction):
            return False
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("Run /sources yourself to page through the list.", ephemeral=True)
            return False
        return True

    async def _show(self, interaction: discord.Interaction, delta: int) -> None:
        self.page = min(max(self.page + delta, 0), self.pages - 1)
        self._sync_buttons()
        await interaction.response.edit_message(**self.reply().kwargs(), view=self)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary, custom_id=DOCS_PREVIOUS)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, -1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary, custom_id=DOCS_NEXT)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, +1)


class ReindexOfferView(ExpiringView):
    """"Reindex now" after ``/corpus add``; admin-only like the command, over the same knowledge
    base. One use: the button is disabled once it started a reindex, or after ``timeout`` seconds.

    Args:
        kb: the knowledge base the file was added to.
        run: ``run(interaction, kb)`` starts the reindex (the Admin cog's, passed in: no cog lookup).
        busy: ``busy(kb)``: a reindex of it is running.
    """

    def __init__(self, kb: Any, run: Callable[[discord.Interaction, Any], Awaitable[None]],
                 busy: Callable[[Any], bool], *, timeout: float = 600):
        super().__init__(timeout=timeout)
        self.kb, self._run, self._busy = kb, run, busy

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not await within_limit(interaction):
            return False
        try:
            require_admin(interaction, self.kb)
        except NotAdmin as e:
            await interaction.response.send_message(str(e), ephemeral=True)
            return False
        return True

    @discord.ui.button(label="Reindex now", style=discord.ButtonStyle.primary, emoji="🔄", custom_id=REINDEX_OFFER)
    async def reindex(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        if self._busy(self.kb):
            # refused with "already running": the offer stays usable for when that run is over
            await self._run(interaction, self.kb)
            return
        # used up: grey the button out while the reindex runs (no await before the run marks
        # itself running, so a second click meanwhile is refused, not run twice)
        greying = asyncio.create_task(self.expire())
        try:
            await self._run(interaction, self.kb)
        finally:
            await greying


class ExpiredControls(ReportingView):
    """Catches clicks on buttons whose view is gone (timed out, used, or the bot restarted), which
    discord.py would otherwise drop, leaving "This interaction failed": one ephemeral line instead.

    Registered once with ``Bot.add_view`` and no message id; live views are registered under their
    message's id, which discord.py looks up first, so this only sees clicks nobody else handles.
    """

    def __init__(self) -> None:
        super().__init__(timeout=None)

    async def _expired(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    @discord.ui.button(label="◀ Previous", custom_id=DOCS_PREVIOUS)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._expired(interaction, PAGER_EXPIRED)

    @discord.ui.button(label="Next ▶", custom_id=DOCS_NEXT)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._expired(interaction, PAGER_EXPIRED)

    @discord.ui.button(label="Reindex now", custom_id=REINDEX_OFFER)
    async def reindex(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._expired(interaction, OFFER_EXPIRED)
