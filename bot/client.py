"""The bot: a ``commands.Bot`` serving one or more knowledge bases (``retrieval.serve.kb``) from a pool of
engines sharing one encoder; cogs are loaded in ``setup_hook``."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import discord
from discord import app_commands
from discord.ext import commands, tasks

from retrieval.config import Settings
from retrieval.errors import CitebotError
from retrieval.serve.kb import DEFAULT, KnowledgeBase, Registry
from retrieval.serve.pool import EnginePool, MemoryBudgetExceeded
from retrieval.config import local_folder

from .buttons import SourceButton, VoteButton
from .checks import NotHere, NotSetUp, TooFast, UserCooldown, place_allowed
from .config import BotConfig
from .feedback import FeedbackStore
from .render import render_text
from .routing import Router
from .views import ExpiredControls
from .visibility import Visibility

if TYPE_CHECKING:
    from retrieval.engine import Engine

T = TypeVar("T")
BUSY = "This server's knowledge base can't be opened right now (the bot is at its memory limit); please try again shortly."

log = logging.getLogger("citebot.bot")
#: seconds :meth:`CiteBot.close` waits for answers being delivered and stored
SHUTDOWN_GRACE = 10.0

INITIAL_EXTENSIONS = (
    "bot.cogs.ask",
    "bot.cogs.sources",
    "bot.cogs.admin",
    "bot.cogs.channels",  # after admin: it attaches `/corpus channel …` to the admin cog's /corpus group
    "bot.cogs.websources",  # after admin: `/corpus site|repo …` and `/corpus sources`
    "bot.cogs.refresh",  # reindex_every / watch builds (retrieval.serve.schedule)
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
    """Command tree with a global place check, the knowledge base of the place in
    ``interaction.extras["kb"]``, and one error reporter for every command."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        bot: CiteBot = interaction.client  # type: ignore[assignment]
        if not place_allowed(bot.config, interaction.guild_id, interaction.channel):
            raise NotHere()
        # every command, menu and autocomplete (each keystroke) counts against one per-user limit
        # (a forged payload without member data has no user: it shares one bucket, then is refused)
        retry = bot.limiter.hit(getattr(interaction.user, "id", 0))
        if retry:
            raise TooFast(retry)
        interaction.extras["kb"] = bot.require_kb(interaction)
        return True

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        bot: CiteBot = interaction.client  # type: ignore[assignment]
        await bot.report_interaction_error(interaction, error)


class CiteBot(commands.Bot):
    """citebot's Discord client.

    Args:
        config: bot settings (token, allow lists, admins, cooldown, memory budget, …).
        settings: retrieval settings of the one (default) knowledge base when ``registry`` is None.
        engine: an already-open engine for that knowledge base (tests share one).
        store: an open feedback store; otherwise ``config.feedback_db`` is opened.
        engine_options: ``{"encoder": …}``: the loaded encoder every engine shares.
        registry: the knowledge bases (``retrieval.serve.kb.load_registry``); default: one from ``settings``.
        pool: the engines (default: a pool over ``registry`` within ``config.memory_budget_mb``).
    """

    def __init__(
        self,
        config: BotConfig,
        settings: Settings | None = None,
        *,
        engine: "Engine | None" = None,
        store: FeedbackStore | None = None,
        engine_options: dict | None = None,
        registry: Registry | None = None,
        pool: EnginePool | None = None,
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
        self.limiter = UserCooldown(config.interaction_rate, config.interaction_per)
        if registry is None:
            base = settings if settings is not None else (engine.settings if engine is not None else Settings.load())
            registry = Registry([KnowledgeBase(DEFAULT, base, default=True)])
        self.router = Router(registry, config.allowed_guilds)
        self.registry = self.router.registry
        self.engine_options = dict(engine_options or {})
        if pool is None:
            pool = EnginePool(self.registry, encoder=self.engine_options.get("encoder"),
                              memory_budget_mb=config.memory_budget_mb, idle_seconds=config.kb_idle_minutes * 60)
        pool.registry = self.registry
        self.pool = pool
        if engine is not None:
            pool.adopt(self.registry.get(None).name, engine)
        self.store = store
        self._own_store = store is None
        self.metrics: dict[str, Metrics] = collections.defaultdict(Metrics)  # per knowledge base
        self.synced: list[Any] | None = None
        self._sending = 0  # answers being delivered and stored (see :meth:`sending`)
        self._sent = asyncio.Event()
        self._sent.set()

    @contextlib.asynccontextmanager
    async def sending(self):
        """Around delivering an answer and storing it: :meth:`close` waits for these (up to
        :data:`SHUTDOWN_GRACE` s), so an answer already on its way is stored before the store closes
        (its buttons work after a restart)."""
        self._sending += 1
        self._sent.clear()
        try:
            yield
        finally:
            self._sending -= 1
            if not self._sending:
                self._sent.set()

    @property
    def engine(self) -> "Engine | None":
        """The open engine of the only (or default) knowledge base, or None."""
        kb = self.registry.default or (self.registry.kbs[0] if len(self.registry.kbs) == 1 else None)
        return self.pool.peek(kb.name) if kb is not None else None

    def kb_here(self, guild_id: int | None, channel: object | None) -> KnowledgeBase | None:
        """The knowledge base answering in this guild/channel (a thread counts as its parent), or
        None when the bot is not allowed there or none is set up."""
        if not place_allowed(self.config, guild_id, channel):
            return None
        return self.router.route(guild_id, getattr(channel, "id", None), getattr(channel, "parent_id", None))

    def require_kb(self, interaction: discord.Interaction) -> KnowledgeBase:
        """:meth:`kb_here` for an interaction; :class:`NotSetUp` (a short private refusal) when none."""
        kb = self.kb_here(interaction.guild_id, interaction.channel)
        if kb is None:
            raise NotSetUp()
        return kb

    def kbs_for_guild(self, guild_id: int, channel_id: int | None = None,
                      parent_id: int | None = None) -> list[KnowledgeBase]:
        """The knowledge bases answering somewhere in guild ``guild_id``; the one answering in
        ``channel_id`` (a thread: with its ``parent_id``) first. Empty where the bot is not allowed."""
        if self.config.allowed_guilds and guild_id not in self.config.allowed_guilds:
            return []
        return self.router.in_guild(guild_id, channel_id, parent_id)

    def corpora_for_guild(self, guild_id: int, channel_id: int | None = None,
                          parent_id: int | None = None) -> list[Path]:
        """The corpus folders of :meth:`kbs_for_guild` (knowledge bases whose corpus is a single
        file are left out: history can't be stored next to it). Discord history of a channel goes
        to the first one, whose knowledge base answers in that channel."""
        return [p for kb in self.kbs_for_guild(guild_id, channel_id, parent_id)
                if (p := local_folder(kb.settings.corpus)) is not None and p.is_dir()]

    def visibility(self, guild: discord.Guild | None, user: discord.abc.User | None, *,
                   reply_channel: object | None = None) -> Visibility:
        """Who may be quoted which Discord passage (:mod:`bot.visibility`), for one asker.

        Args:
            guild: where they ask (None: a DM, where no Discord passage is shown).
            user: the asker (a guild member).
            reply_channel: where a public reply goes; None when only the asker sees it.
        """
        corpora = self.corpora_for_guild(guild.id) if guild is not None else []
        return Visibility.for_asker(guild, user, corpora, reply_channel=reply_channel)

    async def in_kb(self, name: str, work: Callable[["Engine"], T]) -> T:
        """``work(engine)`` off the event loop with ``name``'s engine open (opened now if needed)."""

        def run() -> T:
            with self.pool.use(name) as engine:
                return work(engine)

        return await asyncio.to_thread(run)

    async def setup_hook(self) -> None:
        """Open the store, build missing indexes (off the event loop), load cogs, register buttons."""
        if self.store is None:
            self.store = await asyncio.to_thread(FeedbackStore, self.config.feedback_db)
        await asyncio.to_thread(self.prepare_indexes)
        for ext in INITIAL_EXTENSIONS:
            await self.load_extension(ext)
        # the answer buttons: knowledge base and number in the custom_id, so old answers' buttons work after a restart
        self.add_dynamic_items(SourceButton, VoteButton)
        # answers clicks on pager / reindex-offer buttons whose view timed out or was lost in a restart
        self.add_view(ExpiredControls())
        self.close_idle_indexes.start()
        if self.config.sync_commands:
            await self.sync_commands()

    def prepare_indexes(self) -> None:
        """Build the index of every knowledge base that has none yet (the first question would
        otherwise wait for it). A single knowledge base is opened now, as before, and a failure
        stops the start; with several, the others still serve and each opens at its first question."""
        from retrieval.errors import IndexMissing
        from retrieval.serve.pool import estimate_bytes

        single = len(self.registry.kbs) == 1
        for kb in self.registry.kbs:
            if self.pool.is_open(kb.name):
                continue
            if not single:
                try:
                    estimate_bytes(kb.settings.index_dir)
                    continue  # built: opened at its first question
                except IndexMissing:
                    log.info("knowledge base %s: building its index at %s from %s…", kb.name, kb.settings.index_dir,
                             kb.settings.corpus)
                except CitebotError as e:
                    log.warning("knowledge base %s: %s", kb.name, e)
                    continue
            try:
                with self.pool.use(kb.name) as engine:
                    log.info("knowledge base %s ready: %s", kb.name, engine.stats())
            except CitebotError as e:  # a damaged index, over the budget
                if single:
                    raise
                log.error("knowledge base %s is unavailable: %s", kb.name, e)

    @tasks.loop(minutes=1)
    async def close_idle_indexes(self) -> None:
        """Close the indexes nobody asked for in ``kb_idle_minutes`` (they reopen on the next question)."""
        await asyncio.to_thread(self.pool.close_idle)

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
        self.close_idle_indexes.cancel()
        with contextlib.suppress(asyncio.TimeoutError):  # while the connection is still open
            await asyncio.wait_for(self._sent.wait(), SHUTDOWN_GRACE)
        await super().close()
        self.pool.close_all()  # engines handed in (tests) are not owned: left open
        if self._own_store and self.store is not None:
            self.store.close()

    async def report_interaction_error(self, interaction: discord.Interaction, error: Exception) -> None:
        """Tell the user what went wrong in one line (ephemeral); log unexpected errors."""
        if interaction.type is discord.InteractionType.autocomplete:
            return
        original = getattr(error, "original", error)
        # the command, or for a button the custom_id of the component that was clicked
        what = interaction.command.qualified_name if interaction.command else (interaction.data or {}).get("custom_id")
        if isinstance(original, app_commands.CheckFailure):  # also re-raised inside a handler
            text = str(original) or "You can't use that here."
        elif isinstance(original, MemoryBudgetExceeded):
            log.warning("in %s: %s", what, original)
            text = BUSY
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
