"""Asking: ``/ask``, mentions, replies to the bot's answers, thread follow-ups and auto-answer channels.

Every question is answered from the knowledge base of the place it was asked in (channel, else
guild; a thread counts as its parent); where there is none, an explicit question gets a short
"not set up here" and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Awaitable, Callable, TypeVar

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from retrieval.errors import CitebotError, QuestionError
from retrieval.serve.kb import KnowledgeBase
from retrieval.serve.pool import MemoryBudgetExceeded

from ..checks import NOT_SET_UP, UserCooldown, cooldown_message, place_allowed
from ..client import BUSY
from ..feedback import also_in_payload, results_payload
from ..render import NumberedAnswer, Reply, render_answer, render_text
from ..views import AnswerView
from ..visibility import Visibility, discord_places

if TYPE_CHECKING:
    from ..client import CiteBot

log = logging.getLogger("citebot.ask")
NONE = discord.AllowedMentions.none()
T = TypeVar("T")
# no attempt on an interaction is started this close to the end of its token's 15 minutes
INTERACTION_MARGIN = 10.0
DISCORD_MAX_OPTION_LENGTH = 6000  # the most a string option's max_length may be
ANSWER_FAILED = "Something went wrong while answering that; the error was logged. Please try again later."


NO_SEND = "You can't send messages in this channel, so I answered you privately."


def may_post(interaction: discord.Interaction) -> bool:
    """Whether the asker may send messages where they asked (in a thread: Send Messages in Threads)."""
    perms = interaction.permissions
    in_thread = isinstance(interaction.channel, discord.Thread)
    return bool(perms.send_messages_in_threads if in_thread else perms.send_messages)


def transient(error: BaseException) -> bool:
    """True for failures worth another attempt later: Discord's 5xx, rate limits that outlasted
    discord.py's own tries, network errors. Other 4xx (missing access, deleted message) are final."""
    if isinstance(error, discord.HTTPException):
        return error.status >= 500 or error.status == 429
    return isinstance(error, (discord.RateLimited, aiohttp.ClientError, OSError, asyncio.TimeoutError))


def describe(error: BaseException) -> str:
    """The error in a few words for a log line: status and code only, never a URL (interaction
    tokens are in webhook URLs) nor the message text."""
    if isinstance(error, discord.HTTPException):
        return f"HTTP {error.status}, code {error.code}"
    if isinstance(error, OSError) and error.errno:
        return f"{type(error).__name__} errno {error.errno}"
    return type(error).__name__


class Ask(commands.Cog):
    """Answers questions by quoting the corpus."""

    def __init__(self, bot: "CiteBot"):
        self.bot = bot
        # one bucket per user, shared by /ask and mentions so neither path dodges the other
        self.cooldown = UserCooldown(bot.config.cooldown_rate, bot.config.cooldown_per)
        # declare the question's length limit on /ask so the Discord client enforces it while typing
        # (the limit is a setting, so it can't be written in the annotation); precheck still checks
        # (the longest any knowledge base accepts: the client can't know which one will answer)
        param = self.ask._params["question"]
        longest = max(kb.settings.max_question_chars for kb in bot.registry.kbs)
        self.ask._params["question"] = dataclasses.replace(
            param, min_value=1, max_value=min(longest, DISCORD_MAX_OPTION_LENGTH)
        )

    # ------------------------------------------------------------------ shared logic

    def precheck(self, question: str, user_id: int, kb: KnowledgeBase) -> str | None:
        """A refusal message (empty, too long, cooldown), or None when the question may be asked."""
        q = question.strip()
        if not q:
            return "Ask me a question: mention me with it, or use `/ask`."
        limit = kb.settings.max_question_chars
        if len(q) > limit:
            return f"That question is {len(q):,} characters long; the limit is {limit:,}. Please shorten it."
        retry = self.cooldown.hit(user_id)
        if retry:
            return cooldown_message(retry)
        return None

    async def compute(self, question: str, kb: KnowledgeBase,
                      visibility: Visibility) -> tuple[Reply, AnswerView | None, NumberedAnswer | None]:
        """Ask ``kb``'s engine off the event loop and render the reply (or a one-line error).

        Args:
            visibility: what the asker (and, for a public reply, its readers) may be quoted: the core
                composes the answer as if passages from channels they can't read did not exist.
        """
        q = question.strip()
        try:
            visible = (await visibility.doc_filter(await self.bot.in_kb(kb.name, discord_places))).for_engine()
            answer = await self.bot.in_kb(kb.name, lambda engine: engine.ask(q, k=kb.settings.k, visible=visible))
        except QuestionError as e:
            return render_text(str(e)), None, None
        except MemoryBudgetExceeded as e:
            log.warning("knowledge base %s: %s", kb.name, e)
            return render_text(BUSY), None, None
        except CitebotError as e:
            log.warning("engine error for a question: %s", e)
            return render_text(f"I can't answer right now: {e}"), None, None
        except Exception:
            # a mention has no command error handler: without this the asker would get no reply at all
            log.exception("error while answering a question")
            return render_text(ANSWER_FAILED), None, None
        # once, from the filtered answer: the reply, its buttons and the stored record agree
        numbered = NumberedAnswer.of(answer)
        # the buttons: the results, then their "also in" sources while there is room
        return render_answer(numbered), AnswerView(kb.name, numbered.buttons(), votes=True), numbered

    async def deliver(
        self,
        send: Callable[[], Awaitable[T]],
        *,
        what: str,
        again: Callable[[], Awaitable[T]] | None = None,
        deadline: datetime | None = None,
    ) -> T | None:
        """Send a reply; when discord.py gives up on it for a transient reason, try again after a pause.

        Args:
            send: makes one attempt (discord.py retries inside it: five tries, 429s and 500/502/504).
            what: the reply in the log line, by ids only (no question or corpus text).
            again: makes each further attempt instead of ``send``; it must not create a second
                message if an earlier attempt did (a nonce, or editing the one message).
            deadline: when sending becomes impossible (an interaction token's 15 minutes); no further
                attempt is started within :data:`INTERACTION_MARGIN` seconds of it.

        Returns what the attempt returned, or None when every attempt failed (one log line; other
        errors are raised as before).
        """
        cfg = self.bot.config
        attempt = 0
        while True:
            attempt += 1
            try:
                return await (send if attempt == 1 or again is None else again)()
            except Exception as e:
                if not transient(e):
                    raise
                error = e
            delay = cfg.send_retry_delay * 2 ** (attempt - 1)
            if attempt > cfg.send_retries:
                log.error("%s was not delivered: Discord failed %d attempt(s), the last with %s; giving up",
                          what, attempt, describe(error))
                return None
            if deadline is not None and (deadline - datetime.now(timezone.utc)).total_seconds() < delay + INTERACTION_MARGIN:
                log.error("%s was not delivered: Discord failed %d attempt(s), the last with %s; the "
                          "interaction expires before another attempt", what, attempt, describe(error))
                return None
            log.info("%s: attempt %d failed (%s); trying again in %.1f s", what, attempt, describe(error), delay)
            await asyncio.sleep(delay)

    async def remember(self, message: discord.abc.Snowflake, channel_id: int | None, guild_id: int | None,
                       numbered: NumberedAnswer, kb: KnowledgeBase, asker: int | None = None,
                       private: bool = False) -> None:
        """Store the answer under its message id and knowledge base (buttons and "Show sources" find it there)."""
        answer = numbered.answer
        await asyncio.to_thread(
            self.bot.store.record_answer,
            message.id,
            channel_id=channel_id,
            guild_id=guild_id,
            question=answer.question,
            answered=answer.answered,
            results=results_payload(answer) if answer.answered else [],
            index_version=answer.index_version,
            also_in=also_in_payload(numbered.also_in),
            kb=kb.name,
            asker=asker,
            private=private,
        )

    # ------------------------------------------------------------------ /ask

    @app_commands.command(name="ask", description="Ask a question; the answer quotes the corpus with citations.")
    @app_commands.describe(question="What do you want to know?", private="Only you see the answer")
    async def ask(self, interaction: discord.Interaction, question: str, private: bool = False) -> None:
        """``/ask question:<text> [private:<bool>]``."""
        started = time.perf_counter()
        kb = self.bot.require_kb(interaction)  # again in the handler: not only the tree's check
        refusal = self.precheck(question, interaction.user.id, kb)
        if refusal:
            await interaction.response.send_message(refusal, ephemeral=True, allowed_mentions=NONE)
            return
        # a public answer carries the asker's question as its title: only where they may post themselves
        moved = not private and not may_post(interaction)
        private = private or moved
        # Discord wants a response within 3 s; the engine may take longer under load
        await interaction.response.defer(thinking=True, ephemeral=private)
        # a public answer is read by the whole channel: only what they all may see
        seen = self.bot.visibility(interaction.guild, interaction.user,
                                   reply_channel=None if private else interaction.channel)
        reply, view, answer = await self.compute(question, kb, seen)
        kwargs = reply.kwargs()
        if moved:
            kwargs["content"] = "\n".join(t for t in (NO_SEND, kwargs.get("content")) if t)
        if view is not None:
            kwargs["view"] = view
        # further attempts edit the deferred "thinking" message, which the first follow-up fills in:
        # if that follow-up went through but its response was lost, nothing is posted twice
        async with self.bot.sending():
            msg = await self.deliver(
                lambda: interaction.followup.send(**kwargs, ephemeral=private, wait=True, allowed_mentions=NONE),
                again=lambda: interaction.edit_original_response(**kwargs, allowed_mentions=NONE),
                deadline=interaction.expires_at,
                what=f"the /ask answer for interaction {interaction.id}",
            )
            if msg is not None and answer is not None:
                await self.remember(msg, interaction.channel_id, interaction.guild_id, answer, kb, interaction.user.id,
                                    private)
                self.bot.metrics[kb.name].record(time.perf_counter() - started)

    # ------------------------------------------------------------------ mentions and follow-ups

    def _mentioned(self, message: discord.Message) -> bool:
        me = self.bot.user
        if any(u.id == me.id for u in message.mentions):
            return True
        guild = message.guild
        role = guild.self_role if guild is not None else None
        return role is not None and role in message.role_mentions

    def _strip_mentions(self, message: discord.Message) -> str:
        me = self.bot.user
        text = re.sub(rf"<@!?{me.id}>", " ", message.content)
        guild = message.guild
        role = guild.self_role if guild is not None else None
        if role is not None:
            text = text.replace(f"<@&{role.id}>", " ")
        # anyone else mentioned is part of the question: by name, not as a raw <@id> token that would
        # be echoed back as digits and searched for as such
        named = {("@", u.id): f"@{u.display_name}" for u in message.mentions}
        named.update({("@&", r.id): f"@{r.name}" for r in message.role_mentions})
        named.update({("#", c.id): f"#{c.name}" for c in message.channel_mentions})
        text = re.sub(r"<(@!?|@&|#)(\d+)>", lambda m: named.get((m[1].replace("!", ""), int(m[2])), m[0]), text)
        return re.sub(r"\s+", " ", text).strip()

    async def _is_reply_to_me(self, message: discord.Message) -> bool:
        ref = message.reference
        if ref is None or ref.message_id is None:
            return False
        resolved = ref.resolved
        if isinstance(resolved, discord.Message):
            return resolved.author.id == self.bot.user.id
        return await asyncio.to_thread(self.bot.store.get_answer, ref.message_id) is not None

    async def should_answer(self, message: discord.Message, kb: KnowledgeBase) -> bool:
        """Mention, reply to one of our answers, a DM, a thread ``kb`` answered in, or an auto-answer channel."""
        if self._mentioned(message) or await self._is_reply_to_me(message):
            return True
        channel = message.channel
        if isinstance(channel, discord.DMChannel):
            return True
        auto = self.bot.config.auto_answer_channels
        if auto and (channel.id in auto or getattr(channel, "parent_id", None) in auto):
            return True
        if isinstance(channel, discord.Thread):
            return await asyncio.to_thread(self.bot.store.answered_in, channel.id, kb.name)
        return False

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer questions addressed to the bot as replies."""
        if message.author.bot or self.bot.user is None:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        guild_id = message.guild.id if message.guild else None
        if not place_allowed(self.bot.config, guild_id, message.channel):
            return
        where = f"the reply to message {message.id} in channel {message.channel.id}"
        kb = self.bot.kb_here(guild_id, message.channel)
        if kb is None:
            if self._mentioned(message) or isinstance(message.channel, discord.DMChannel):
                # asked explicitly: one short line (a message can't be private), no corpus text from anywhere
                await self.deliver(
                    lambda: message.reply(NOT_SET_UP, nonce=message.id, mention_author=False, allowed_mentions=NONE), what=where
                )
            return
        if not await self.should_answer(message, kb):
            return
        started = time.perf_counter()
        question = self._strip_mentions(message)
        if not question and not (self._mentioned(message) or isinstance(message.channel, discord.DMChannel)):
            # an image, sticker or embed-only message in an auto-answer channel or a followed thread
            # (or such a reply): nothing was asked, and "Ask me a question" would only be noise there
            return
        refusal = self.precheck(question, message.author.id, kb)
        # every attempt carries the question's id as nonce: Discord returns the message an earlier
        # attempt created (enforce_nonce) instead of posting a second one
        if refusal:
            await self.deliver(
                lambda: message.reply(refusal, nonce=message.id, mention_author=False, allowed_mentions=NONE), what=where
            )
            return
        async with _typing(message.channel):
            seen = self.bot.visibility(message.guild, message.author, reply_channel=message.channel)
            reply, view, answer = await self.compute(question, kb, seen)
        kwargs = reply.kwargs()
        if view is not None:
            kwargs["view"] = view
        async with self.bot.sending():
            sent = await self.deliver(
                lambda: message.reply(**kwargs, nonce=message.id, mention_author=False, allowed_mentions=NONE),
                what=where,
            )
            if sent is not None and answer is not None:
                await self.remember(sent, message.channel.id, guild_id, answer, kb, message.author.id)
                self.bot.metrics[kb.name].record(time.perf_counter() - started)


@contextlib.asynccontextmanager
async def _typing(channel: discord.abc.Messageable):
    """``channel.typing()`` that never fails the reply when the typing call itself is refused."""
    ctx = channel.typing()
    try:
        await ctx.__aenter__()
        entered = True
    except discord.HTTPException:
        entered = False
    try:
        yield
    finally:
        if entered:
            await ctx.__aexit__(None, None, None)


async def setup(bot: "CiteBot") -> None:
    await bot.add_cog(Ask(bot))
