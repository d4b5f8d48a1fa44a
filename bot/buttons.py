"""The buttons under an answer: ``[n]`` (show citation n in context) and 👍/👎.

They are :class:`discord.ui.DynamicItem` (as in discord.py's examples/views/dynamic_counter.py),
registered once with ``Bot.add_dynamic_items``: the knowledge base and the number (or vote) are in
the ``custom_id`` (``citebot:src:<kb>:<n>``, ``citebot:vote:<kb>:up``), the answer itself is found
by the message id in the feedback store, so they work after a restart without any view in memory.
Ids without a knowledge base (answers posted before there were several) belong to the one the
stored answer names. A click is served only where that knowledge base still answers, and a source
from a Discord channel only to a member who can read that channel now (:mod:`bot.visibility`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from retrieval.errors import DocumentNotFound

from .checks import within_limit
from .render import button_label, render_source

if TYPE_CHECKING:
    from .client import CiteBot
    from .feedback import AnswerRecord

log = logging.getLogger("citebot.buttons")
NONE = discord.AllowedMentions.none()
KB_PART = r"(?:(?P<kb>[a-z0-9][a-z0-9_-]{0,31}):)?"  # retrieval.serve.kb.NAME_RE, optional
STALE_SOURCE = (
    "⚠️ This document changed since the answer was given: the quoted passage is no longer in this "
    "paragraph. Below is the paragraph as it is now."
)
GONE = "I no longer have the sources for this answer."
ELSEWHERE = "This answer comes from a knowledge base that is not served here."
UNREADABLE = "That source is from a channel you can't read."


def source_id(kb: str, number: int) -> str:
    return f"citebot:src:{kb}:{number}"


def vote_id(kb: str, vote: int) -> str:
    return f"citebot:vote:{kb}:{'up' if vote > 0 else 'down'}"


def stored_here(record: "AnswerRecord", interaction: discord.Interaction) -> bool:
    """Whether ``interaction`` may use the stored answer: it was posted in this guild and channel, and
    a private answer only by its asker. Discord delivers only components present on a message, but
    a forged payload naming another server's (or another member's private) answer must get nothing."""
    bot: CiteBot = interaction.client  # type: ignore[assignment]
    if record.guild_id != interaction.guild_id or record.channel_id != interaction.channel_id:
        return False
    user_id = getattr(interaction.user, "id", None)
    return not record.private or (user_id is not None and record.asker == bot.store.hash_user(user_id))


async def _answer_here(interaction: discord.Interaction, kb_name: str | None) -> tuple["AnswerRecord | None", str | None]:
    """The stored answer under the clicked message and a refusal when it may not be used here: it
    is unknown (or not this place's: :func:`stored_here`), or its knowledge base (from the button,
    else the record) does not serve this place."""
    bot: CiteBot = interaction.client  # type: ignore[assignment]
    message = interaction.message
    record = await asyncio.to_thread(bot.store.get_answer, message.id) if message is not None else None
    if record is None or not stored_here(record, interaction):
        return None, GONE
    kb = bot.kb_here(interaction.guild_id, interaction.channel)
    if kb is None or (kb_name or record.kb) != kb.name or record.kb != kb.name:
        return record, ELSEWHERE
    return record, None


async def show_citation(interaction: discord.Interaction, kb_name: str | None, number: int) -> None:
    """Button ``[n]`` under an answer: the passage in context, ephemeral. An "also in" source (a
    near-duplicate in another document) opens at its paragraph, without a quote to check."""
    bot: CiteBot = interaction.client  # type: ignore[assignment]
    await interaction.response.defer(ephemeral=True, thinking=True)
    record, refusal = await _answer_here(interaction, kb_name)
    r = record.source(number) if record is not None and refusal is None else None
    if r is None:
        await interaction.followup.send(refusal or GONE, ephemeral=True, allowed_mentions=NONE)
        return
    if not await bot.visibility(interaction.guild, interaction.user).allows(r.get("citation") or {}, r.get("doc_id")):
        await interaction.followup.send(UNREADABLE, ephemeral=True, allowed_mentions=NONE)
        return
    try:
        view = await bot.in_kb(record.kb, lambda e: e.source(r["doc_id"], r["paragraph"], 1))
    except DocumentNotFound:
        await interaction.followup.send(
            "That source is no longer in the index (the corpus changed since this answer).",
            ephemeral=True,
            allowed_mentions=NONE,
        )
        return
    reply = render_source(view, number=number, quote=r.get("quote"))
    quote = r.get("quote") or ""
    cited = next((p.text for p in view.paragraphs if p.number == view.paragraph), "")
    if quote.strip() and quote not in cited:
        # the document was edited and reindexed since the answer: don't pass the new text off as the quote
        reply.content = STALE_SOURCE
    await interaction.followup.send(**reply.kwargs(), ephemeral=True, allowed_mentions=NONE)


async def record_vote(interaction: discord.Interaction, kb_name: str | None, vote: int) -> None:
    """Store the clicking user's vote on the answer the button sits under (a later click changes it)."""
    bot: CiteBot = interaction.client  # type: ignore[assignment]
    record, refusal = await _answer_here(interaction, kb_name)
    if refusal is None and not await asyncio.to_thread(bot.store.vote, record.message_id, interaction.user.id, vote):
        refusal = GONE
    if refusal == GONE:
        text = "I no longer have a record of this answer, so I can't store the vote."
    elif refusal is not None:
        text = refusal
    elif vote > 0:
        text = "Thanks! 👍 recorded."
    else:
        text = "Thanks — 👎 recorded. It helps to improve the answers."
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NONE)


async def _reporting(interaction: discord.Interaction, action) -> None:
    """Await ``action``; its error reaches the clicker like a command's (one ephemeral line). discord.py
    only logs a dynamic item's errors: the clicker would be left with "This interaction failed" or a
    "thinking…" message that never resolves."""
    try:
        await action
    except Exception as e:
        await interaction.client.report_interaction_error(interaction, e)  # type: ignore[attr-defined]


class SourceButton(discord.ui.DynamicItem[discord.ui.Button], template=rf"citebot:src:{KB_PART}(?P<number>[0-9]{{1,3}})"):
    """``[n] title``: shows citation n of this answer in context (ephemeral)."""

    def __init__(self, kb: str | None, number: int, title: str | None = None, *, label: str | None = None):
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=label or button_label(number, title),
                custom_id=source_id(kb, number) if kb else f"citebot:src:{number}",
                row=(number - 1) // 5,
            )
        )
        self.kb, self.number = kb, number

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match) -> "SourceButton":
        return cls(match["kb"], int(match["number"]), label=item.label)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await within_limit(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _reporting(interaction, show_citation(interaction, self.kb, self.number))


class VoteButton(discord.ui.DynamicItem[discord.ui.Button], template=rf"citebot:vote:{KB_PART}(?P<vote>up|down)"):
    """👍 / 👎 on an answer."""

    def __init__(self, kb: str | None, vote: int):
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="👍" if vote > 0 else "👎",
                custom_id=vote_id(kb, vote) if kb else f"citebot:vote:{'up' if vote > 0 else 'down'}",
                row=2,
            )
        )
        self.kb, self.vote = kb, vote

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match) -> "VoteButton":
        return cls(match["kb"], 1 if match["vote"] == "up" else -1)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await within_limit(interaction)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _reporting(interaction, record_vote(interaction, self.kb, self.vote))
