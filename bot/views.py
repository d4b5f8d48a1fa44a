"""Views: the persistent answer buttons (sources, feedback), the documents pager, the reindex offer.

Answer buttons follow discord.py's examples/views/persistent.py: ``timeout=None``, a fixed
``custom_id`` on every item and one instance registered with ``Bot.add_view`` in ``setup_hook``.
The buttons carry no state; the answer they belong to is looked up by the message id in the
feedback store, so they keep working after a restart.
"""

from __future__ import annotations

from typing import Sequence

import discord

from .render import button_label, page_count, render_documents

SOURCE_PREFIX = "citebot:src:"
VOTE_UP = "citebot:vote:up"
VOTE_DOWN = "citebot:vote:down"
MAX_SOURCE_BUTTONS = 10  # two rows of five; the third row holds the votes


class ReportingView(discord.ui.View):
    """A view whose callbacks' errors reach the user like a command's (one ephemeral line, logged),
    instead of discord.py's default of only logging them: the clicker would be left with "This
    interaction failed" or, after a defer, a "thinking…" message that never resolves."""

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        await interaction.client.report_interaction_error(interaction, error)  # type: ignore[attr-defined]


class SourceButton(discord.ui.Button):
    """``[n] title``: shows citation n of this answer in context (ephemeral)."""

    def __init__(self, number: int, title: str | None = None):
        super().__init__(
            style=discord.ButtonStyle.secondary,
            label=button_label(number, title),
            custom_id=f"{SOURCE_PREFIX}{number}",
            row=(number - 1) // 5,
        )
        self.number = number

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Sources")  # type: ignore[union-attr]
        await cog.show_citation(interaction, self.number)


class VoteButton(discord.ui.Button):
    """👍 / 👎 on an answer."""

    def __init__(self, vote: int):
        super().__init__(
            style=discord.ButtonStyle.secondary,
            emoji="👍" if vote > 0 else "👎",
            custom_id=VOTE_UP if vote > 0 else VOTE_DOWN,
            row=2,
        )
        self.vote = vote

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Feedback")  # type: ignore[union-attr]
        await cog.record_vote(interaction, self.vote)


class AnswerView(ReportingView):
    """Buttons under an answer: one per citation, then 👍/👎.

    Args:
        sources: ``(number, title)`` per citation shown as a button (at most 10).
        votes: include the feedback buttons.
    """

    def __init__(self, sources: Sequence[tuple[int, str | None]] = (), *, votes: bool = True):
        super().__init__(timeout=None)
        for number, title in list(sources)[:MAX_SOURCE_BUTTONS]:
            self.add_item(SourceButton(number, title))
        if votes:
            self.add_item(VoteButton(1))
            self.add_item(VoteButton(-1))

    @classmethod
    def persistent(cls) -> "AnswerView":
        """The instance registered at start-up: every custom_id an answer can carry."""
        return cls([(n, None) for n in range(1, MAX_SOURCE_BUTTONS + 1)], votes=True)


class DocumentsPager(ReportingView):
    """◀ / ▶ through the indexed documents; only the person who asked can page."""

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
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("Run /sources yourself to page through the list.", ephemeral=True)
            return False
        return True

    async def _show(self, interaction: discord.Interaction, delta: int) -> None:
        self.page = min(max(self.page + delta, 0), self.pages - 1)
        self._sync_buttons()
        await interaction.response.edit_message(**self.reply().kwargs(), view=self)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, -1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._show(interaction, +1)


class ReindexOfferView(ReportingView):
    """"Reindex now" after ``/corpus add``; admin-only like the command."""

    def __init__(self, *, timeout: float = 600):
        super().__init__(timeout=timeout)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        from .checks import interaction_is_admin

        if not interaction_is_admin(interaction):
            await interaction.response.send_message(
                "Only members with Manage Server or a configured admin role can do that.", ephemeral=True
            )
            return False
        return True

    @discord.ui.button(label="Reindex now", style=discord.ButtonStyle.primary, emoji="🔄")
    async def reindex(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        button.disabled = True
        self.stop()
        cog = interaction.client.get_cog("Admin")  # type: ignore[union-attr]
        await cog.run_reindex(interaction, rebuild=False)
