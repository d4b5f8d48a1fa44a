"""An in-process fake Discord (REST + gateway) on 127.0.0.1 for end-to-end tests of the real client.

The real discord.py client (HTTP client, gateway websocket, command tree, views) talks to it after
:func:`point_discord_at` redirects ``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``. It:

* implements login (``GET /users/@me``, ``GET /oauth2/applications/@me``), command sync
  (``PUT /applications/{app}/commands`` and the guild variant), messages, typing, interaction
  callbacks, follow-ups and edits, attachment downloads, and the gateway handshake
  (HELLO → IDENTIFY → READY → GUILD_CREATE, heartbeats, RESUME);
* records every request (method, path, query, JSON body, uploaded files, time) so tests assert on
  what the bot actually sent; :meth:`FakeDiscord.wait_for` waits for one;
* injects events: messages (mentions, replies, threads), slash commands, autocomplete, buttons and
  message context-menu commands, built from the commands the bot synced;
* checks every message against Discord's limits and answers 400 (code 50035) like Discord does,
  and notes any message sent without ``allowed_mentions`` that suppresses every ping;
* behaves like Discord where retries depend on it: a message with ``enforce_nonce`` whose nonce the
  same author used in the last few minutes returns that message instead of a new one; interaction
  tokens stop working 15 minutes after the interaction (401, code 50027); editing the original
  response of a deferred interaction fills in its "thinking" message;
* answers 404 for any route it does not know, recording it, so a new code path fails loudly;
* offers fault hooks for reliability tests: :meth:`FakeDiscord.fail` (429 with ``retry_after``,
  5xx, optionally after the request took effect, as when Discord's response is lost),
  :meth:`FakeDiscord.drop_gateway`, :meth:`FakeDiscord.request_reconnect`,
  :meth:`FakeDiscord.invalidate_session`, and ``response_delay``.

Only loopback traffic: the server binds 127.0.0.1 and every URL it hands out points there.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import aiohttp
from aiohttp import web

DISCORD_EPOCH_MS = 1420070400000
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkE0.fake-token-for-tests-0123456789abcdef"
API_PREFIX = "/api/v10"
MANAGE_GUILD = 1 << 5
# view, send, embed, attach, read history, send in threads (as @everyone has by default)
VIEW_AND_SEND = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 38)
EPHEMERAL = 64
INTERACTION_TOKEN_SECONDS = 15 * 60
NONCE_SECONDS = 5 * 60  # "the past few minutes" of Discord's enforce_nonce

# Discord's message limits, checked independently of the bot's renderer
LIMITS = {
    "content": 2000,
    "embeds": 10,
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
    "author": 256,
    "embed_total": 6000,
    "rows": 5,
    "row_items": 5,
    "custom_id": 100,
    "label": 80,
    "choices": 25,
    "choice_name": 100,
}


def message_problems(payload: dict | None) -> list[str]:
    """Every way ``payload`` (a message create/edit body) breaks Discord's limits."""
    if not payload:
        return []
    out = []
    content = payload.get("content")
    if content is not None and len(content) > LIMITS["content"]:
        out.append(f"content has {len(content)} chars")
    embeds = payload.get("embeds") or []
    if len(embeds) > LIMITS["embeds"]:
        out.append(f"{len(embeds)} embeds")
    total = 0
    for i, e in enumerate(embeds):
        for key, limit in (("title", "title"), ("description", "description")):
            v = e.get(key) or ""
            total += len(v)
            if len(v) > LIMITS[limit]:
                out.append(f"embed {i} {key} has {len(v)} chars")
        fields = e.get("fields") or []
        if len(fields) > LIMITS["fields"]:
            out.append(f"embed {i} has {len(fields)} fields")
        for f in fields:
            total += len(f.get("name", "")) + len(f.get("value", ""))
            if not f.get("name") or not f.get("value"):
                out.append(f"embed {i} has an empty field name or value")
            if len(f.get("name", "")) > LIMITS["field_name"]:
                out.append(f"embed {i} field name has {len(f['name'])} chars")
            if len(f.get("value", "")) > LIMITS["field_value"]:
                out.append(f"embed {i} field value has {len(f['value'])} chars")
        footer = (e.get("footer") or {}).get("text") or ""
        author = (e.get("author") or {}).get("name") or ""
        total += len(footer) + len(author)
        if len(footer) > LIMITS["footer"]:
            out.append(f"embed {i} footer has {len(footer)} chars")
        if len(author) > LIMITS["author"]:
            out.append(f"embed {i} author has {len(author)} chars")
    if total > LIMITS["embed_total"]:
        out.append(f"embeds total {total} chars")
    rows = payload.get("components") or []
    if len(rows) > LIMITS["rows"]:
        out.append(f"{len(rows)} action rows")
    for row in rows:
        items = row.get("components") or []
        if len(items) > LIMITS["row_items"]:
            out.append(f"an action row has {len(items)} items")
        for it in items:
            if it.get("custom_id") is not None and len(it["custom_id"]) > LIMITS["custom_id"]:
                out.append(f"custom_id {it['custom_id'][:20]!r}… too long")
            if it.get("label") is not None and len(it["label"]) > LIMITS["label"]:
                out.append(f"button label has {len(it['label'])} chars")
            if it.get("type") == 2 and it.get("style") != 5 and not it.get("custom_id"):
                out.append("button without custom_id")
    return out


def _iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts or time.time(), timezone.utc).isoformat()


@dataclass
class Recorded:
    """One request the client made."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict
    json: Any
    files: list[tuple[str, str, bytes]]
    headers: dict
    t: float  # time.perf_counter() on arrival
    status: int = 0
    response: Any = None

    def body(self) -> dict:
        """The message part of the body (interaction callbacks nest it under ``data``)."""
        if isinstance(self.json, dict) and "type" in self.json and "/callback" in self.path:
            return self.json.get("data") or {}
        return self.json if isinstance(self.json, dict) else {}

    def text(self) -> str:
        """Content, embed titles/descriptions/fields/footers of the message body, joined."""
        b = self.body()
        parts = [b.get("content") or ""]
        for e in b.get("embeds") or []:
            parts += [e.get("title") or "", e.get("description") or ""]
            parts += [f"{f.get('name')}\n{f.get('value')}" for f in e.get("fields") or []]
            parts.append((e.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)


@dataclass
class Fault:
    """A scripted failure: the next ``times`` requests matching method/path get ``status``."""

    method: str | None
    path: re.Pattern
    status: int
    times: int
    retry_after: float = 0.05
    is_global: bool = False
    body: dict | None = None
    after: bool = False  # the request takes effect first; only the response is the failure


@dataclass
class Person:
    """A user of the fake guild."""

    id: int
    name: str
    roles: list[int] = field(default_factory=list)
    permissions: int = VIEW_AND_SEND
    bot: bool = False
    # per guild id: other permissions there (e.g. Manage Server in one guild only)
    guild_permissions: dict[int, int] = field(default_factory=dict)

    def user(self) -> dict:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name.title(),
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    def member(self, *, with_user: bool = True, permissions: bool = False, guild_id: int | None = None) -> dict:
        m = {
            "roles": [str(r) for r in self.roles],
            "joined_at": _iso(1_700_000_000),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
        }
        if with_user:
            m["user"] = self.user()
        if permissions:
            m["permissions"] = str(self.guild_permissions.get(guild_id, self.permissions))
        return m


@dataclass
class Guild:
    """A further guild of the fake (:meth:`FakeDiscord.add_guild`): a general and an other channel
    and a thread under general, like the main one."""

    id: int
    name: str
    general_id: int
    other_id: int
    thread_id: int


class FakeDiscord:
    """The fake server. ``await start()``, point discord.py at it, run the bot, ``await close()``.

    Attributes worth knowing in tests: ``requests`` (everything recorded), ``messages`` (by id),
    ``violations`` (limit breaches), ``ping_risks`` (messages without ping-proof allowed_mentions),
    ``unknown`` (404'd routes), ``commands`` (synced, by guild id or None), ``identifies``.
    """

    def __init__(self, *, token: str = TOKEN):
        self.token = token
        self._ids = itertools.count(1)
        self.app_id = self.snowflake()
        self.bot = Person(self.snowflake(), "citebot", bot=True)
        self.guild_id = self.snowflake()
        self.admin_role_id = self.snowflake()
        self.general_id = self.snowflake()
        self.other_id = self.snowflake()
        self.thread_id = self.snowflake()
        self.dm_id = self.snowflake()
        self.alice = Person(self.snowflake(), "alice")
        self.bob = Person(self.snowflake(), "bob")
        self.ada = Person(self.snowflake(), "ada", permissions=VIEW_AND_SEND | MANAGE_GUILD)  # Manage Server
        self.rolf = Person(self.snowflake(), "rolf", roles=[self.admin_role_id])  # configured admin role only
        self.extra_guilds: list[Guild] = []
        # channel or thread id -> (guild id, parent id or None, name)
        self._channels: dict[int, tuple[int, int | None, str]] = {
            self.general_id: (self.guild_id, None, "general"), self.other_id: (self.guild_id, None, "other"),
            self.thread_id: (self.guild_id, self.general_id, "a thread"),
        }
        self.requests: list[Recorded] = []
        self.unknown: list[Recorded] = []
        self.violations: list[tuple[Recorded, list[str]]] = []
        self.ping_risks: list[Recorded] = []
        self.messages: dict[int, dict] = {}
        self.commands: dict[int | None, list[dict]] = {}
        self.identifies: list[dict] = []
        self.resumes: list[dict] = []
        self.attachments: dict[int, bytes] = {}
        self.faults: list[Fault] = []
        self.expired: list[int] = []  # interactions whose token was used after its 15 minutes
        self._nonces: dict[tuple[int, str], tuple[float, int]] = {}  # (channel, nonce) -> (time, message id)
        self.response_delay = 0.0
        self.heartbeat_interval_ms = 41250
        self._interactions: dict[str, dict] = {}  # token -> {id, original message id, deferred, ...}
        self._ws: list[web.WebSocketResponse] = []
        self._seq: dict[int, int] = {}
        self._sessions: set[str] = set()
        self._cond: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/"

    async def start(self) -> "FakeDiscord":
        """Bind 127.0.0.1 on a free port and serve."""
        self._cond = asyncio.Condition()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/gateway/", self._gateway)
        app.router.add_route("GET", "/gateway", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self._ws):
            with contextlib.suppress(Exception):
                await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    def assert_clean(self) -> None:
        """The invariants every exchange keeps: no unknown route was called, no message broke
        Discord's limits, every message was sent with pings disabled."""
        assert not self.unknown, f"bot called routes the fake does not know: {[(r.method, r.path) for r in self.unknown]}"
        assert not self.violations, f"messages over Discord's limits: {[(r.path, p) for r, p in self.violations]}"
        assert not self.ping_risks, f"messages sent without AllowedMentions.none(): {[r.path for r in self.ping_risks]}"

    def snowflake(self, at: float | None = None) -> int:
        """A time-based, unique snowflake (so created_at looks right); ``at`` is a Unix time."""
        ms = int((time.time() if at is None else at) * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0x3FFFFF)

    def add_guild(self, name: str) -> Guild:
        """Another guild the bot is in (call before the bot connects: READY lists it)."""
        g = Guild(self.snowflake(), name, self.snowflake(), self.snowflake(), self.snowflake())
        self._channels.update({g.general_id: (g.id, None, "general"), g.other_id: (g.id, None, "other"),
                               g.thread_id: (g.id, g.general_id, "a thread")})
        self.extra_guilds.append(g)
        return g

    def guild_of(self, channel_id: int) -> int:
        """The guild a channel or thread belongs to (the main guild for anything unknown, as before)."""
        return self._channels.get(channel_id, (self.guild_id, None, ""))[0]

    # ------------------------------------------------------------------ fault hooks

    def fail(self, method: str | None, path: str, *, status: int = 429, times: int = 1, retry_after: float = 0.05,
             is_global: bool = False, body: dict | None = None, after: bool = False) -> Fault:
        """Make the next ``times`` requests whose path matches the regex ``path`` fail with ``status``.

        ``after``: the request is carried out first and only its response is the failure (a message
        is created, yet the client sees the error). Set ``times`` to 0 on the returned fault to stop it.
        """
        f = Fault(method.upper() if method else None, re.compile(path), status, times, retry_after, is_global, body,
                  after)
        self.faults.append(f)
        return f

    async def drop_gateway(self, code: int | None = None) -> None:
        """Close the gateway connection: abruptly (``code=None``) or with a close code (4000 resumes)."""
        for ws in list(self._ws):
            if code is None:
                # no close frame: the client sees the connection die
                transport = ws._req.transport if ws._req is not None else None  # type: ignore[attr-defined]
                if transport is not None:
                    transport.close()
            else:
                await ws.close(code=code)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT (the client should resume)."""
        await self._send_all({"op": 7, "d": None})

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION."""
        await self._send_all({"op": 9, "d": resumable})

    # ------------------------------------------------------------------ recording and waiting

    def since(self, mark: int = 0) -> list[Recorded]:
        return self.requests[mark:]

    def mark(self) -> int:
        """Index of the next request; pass to ``wait_for(after=...)``."""
        return len(self.requests)

    async def wait_for(self, predicate: Callable[[Recorded], bool], *, after: int = 0, timeout: float = 20.0) -> Recorded:
        """The first recorded request (from index ``after``) matching ``predicate``; waits if needed.

        ``timeout`` only guards against hanging forever; it is not part of what a test checks.
        """
        assert self._cond is not None

        def find():
            for r in self.requests[after:]:
                if predicate(r):
                    return r
            return None

        async with self._cond:
            found = await asyncio.wait_for(self._cond.wait_for(find), timeout)
        return found

    async def _record(self, rec: Recorded) -> None:
        self.requests.append(rec)
        assert self._cond is not None
        async with self._cond:
            self._cond.notify_all()

    # ------------------------------------------------------------------ gateway

    async def _send(self, ws: web.WebSocketResponse, payload: dict) -> None:
        if payload.get("op") == 0:
            self._seq[id(ws)] = self._seq.get(id(ws), 0) + 1
            payload["s"] = self._seq[id(ws)]
        else:
            payload.setdefault("s", None)
        payload.setdefault("t", None)
        await ws.send_str(json.dumps(payload))

    async def _send_all(self, payload: dict) -> None:
        for ws in list(self._ws):
            if not ws.closed:
                await self._send(ws, dict(payload))

    async def dispatch(self, event: str, data: dict) -> None:
        """Send a DISPATCH (op 0) event to the connected client(s)."""
        if not any(not ws.closed for ws in self._ws):
            raise RuntimeError("no gateway connection")
        await self._send_all({"op": 0, "t": event, "d": data})

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._ws.append(ws)
        await self._record(Recorded("WS", "/gateway", dict(request.query), None, [], dict(request.headers), time.perf_counter(), 101))
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                op = data.get("op")
                # gateway ops are recorded too ("GW", "/gateway/op/<n>") so tests can wait for them
                await self._record(Recorded("GW", f"/gateway/op/{op}", {}, data.get("d"), [], {}, time.perf_counter(), 0))
                if op == 1:
                    await self._send(ws, {"op": 11, "d": None})
                elif op == 2:
                    d = data["d"]
                    self.identifies.append(d)
                    if d.get("token") != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    await self._ready(ws)
                elif op == 6:
                    d = data["d"]
                    self.resumes.append(d)
                    if d.get("token") == self.token and d.get("session_id") in self._sessions:
                        await self._send(ws, {"op": 0, "t": "RESUMED", "d": {}})
                    else:
                        await self._send(ws, {"op": 9, "d": False})
        finally:
            self._ws.remove(ws)
        return ws

    async def _ready(self, ws: web.WebSocketResponse) -> None:
        session = f"session-{self.snowflake()}"
        self._sessions.add(session)
        await self._send(ws, {"op": 0, "t": "READY", "d": {
            "v": 10,
            "user": {**self.bot.user(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in [self.guild_id, *(x.id for x in self.extra_guilds)]],
            "session_id": session,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }})
        await self._send(ws, {"op": 0, "t": "GUILD_CREATE", "d": self.guild_payload()})
        for g in self.extra_guilds:
            await self._send(ws, {"op": 0, "t": "GUILD_CREATE", "d": self.guild_payload(g)})

    def channel_payload(self, channel_id: int) -> dict:
        guild_id, parent, name = self._channels.get(channel_id, (self.guild_id, None, "other"))
        if parent is not None:
            return {
                "id": str(channel_id), "type": 11, "guild_id": str(guild_id), "name": name,
                "parent_id": str(parent), "owner_id": str(self.alice.id), "last_message_id": None,
                "message_count": 1, "member_count": 2, "rate_limit_per_user": 0, "flags": 0,
                "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                    "archive_timestamp": _iso(), "locked": False},
            }
        return {
            "id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": name, "position": 0,
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
            "last_message_id": None, "rate_limit_per_user": 0, "flags": 0,
        }

    def guild_payload(self, guild: Guild | None = None) -> dict:
        gid = guild.id if guild is not None else self.guild_id
        everyone = {"id": str(gid), "name": "@everyone", "permissions": str(VIEW_AND_SEND),
                    "position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        admin_role = {**everyone, "id": str(self.admin_role_id), "name": "Librarians", "position": 1,
                      "permissions": str(VIEW_AND_SEND)}
        if guild is not None:  # the admin role belongs to the main guild only
            return {**self.guild_payload(), "id": str(gid), "name": guild.name, "owner_id": str(self.bot.id),
                    "roles": [everyone],
                    "channels": [self.channel_payload(guild.general_id), self.channel_payload(guild.other_id)],
                    "threads": [self.channel_payload(guild.thread_id)]}
        return {
            "id": str(self.guild_id), "name": "Fake Guild", "icon": None, "owner_id": str(self.ada.id),
            "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
            "features": [], "emojis": [], "stickers": [], "roles": [everyone, admin_role],
            "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
            "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0,
            "preferred_locale": "en-US", "public_updates_channel_id": None, "nsfw_level": 0,
            "premium_progress_bar_enabled": False, "joined_at": _iso(1_700_000_000), "large": False,
            "unavailable": False,
            # member_count equal to the members sent: discord.py then has no reason to chunk
            "member_count": 1,
            "members": [self.bot.member()],
            "channels": [self.channel_payload(self.general_id), self.channel_payload(self.other_id)],
            "threads": [self.channel_payload(self.thread_id)],
            "voice_states": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # ------------------------------------------------------------------ injecting events

    async def send_message(self, content: str, *, author: Person | None = None, channel_id: int | None = None,
                           mentions: Iterable[Person] = (), reply_to: dict | None = None,
                           mention_everyone: bool = False, attachments: Iterable[dict] = ()) -> dict:
        """A user posts a message (MESSAGE_CREATE). Returns the message payload.

        ``attachments``: e.g. ``[fake.attachment("cat.png", b"...", "image/png")]`` with ``content=""``
        for an image-only message."""
        author = author or self.alice
        channel_id = channel_id or self.general_id
        guild_id = self.guild_of(channel_id)
        msg = {
            "id": str(self.snowflake()), "channel_id": str(channel_id), "guild_id": str(guild_id),
            "author": author.user(), "member": author.member(with_user=False), "content": content,
            "timestamp": _iso(), "edited_timestamp": None, "tts": False, "mention_everyone": mention_everyone,
            "mentions": [p.user() for p in mentions], "mention_roles": [], "mention_channels": [],
            "attachments": list(attachments), "embeds": [], "components": [], "pinned": False, "type": 0, "flags": 0,
        }
        if reply_to is not None:
            msg["type"] = 19
            msg["message_reference"] = {"type": 0, "message_id": reply_to["id"], "channel_id": reply_to["channel_id"],
                                        "guild_id": str(guild_id)}
            msg["referenced_message"] = reply_to
        self.messages[int(msg["id"])] = msg
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    async def send_dm(self, content: str, *, author: Person | None = None) -> dict:
        """A user writes to the bot in a direct message (no guild)."""
        author = author or self.alice
        msg = {
            "id": str(self.snowflake()), "channel_id": str(self.dm_id), "author": author.user(), "content": content,
            "timestamp": _iso(), "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "components": [], "pinned": False, "type": 0,
            "flags": 0,
        }
        self.messages[int(msg["id"])] = msg
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    async def mention(self, text: str, *, author: Person | None = None, channel_id: int | None = None) -> dict:
        """``@citebot text``."""
        return await self.send_message(f"<@{self.bot.id}> {text}", author=author, channel_id=channel_id,
                                       mentions=[self.bot])

    def command(self, name: str, type_: int = 1) -> dict:
        """The synced command called ``name`` (guild commands first, then global)."""
        for scope in (self.guild_id, None):
            for c in self.commands.get(scope, []):
                if c["name"] == name and c.get("type", 1) == type_:
                    return c
        raise KeyError(f"command {name!r} (type {type_}) was never synced; synced: "
                       f"{[c['name'] for cs in self.commands.values() for c in cs]}")

    def _options(self, spec: list[dict], values: dict, focused: str | None = None) -> list[dict]:
        out = []
        by_name = {o["name"]: o for o in spec}
        for name, value in values.items():
            o = by_name.get(name)
            if o is None:
                raise KeyError(f"option {name!r} not in {list(by_name)}")
            opt = {"name": name, "type": o["type"], "value": value}
            if name == focused:
                opt["focused"] = True
            out.append(opt)
        return out

    def _interaction(self, type_: int, data: dict, *, user: Person, channel_id: int, message: dict | None = None,
                     age: float = 0.0) -> dict:
        created = time.time() - age
        iid = self.snowflake(created)
        token = f"itoken-{iid}"
        self._interactions[token] = {"id": iid, "channel_id": channel_id, "original": None, "deferred": False,
                                     "message": message, "responded": False, "user": user, "created": created}
        guild_id = self.guild_of(channel_id)
        if "guild_id" in data:
            data["guild_id"] = str(guild_id)
        payload = {
            "id": str(iid), "application_id": str(self.app_id), "type": type_, "data": data,
            "guild_id": str(guild_id), "channel_id": str(channel_id),
            "channel": self.channel_payload(channel_id),
            "member": user.member(permissions=True, guild_id=guild_id), "token": token, "version": 1,
            "app_permissions": str(VIEW_AND_SEND), "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": str(guild_id)}, "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        return payload

    async def slash(self, name: str, options: dict | None = None, *, user: Person | None = None,
                    channel_id: int | None = None, subcommand: str | None = None,
                    resolved: dict | None = None, focused: str | None = None, age: float = 0.0) -> dict:
        """Invoke ``/name`` (or ``/name subcommand``) with ``options``; returns the interaction payload.

        ``age``: seconds since the interaction was created (its token lasts 15 minutes from then).
        """
        cmd = self.command(name)
        spec = cmd.get("options") or []
        opts: list[dict]
        if subcommand is not None:
            sub = next(o for o in spec if o["name"] == subcommand)
            opts = [{"name": subcommand, "type": 1, "options": self._options(sub.get("options") or [], options or {}, focused)}]
        else:
            opts = self._options(spec, options or {}, focused)
        data = {"id": cmd["id"], "name": name, "type": 1, "options": opts, "guild_id": str(self.guild_id)}
        if resolved:
            data["resolved"] = resolved
        payload = self._interaction(4 if focused else 2, data, user=user or self.alice,
                                    channel_id=channel_id or self.general_id, age=age)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def autocomplete(self, name: str, options: dict, focused: str, **kw) -> dict:
        """An autocomplete interaction for ``/name`` with ``focused`` being typed."""
        return await self.slash(name, options, focused=focused, **kw)

    def attachment(self, filename: str, data: bytes, content_type: str = "text/plain") -> dict:
        """Make an uploaded attachment the bot can download from this server."""
        aid = self.snowflake()
        self.attachments[aid] = data
        url = f"{self.base}/attachments/{self.general_id}/{aid}/download"
        return {"id": str(aid), "filename": filename, "size": len(data), "url": url, "proxy_url": url,
                "content_type": content_type, "ephemeral": True}

    async def click(self, message: dict, custom_id: str, *, user: Person | None = None) -> dict:
        """Press the button ``custom_id`` on ``message`` (as the fake returned it, or an older copy:
        what a client shows until it sees an edit). A disabled button can't be pressed."""
        items = [c for row in message.get("components") or [] for c in row.get("components") or []]
        ids = [c.get("custom_id") for c in items]
        if custom_id not in ids:
            raise KeyError(f"no component {custom_id!r} on that message; it has {ids}")
        if any(c.get("custom_id") == custom_id and c.get("disabled") for c in items):
            # Discord clients don't send clicks on a disabled button; pass an older copy of the
            # message to click what a client that had not refreshed yet would still show enabled
            raise ValueError(f"{custom_id!r} is disabled on that message")
        payload = self._interaction(3, {"custom_id": custom_id, "component_type": 2}, user=user or self.alice,
                                    channel_id=int(message["channel_id"]), message=message)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def context_menu(self, name: str, message: dict, *, user: Person | None = None) -> dict:
        """Run the message context-menu command ``name`` on ``message``."""
        cmd = self.command(name, type_=3)
        data = {"id": cmd["id"], "name": name, "type": 3, "target_id": message["id"],
                "resolved": {"messages": {message["id"]: message}}, "guild_id": str(self.guild_id)}
        payload = self._interaction(2, data, user=user or self.alice, channel_id=int(message["channel_id"]))
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    # ------------------------------------------------------------------ inspecting what the bot sent

    def for_interaction(self, interaction: dict, mark: int = 0) -> list[Recorded]:
        """Callback, follow-ups and edits made with this interaction's token."""
        token = interaction["token"]
        return [r for r in self.requests[mark:] if f"/{token}" in r.path]

    async def wait_interaction(self, interaction: dict, predicate: Callable[[Recorded], bool] | None = None,
                               *, kind: str | None = None, after: int = 0, timeout: float = 20.0) -> Recorded:
        """Wait for a request on this interaction: ``kind`` is callback / followup / edit."""
        token = interaction["token"]

        def ok(r: Recorded) -> bool:
            if f"/{token}" not in r.path:
                return False
            if kind == "callback" and not r.path.endswith("/callback"):
                return False
            if kind == "followup" and not (r.method == "POST" and r.path.startswith("/webhooks/")):
                return False
            if kind == "edit" and r.method != "PATCH":
                return False
            return predicate is None or predicate(r)

        return await self.wait_for(ok, after=after, timeout=timeout)

    async def wait_reply(self, to: dict, *, after: int = 0, timeout: float = 20.0) -> Recorded:
        """Wait for a channel message that replies to the message ``to`` and was accepted (2xx)."""
        def ok(r: Recorded) -> bool:
            ref = (r.body().get("message_reference") or {}) if r.method == "POST" else {}
            return (r.path.endswith("/messages") and str(ref.get("message_id")) == str(to["id"])
                    and 200 <= r.status < 300)

        return await self.wait_for(ok, after=after, timeout=timeout)

    # ------------------------------------------------------------------ REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        t = time.perf_counter()
        path = request.path
        body: Any = None
        files: list[tuple[str, str, bytes]] = []
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()
                if part.name == "payload_json":
                    body = json.loads(data)
                else:
                    files.append((part.name or "", part.filename or "", bytes(data)))
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
        api_path = path[len(API_PREFIX):] if path.startswith(API_PREFIX) else path
        rec = Recorded(request.method, api_path, dict(request.query), body, files, dict(request.headers), t)
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        fault = self._fault_for(rec)
        if fault is not None:
            if fault.after:
                with contextlib.suppress(_HTTPError):
                    await self._route(rec, request)
            resp = self._fault_response(fault)
        else:
            try:
                resp = await self._route(rec, request)
            except _HTTPError as e:
                resp = _json(e.body, e.status)
        rec.status = resp.status
        rec.response = getattr(resp, "_fake_body", None)
        await self._record(rec)
        return resp

    def _fault_for(self, rec: Recorded) -> Fault | None:
        for f in self.faults:
            if f.times > 0 and (f.method is None or f.method == rec.method) and f.path.search(rec.path):
                f.times -= 1
                return f
        return None

    def _fault_response(self, f: Fault) -> web.Response:
        if f.status == 429:
            body = f.body or {"message": "You are being rate limited.", "retry_after": f.retry_after,
                              "global": f.is_global, "code": 0}
            headers = {"Retry-After": str(max(1, round(f.retry_after))), "Via": "1.1 google",
                       "X-RateLimit-Scope": "global" if f.is_global else "user"}
            if f.is_global:
                headers["X-RateLimit-Global"] = "true"
            return _json(body, 429, headers)
        return _json(f.body or {"message": f"{f.status}: Server Error", "code": 0}, f.status)

    def _auth_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    async def _route(self, rec: Recorded, request: web.Request) -> web.StreamResponse:
        m, p = rec.method, rec.path
        # interaction webhooks use the interaction token, not the bot token
        if re.fullmatch(r"/interactions/\d+/[^/]+/callback", p) and m == "POST":
            return self._callback(rec)
        if mt := re.fullmatch(r"/webhooks/(\d+)/([^/]+)", p):
            if m == "POST":
                return self._followup(rec, mt.group(2))
        if mt := re.fullmatch(r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", p):
            return self._webhook_message(rec, mt.group(2), mt.group(3))
        if mt := re.fullmatch(r"/attachments/\d+/(\d+)/download", p):
            if m == "GET" and int(mt.group(1)) in self.attachments:
                data = self.attachments[int(mt.group(1))]
                return web.Response(body=data, content_type="application/octet-stream")
        if p.startswith("/attachments/"):
            return self._unknown(rec)
        if not self._auth_ok(request):
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        if p == "/users/@me" and m == "GET":
            return _json({**self.bot.user(), "verified": True, "mfa_enabled": False, "flags": 0})
        if p == "/oauth2/applications/@me" and m == "GET":
            return _json({
                "id": str(self.app_id), "name": "citebot", "icon": None, "description": "", "summary": "",
                "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": 0,
                "owner": self.ada.user(), "team": None, "rpc_origins": [], "bot": self.bot.user(),
            })
        if p in ("/gateway", "/gateway/bot") and m == "GET":
            return _json({"url": self.gateway_url.rstrip("/"), "shards": 1,
                          "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                                  "max_concurrency": 1}})
        if mt := re.fullmatch(r"/applications/(\d+)(?:/guilds/(\d+))?/commands", p):
            scope = int(mt.group(2)) if mt.group(2) else None
            if m == "PUT":
                return self._sync(scope, rec.json or [])
            if m == "GET":
                return _json(self.commands.get(scope, []))
        if mt := re.fullmatch(r"/channels/(\d+)/typing", p):
            if m == "POST" and self._channel_known(int(mt.group(1))):
                return web.Response(status=204)
        if mt := re.fullmatch(r"/channels/(\d+)/messages", p):
            if m == "POST" and self._channel_known(int(mt.group(1))):
                return self._create_message(rec, int(mt.group(1)))
        if mt := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", p):
            msg = self.messages.get(int(mt.group(2)))
            if msg is None or msg["channel_id"] != mt.group(1):
                return _json({"message": "Unknown Message", "code": 10008}, 404)
            if m == "GET":
                return _json(msg)
            if m == "PATCH":
                return self._edit(rec, msg)
            if m == "DELETE":
                self.messages.pop(int(msg["id"]), None)
                return web.Response(status=204)
        return self._unknown(rec)

    def _unknown(self, rec: Recorded) -> web.Response:
        self.unknown.append(rec)
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def _channel_known(self, cid: int) -> bool:
        return cid in self._channels or cid == self.dm_id

    def _sync(self, scope: int | None, cmds: list[dict]) -> web.Response:
        out = []
        for c in cmds:
            out.append({
                **c, "id": str(self.snowflake()), "application_id": str(self.app_id), "version": str(self.snowflake()),
                "type": c.get("type", 1), "description": c.get("description", ""),
                "guild_id": str(scope) if scope else None,
                # Discord returns permissions as a string
                "default_member_permissions": None if c.get("default_member_permissions") is None
                else str(c["default_member_permissions"]),
                "dm_permission": c.get("dm_permission", True), "nsfw": c.get("nsfw", False),
            })
        self.commands[scope] = out
        return _json(out)

    def _check_message(self, rec: Recorded, body: dict) -> web.Response | None:
        """Discord's 400 for limit breaches; note any message that could ping."""
        problems = message_problems(body)
        if problems:
            self.violations.append((rec, problems))
            return _json({"message": "Invalid Form Body", "code": 50035, "errors": {"_problems": problems}}, 400)
        if any(k in body for k in ("content", "embeds")):
            am = body.get("allowed_mentions")
            if not isinstance(am, dict) or am.get("parse") != [] or am.get("users") or am.get("roles") or am.get("replied_user"):
                self.ping_risks.append(rec)
        return None

    def _new_message(self, channel_id: int, body: dict, *, interaction: dict | None = None, flags: int = 0) -> dict:
        msg = {
            "id": str(self.snowflake()), "channel_id": str(channel_id), "guild_id": str(self.guild_of(channel_id)),
            "author": self.bot.user(), "content": body.get("content") or "", "timestamp": _iso(),
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": body.get("embeds") or [], "components": body.get("components") or [],
            "pinned": False, "type": 0, "flags": int(body.get("flags") or 0) | flags,
        }
        ref = body.get("message_reference")
        if ref:
            msg["type"] = 19
            msg["message_reference"] = {"type": 0, "message_id": str(ref["message_id"]), "channel_id": str(channel_id),
                                        "guild_id": str(self.guild_of(channel_id))}
            msg["referenced_message"] = self.messages.get(int(ref["message_id"]))
        if interaction is not None:
            msg["webhook_id"] = str(self.app_id)
            msg["application_id"] = str(self.app_id)
            msg["interaction_metadata"] = {"id": str(interaction["id"]), "type": 2, "user": interaction["user"].user(),
                                           "authorizing_integration_owners": {}}
        self.messages[int(msg["id"])] = msg
        return msg

    def _create_message(self, rec: Recorded, channel_id: int) -> web.Response:
        body = rec.json or {}
        bad = self._check_message(rec, body)
        if bad is not None:
            return bad
        ref = body.get("message_reference")
        if ref and int(ref["message_id"]) not in self.messages and ref.get("fail_if_not_exists", True):
            return _json({"message": "Invalid Form Body", "code": 50035}, 400)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            # Discord: the same author's message with this nonce from the past few minutes is returned
            seen = self._nonces.get((channel_id, str(nonce)))
            if seen is not None and time.time() - seen[0] < NONCE_SECONDS and seen[1] in self.messages:
                return _json(self.messages[seen[1]])
        msg = self._new_message(channel_id, body)
        if nonce is not None:
            msg["nonce"] = str(nonce)
            self._nonces[(channel_id, str(nonce))] = (time.time(), int(msg["id"]))
        return _json(msg)

    def _edit(self, rec: Recorded, msg: dict) -> web.Response:
        body = rec.json or {}
        merged = {k: v for k, v in msg.items() if k in ("content", "embeds", "components")}
        merged.update({k: v for k, v in body.items() if k in ("content", "embeds", "components")})
        if any(k in body for k in ("content", "embeds")):
            bad = self._check_message(rec, {**merged, "allowed_mentions": body.get("allowed_mentions")})
        else:
            # only the components change (buttons disabled): no text is sent, so nothing can ping;
            # the message as it will be must still fit Discord's limits
            problems = message_problems(merged)
            bad = None
            if problems:
                self.violations.append((rec, problems))
                bad = _json({"message": "Invalid Form Body", "code": 50035, "errors": {"_problems": problems}}, 400)
        if bad is not None:
            return bad
        for k in ("content", "embeds", "components"):
            if k in body:
                msg[k] = body[k] if body[k] is not None else ([] if k != "content" else "")
        msg["edited_timestamp"] = _iso()
        return _json(msg)

    def _callback(self, rec: Recorded) -> web.Response:
        token = rec.path.split("/")[3]
        info = self._interactions.get(token)
        if info is None:
            return _json({"message": "Unknown interaction", "code": 10062}, 404)
        if info["responded"]:
            return _json({"message": "Interaction has already been acknowledged.", "code": 40060}, 400)
        body = rec.json or {}
        type_ = body.get("type")
        data = body.get("data") or {}
        iresp: dict = {"id": str(info["id"]), "type": 2}
        out: dict = {"interaction": iresp}
        if type_ in (4, 5):
            if type_ == 4:
                bad = self._check_message(rec, data)
                if bad is not None:
                    return bad
            flags = int(data.get("flags") or 0)
            msg = self._new_message(info["channel_id"], data if type_ == 4 else {"flags": flags | 128},
                                    interaction=info)
            info["original"] = int(msg["id"])
            info["deferred"] = type_ == 5
            iresp.update(response_message_id=msg["id"], response_message_loading=type_ == 5,
                         response_message_ephemeral=bool(flags & EPHEMERAL))
            out["resource"] = {"type": type_, "message": msg}
        elif type_ in (6, 7):
            target = info["message"]
            if target is None:
                return _json({"message": "Invalid Form Body", "code": 50035}, 400)
            if type_ == 7:
                bad = self._check_message(rec, data)
                if bad is not None:
                    return bad
                stored = self.messages.get(int(target["id"]), target)
                for k in ("content", "embeds", "components"):
                    if k in data:
                        stored[k] = data[k]
                out["resource"] = {"type": 7, "message": stored}
            info["original"] = int(target["id"])
        elif type_ == 8:
            choices = data.get("choices") or []
            if len(choices) > LIMITS["choices"] or any(len(c["name"]) > LIMITS["choice_name"] for c in choices):
                self.violations.append((rec, ["autocomplete choices over the limits"]))
                return _json({"message": "Invalid Form Body", "code": 50035}, 400)
        elif type_ == 9:
            pass
        else:
            return _json({"message": f"Invalid interaction response type {type_}", "code": 50035}, 400)
        info["responded"] = True
        return _json(out)

    def _expired(self, info: dict) -> web.Response | None:
        """Discord's answer to an interaction token used after its 15 minutes."""
        if time.time() - info["created"] >= INTERACTION_TOKEN_SECONDS:
            self.expired.append(info["id"])
            return _json({"message": "Invalid Webhook Token", "code": 50027}, 401)
        return None

    def _followup(self, rec: Recorded, token: str) -> web.Response:
        info = self._interactions.get(token)
        if info is None or not info["responded"]:
            return _json({"message": "Unknown Webhook", "code": 10015}, 404)
        if (gone := self._expired(info)) is not None:
            return gone
        body = rec.json or {}
        bad = self._check_message(rec, body)
        if bad is not None:
            return bad
        if info["deferred"] and info["original"] in self.messages:
            # Discord: the first follow-up after a "thinking" defer fills in the original message
            msg = self.messages[info["original"]]
            msg.update(content=body.get("content") or "", embeds=body.get("embeds") or [],
                       components=body.get("components") or [], flags=int(body.get("flags") or 0) | (msg["flags"] & EPHEMERAL))
            msg["flags"] &= ~128
            info["deferred"] = False
        else:
            msg = self._new_message(info["channel_id"], body, interaction=info)
        if rec.query.get("wait") in ("1", "true", "True"):
            return _json(msg)
        return web.Response(status=204)

    def _webhook_message(self, rec: Recorded, token: str, which: str) -> web.Response:
        info = self._interactions.get(token)
        if info is None:
            return _json({"message": "Unknown Webhook", "code": 10015}, 404)
        if (gone := self._expired(info)) is not None:
            return gone
        mid = info["original"] if which == "@original" else int(which)
        msg = self.messages.get(mid) if mid else None
        if msg is None:
            return _json({"message": "Unknown Message", "code": 10008}, 404)
        if rec.method == "GET":
            return _json(msg)
        if rec.method == "PATCH":
            resp = self._edit(rec, msg)
            if resp.status == 200 and mid == info["original"] and info["deferred"]:
                # Discord: editing the original response of a "thinking" defer fills it in
                msg["flags"] &= ~128
                info["deferred"] = False
                resp = _json(msg)
            return resp
        if rec.method == "DELETE":
            self.messages.pop(mid, None)
            return web.Response(status=204)
        return self._unknown(rec)


class _HTTPError(Exception):
    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body


def _json(data: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    # exactly "application/json": discord.py only parses JSON for that content type (no charset)
    resp = web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})})
    resp._fake_body = data  # type: ignore[attr-defined]
    return resp


@contextlib.contextmanager
def fake_in_thread(timeout: float = 10.0):
    """A :class:`FakeDiscord` served by its own event loop in a daemon thread, for code under test
    that runs its own loop (``citebot run``); closed and joined on exit. Its ``loop`` attribute is
    the loop serving it, for ``asyncio.run_coroutine_threadsafe(fake.slash(...), fake.loop)``."""
    import threading

    ready, holder = threading.Event(), {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop

        async def go():
            holder["fake"] = await FakeDiscord().start()
            holder["fake"].loop = loop  # drive it from another thread: asyncio.run_coroutine_threadsafe
            ready.set()

        loop.run_until_complete(go())
        loop.run_forever()
        loop.run_until_complete(holder["fake"].close())
        loop.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert ready.wait(timeout), "the fake Discord did not start"
    try:
        yield holder["fake"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        t.join(timeout)


def point_discord_at(fake: FakeDiscord):
    """Context manager: redirect discord.py's REST base and default gateway to ``fake``."""
    import discord.gateway
    import discord.http
    import yarl

    @contextlib.contextmanager
    def cm():
        old_base = discord.http.Route.BASE
        old_gw = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = fake.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
        try:
            yield fake
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gw

    return cm()
