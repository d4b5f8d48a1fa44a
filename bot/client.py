"""The bot: a ``commands.Bot`` that opens the retrieval engine and loads the cogs in ``setup_hook``."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from retrieval.config import Settings

from .checks import NotHere, place_allowed
from .config import BotConfig
from .feedback import FeedbackStore
from .render import render_text
from .views import AnswerView, ExpiredControls

if TYPE_CHECKING:
    from retrieval.engine import Engine

log = logging.getLogger("citebot.bot")

INITIAL_EXTENSIONS = (
    "bot.cogs.ask",
    "bot.cogs.sources",
    "bot.cogs.feedback",
    "bot.cogs.admin",
)


class Metrics:
    """In-memory counters for /stats: questions answered and recent event-to-reply latencies."""

    def __init__(self, keep: int = 1000):
        self.answered = 0
        self.latencies: collections.deque[float] = collections.deque(maxlen=keep)
        self.started = time.time()

    def record(self, seconds: float) -> None:
        self.answered += 1
        self.latencies.append(seconds)


class CitebotTree(app_commands.CommandTree):
    """Command tree with a global place check and one error reporter for every command."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        bot: CiteBot = interaction.client  # type: ignore[assignment]
        if not place_allowed(bot.config, interaction.guild_id, interaction.channel):
            raise NotHere()
        return True

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        bot: CiteBot = interaction.client  # type: ignore[assignment]
        await bot.report_interaction_error(interaction, error)


class CiteBot(commands.Bot):
    """citebot's Discord client.

    Args:
        config: bot settings (token, allow lists, admins, cooldown, …).
        settings: retrieval settings used to open the engine.
        engine: an already-open engine (tests share one); otherwise it is opened in ``setup_hook``.
        store: an open feedback store; otherwise ``config.feedback_db`` is opened.
        engine_options: extra keyword arguments for ``Engine.open`` (e.g. a shared ``encoder``).
    """

    def __init__(
        self,
        config: BotConfig,
        settings: Settings | None = None,
        *,
        engine: "Engine | None" = None,
        store: FeedbackStore | None = None,
        engine_options: dict | None = None,
        **options: Any,
    ):
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: needed to read the question in a mention
        super().__init__(
            command_prefix=commands.when_mentioned,  # unused: no prefix commands, see on_message
            help_command=None,
            intents=intents,
            # untrusted corpus and user text goes into replies: never ping anyone, ever
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CitebotTree,
            guild_ready_timeout=config.guild_ready_timeout,
            **options,
        )
        self.config = config
        self.settings = settings if settings is not None else (engine.settings if engine is not None else Settings.load())
        self.engine: Engine | None = engine
        self.engine_options = dict(engine_options or {})
        self._own_engine = engine is None
        self.store = store
        self._own_store = store is None
        self.metrics = Metrics()
        self.synced: list[Any] | None = None

    async def setup_hook(self) -> None:
        """Open the store and the engine (off the event loop), load cogs, register persistent views."""
        if self.store is None:
            self.store = await asyncio.to_thread(FeedbackStore, self.config.feedback_db)
        if self.engine is None:
            from retrieval.engine import Engine  # heavy: torch, the model

            log.info("opening the index at %s (building it from %s if missing)…", self.settings.index_dir, self.settings.corpus)
            self.engine = await asyncio.to_thread(Engine.open, self.settings, build_if_missing=True, **self.engine_options)
            log.info("index ready: %s", self.engine.stats())
        for ext in INITIAL_EXTENSIONS:
            await self.load_extension(ext)
        # one view with every possible custom_id, so buttons on old answers work after a restart
        self.add_view(AnswerView.persistent())
        # answers clicks on pager / reindex-offer buttons whose view timed out or was lost in a restart
        self.add_view(ExpiredControls())
        if self.config.sync_commands:
            await self.sync_commands()

    async def sync_commands(self) -> None:
        """Sync slash commands, skipping the call when the command set has not changed since last time."""
        targets = [discord.Object(id=g) for g in self.config.command_guilds] or [None]
        payload = [c.to_dict(self.tree) for c in self.tree.get_commands()]
        # the application id is part of it: a new token for another application must sync again
        key = [self.application_id, payload, [getattr(t, "id", None) for t in targets]]
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        marker = Path(str(self.config.feedback_db) + ".commands")
        try:
            if marker.read_text() == digest:
                log.info("slash commands unchanged; not syncing")
                return
        except OSError:
            pass
        synced: list[Any] = []
        for guild in targets:
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            synced += await self.tree.sync(guild=guild)
        self.synced = synced
        try:
            marker.write_text(digest)
        except OSError:
            log.warning("cannot write %s; commands will be synced again next start", marker)
        log.info("synced %d commands", len(synced))

    async def on_ready(self) -> None:
        log.info("ready as %s (%s) in %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: the Ask cog's listener handles mentions. Not calling process_commands
        # keeps "@citebot question" from being parsed as an unknown command.
        return

    async def close(self) -> None:
        await super().close()
        if self._own_store and self.store is not None:
            self.store.close()

    async def report_interaction_error(self, interaction: discord.Interaction, error: Exception) -> None:
        """Tell the user what went wrong in one line (ephemeral); log unexpected errors."""
        if interaction.type is discord.InteractionType.autocomplete:
            return
        original = getattr(error, "original", error)
        # the command, or for a button the custom_id of the component that was clicked
        what = interaction.command.qualified_name if interaction.command else (interaction.data or {}).get("custom_id")
        if isinstance(error, app_commands.CheckFailure):
            text = str(error) or "You can't use that here."
        elif isinstance(original, discord.HTTPException):
            log.warning("Discord error in %s: %s", what, original)
            text = "Discord refused that request; please try again."
        else:
            log.error("error in %s", what, exc_info=original)
            text = "Something went wrong while handling that; the error was logged."
        await self.respond_text(interaction, text, ephemeral=True)

    async def respond_text(self, interaction: discord.Interaction, text: str, *, ephemeral: bool = True) -> None:
        """Send a plain message whether or not the interaction was already answered."""
        reply = render_text(text)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(**reply.kwargs(), ephemeral=ephemeral, allowed_mentions=discord.AllowedMentions.none())
            else:
                await interaction.response.send_message(**reply.kwargs(), ephemeral=ephemeral, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException:
            log.warning("could not deliver a message for interaction %s", interaction.id)
