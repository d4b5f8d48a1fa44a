"""Feedback: the 👍/👎 buttons under answers."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

if TYPE_CHECKING:
    from ..client import CiteBot

NONE = discord.AllowedMentions.none()


class Feedback(commands.Cog):
    """Stores votes on answers (see :mod:`bot.feedback`)."""

    def __init__(self, bot: "CiteBot"):
        self.bot = bot

    async def record_vote(self, interaction: discord.Interaction, vote: int) -> None:
        """Store the clicking user's vote on the answer the button sits under (a later click changes it)."""
        message = interaction.message
        ok = message is not None and await asyncio.to_thread(self.bot.store.vote, message.id, interaction.user.id, vote)
        if not ok:
            text = "I no longer have a record of this answer, so I can't store the vote."
        elif vote > 0:
            text = "Thanks! 👍 recorded."
        else:
            text = "Thanks — 👎 recorded. It helps to improve the answers."
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NONE)


async def setup(bot: "CiteBot") -> None:
    await bot.add_cog(Feedback(bot))
