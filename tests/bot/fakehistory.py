"""The fake Discord with channel history: what ``/corpus channel add`` and the visibility checks read.

:class:`FakeHistory` extends :class:`fakediscord.FakeDiscord` (that file is left as it is) with:

* a category ("Knowledge") holding ``#help`` (text), ``#announcements`` (announcement channel),
  ``#forum`` (a forum channel) and ``#staff``, a private channel: ``@everyone`` is denied View
  Channel there, the ``Staff`` role and the bot (a member overwrite) are allowed;
* the people ``carol`` (Staff role), ``mo`` (Mods role: Manage Threads) and ``nell`` (Newcomers role,
  denied ``#help`` by a role overwrite), besides alice/bob/ada;
* message history served like Discord does: ``GET /channels/{id}/messages`` with ``before`` /
  ``after`` / ``limit`` (at most 100, newest first, real snowflake order), so discord.py's own
  ``channel.history()`` pagination runs against it;
* threads: active ones (``GET /guilds/{id}/threads/active``, and in GUILD_CREATE), archived public
  and private ones (``/threads/archived/public|private``, paged by archive time), thread members
  (``GET /channels/{thread}/thread-members/{user}``), forum posts whose first message has the
  thread's id; ``GET /channels/{id}``;
* edits and deletions made on "Discord" and dispatched as MESSAGE_UPDATE / MESSAGE_DELETE;
* rate limits during a fetch through the parent's :meth:`fail` (see :meth:`rate_limit_history`).

Seeded history is in the past (one message a minute, starting 30 days ago), so snowflakes and
timestamps agree.
"""

from __future__ import annotations

import bisect
import time
from typing import Iterable

from aiohttp import web

from fakediscord import VIEW_AND_SEND, FakeDiscord, Person, Recorded, _iso, _json

VIEW_CHANNEL = 1 << 10
MANAGE_THREADS = 1 << 34
TEXT, CATEGORY, NEWS, FORUM = 0, 4, 5, 15
PUBLIC_THREAD, PRIVATE_THREAD = 11, 12


class FakeHistory(FakeDiscord):
    """FakeDiscord plus channels with history, threads, a forum and a private channel."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.staff_role_id = self.snowflake()
        self.mods_role_id = self.snowflake()
        self.newbie_role_id = self.snowflake()  # denied #help by a role overwrite (@everyone may read it)
        self.category_id = self.snowflake()
        self.help_id = self.snowflake()
        self.news_id = self.snowflake()
        self.forum_id = self.snowflake()
        self.staff_id = self.snowflake()
        self.carol = Person(self.snowflake(), "carol", roles=[self.staff_role_id])
        self.nell = Person(self.snowflake(), "nell", roles=[self.newbie_role_id])
        self.mo = Person(self.snowflake(), "mo", roles=[self.mods_role_id], permissions=VIEW_AND_SEND | MANAGE_THREADS)
        self.bot.roles = [self.mods_role_id]  # the bot may list private archived threads
        self.names = {self.category_id: ("Knowledge", CATEGORY), self.help_id: ("help", TEXT),
                      self.news_id: ("announcements", NEWS), self.forum_id: ("forum", FORUM),
                      self.staff_id: ("staff", TEXT)}
        self.threads: dict[int, dict] = {}
        self.thread_members: dict[int, set[int]] = {}
        self.history: dict[int, list[int]] = {}  # channel/thread id -> message ids, ascending
        self.clock = time.time() - 30 * 86400  # seeded messages: one a minute from 30 days ago

    # ------------------------------------------------------------------ building history

    def _tick(self) -> float:
        self.clock += 60
        return self.clock

    def _store(self, msg: dict) -> dict:
        cid, mid = int(msg["channel_id"]), int(msg["id"])
        self.messages[mid] = msg
        ids = self.history.setdefault(cid, [])
        bisect.insort(ids, mid)
        return msg

    def past_message(self, channel_id: int, content: str, *, author: Person | None = None,
                     reply_to: dict | None = None, mid: int | None = None, mentions: Iterable[Person] = ()) -> dict:
        """A message already in the channel's history (no gateway event)."""
        author = author or self.alice
        at = self._tick()
        msg = {
            "id": str(mid or self.snowflake(at)), "channel_id": str(channel_id), "guild_id": str(self.guild_id),
            "author": author.user(), "content": content, "timestamp": _iso(at), "edited_timestamp": None,
            "tts": False, "mention_everyone": False, "mentions": [p.user() for p in mentions], "mention_roles": [],
            "attachments": [], "embeds": [], "components": [], "pinned": False, "type": 0, "flags": 0,
        }
        if reply_to is not None:
            msg["type"] = 19
            msg["message_reference"] = {"type": 0, "message_id": reply_to["id"], "channel_id": reply_to["channel_id"],
                                        "guild_id": str(self.guild_id)}
            msg["referenced_message"] = reply_to
        return self._store(msg)

    def seed(self, channel_id: int, count: int, *, authors: Iterable[Person] | None = None,
             text: str = "Message number {i} about the deployment steps.") -> list[dict]:
        """``count`` past messages in ``channel_id``, authors taking turns."""
        people = list(authors or [self.alice, self.bob])
        return [self.past_message(channel_id, text.format(i=i), author=people[i % len(people)]) for i in range(count)]

    def add_thread(self, parent_id: int, name: str, *, private: bool = False, archived: bool = False,
                   members: Iterable[Person] = (), messages: Iterable[tuple[Person, str]] = ()) -> int:
        """A thread (a post, in the forum) with ``messages``; returns its id. In a forum the first
        message's id is the thread's, as on Discord."""
        messages = list(messages)
        at = self._tick()
        tid = self.snowflake(at)
        owner = messages[0][0] if messages else self.alice
        self.threads[tid] = {
            "id": str(tid), "type": PRIVATE_THREAD if private else PUBLIC_THREAD, "guild_id": str(self.guild_id),
            "name": name, "parent_id": str(parent_id), "owner_id": str(owner.id), "last_message_id": None,
            "message_count": len(messages), "member_count": 1, "rate_limit_per_user": 0, "flags": 0,
            "thread_metadata": {"archived": archived, "auto_archive_duration": 1440, "archive_timestamp": _iso(at),
                                "locked": False, **({"invitable": False} if private else {})},
        }
        self.thread_members[tid] = {p.id for p in members} | {owner.id}
        for i, (who, text) in enumerate(messages):
            first_in_forum = i == 0 and parent_id == self.forum_id
            self.past_message(tid, text, author=who, mid=tid if first_in_forum else None)
        self.threads[tid]["last_message_id"] = str(self.history[tid][-1]) if self.history.get(tid) else None
        return tid

    def archive(self, thread_id: int) -> None:
        meta = self.threads[thread_id]["thread_metadata"]
        meta.update(archived=True, archive_timestamp=_iso(time.time()))

    async def post(self, channel_id: int, content: str, *, author: Person | None = None) -> dict:
        """A new message now (MESSAGE_CREATE), kept in the history."""
        msg = await self.send_message(content, author=author, channel_id=channel_id)
        self._store(msg)
        if channel_id in self.threads:
            self.threads[channel_id]["last_message_id"] = msg["id"]
        return msg

    async def edit_message(self, msg: dict, content: str) -> dict:
        """Someone edits ``msg`` on Discord: the history changes and MESSAGE_UPDATE is dispatched."""
        msg["content"] = content
        msg["edited_timestamp"] = _iso()
        await self.dispatch("MESSAGE_UPDATE", dict(msg))
        return msg

    async def delete_message(self, msg: dict, *, silently: bool = False) -> None:
        """``msg`` is deleted on Discord; MESSAGE_DELETE is dispatched unless ``silently`` (the bot
        was offline: only a re-check can notice)."""
        cid, mid = int(msg["channel_id"]), int(msg["id"])
        self.messages.pop(mid, None)
        ids = self.history.get(cid, [])
        if mid in ids:
            ids.remove(mid)
        if not silently:
            await self.dispatch("MESSAGE_DELETE", {"id": str(mid), "channel_id": str(cid), "guild_id": str(self.guild_id)})

    def rate_limit_history(self, times: int, retry_after: float = 0.05):
        """The next ``times`` history requests answer 429 (discord.py retries five times itself)."""
        return self.fail("GET", r"^/channels/\d+/messages$", times=times, retry_after=retry_after)

    def resolved_channel(self, channel_id: int) -> dict:
        """The ``resolved`` part of an interaction whose channel option is ``channel_id``."""
        c = self.channel_payload(channel_id)
        if channel_id not in self.threads:  # a thread is resolved with all its fields
            c = {k: c[k] for k in ("id", "name", "type", "parent_id") if k in c}
        return {"channels": {str(channel_id): {**c, "permissions": str(VIEW_AND_SEND)}}}

    async def group_command(self, name: str, group: str, sub: str, options: dict | None = None, *,
                            user: Person | None = None, channel_id: int | None = None,
                            resolved: dict | None = None) -> dict:
        """Invoke ``/name group sub`` (a subcommand of a subcommand group)."""
        cmd = self.command(name)
        g = next(o for o in cmd.get("options") or [] if o["name"] == group)
        s = next(o for o in g.get("options") or [] if o["name"] == sub)
        opts = [{"name": group, "type": 2,
                 "options": [{"name": sub, "type": 1, "options": self._options(s.get("options") or [], options or {})}]}]
        data = {"id": cmd["id"], "name": name, "type": 1, "options": opts, "guild_id": str(self.guild_id)}
        if resolved:
            data["resolved"] = resolved
        payload = self._interaction(2, data, user=user or self.ada, channel_id=channel_id or self.general_id)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    def history_requests(self, channel_id: int, mark: int = 0) -> list[Recorded]:
        return [r for r in self.requests[mark:] if r.method == "GET" and r.path == f"/channels/{channel_id}/messages"]

    # ------------------------------------------------------------------ payloads

    def channel_payload(self, channel_id: int) -> dict:
        if channel_id in self.threads:
            return dict(self.threads[channel_id])
        if channel_id not in self.names:
            return super().channel_payload(channel_id)
        name, type_ = self.names[channel_id]
        out = {"id": str(channel_id), "type": type_, "guild_id": str(self.guild_id), "name": name, "position": 1,
               "permission_overwrites": [], "nsfw": False, "flags": 0,
               "parent_id": None if type_ == CATEGORY else str(self.category_id)}
        if type_ != CATEGORY:
            out.update(topic=f"All about {name}", last_message_id=None, rate_limit_per_user=0)
        if type_ == FORUM:
            out.update(available_tags=[], default_reaction_emoji=None, default_thread_rate_limit_per_user=0,
                       default_sort_order=None, default_forum_layout=0)
        if channel_id == self.help_id:
            out["permission_overwrites"] = [
                {"id": str(self.newbie_role_id), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)}]
        if channel_id == self.staff_id:
            out["permission_overwrites"] = [
                {"id": str(self.guild_id), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)},
                {"id": str(self.staff_role_id), "type": 0, "allow": str(VIEW_CHANNEL), "deny": "0"},
                {"id": str(self.bot.id), "type": 1, "allow": str(VIEW_CHANNEL), "deny": "0"},
            ]
        return out

    def guild_payload(self) -> dict:
        g = super().guild_payload()
        role = dict(g["roles"][0])
        g["roles"] += [
            {**role, "id": str(self.staff_role_id), "name": "Staff", "position": 2},
            {**role, "id": str(self.mods_role_id), "name": "Mods", "position": 3,
             "permissions": str(VIEW_AND_SEND | MANAGE_THREADS)},
            {**role, "id": str(self.newbie_role_id), "name": "Newcomers", "position": 4},
        ]
        g["channels"] += [self.channel_payload(c) for c in self.names]
        g["threads"] += [self.channel_payload(t) for t, p in self.threads.items()
                         if not p["thread_metadata"]["archived"]]
        return g

    def member_payload(self, person: Person) -> dict:
        """``person`` as a guild member object (for building discord.Member in tests)."""
        return person.member()

    # ------------------------------------------------------------------ REST

    def _channel_known(self, cid: int) -> bool:
        return super()._channel_known(cid) or cid in self.names or cid in self.threads

    async def _route(self, rec: Recorded, request: web.Request) -> web.StreamResponse:
        p, m, q = rec.path, rec.method, rec.query
        parts = p.strip("/").split("/")
        if m == "GET" and self._auth_ok(request):
            if len(parts) == 3 and parts[0] == "channels" and parts[2] == "messages" and self._channel_known(int(parts[1])):
                return self._page(int(parts[1]), q)
            if p == f"/guilds/{self.guild_id}/threads/active":
                active = [self.channel_payload(t) for t, d in self.threads.items() if not d["thread_metadata"]["archived"]]
                return _json({"threads": active, "members": []})
            if p.startswith("/channels/") and "/threads/archived/" in p:
                return self._archived(int(parts[1]), private=p.endswith("/private"),
                                      joined="/users/@me/" in p, query=q)
            if len(parts) == 4 and parts[0] == "channels" and parts[2] == "thread-members":
                tid, uid = int(parts[1]), int(parts[3])
                if uid in self.thread_members.get(tid, set()):
                    return _json({"id": str(tid), "user_id": str(uid), "join_timestamp": _iso(), "flags": 0})
                return _json({"message": "Unknown Member", "code": 10007}, 404)
            if len(parts) == 2 and parts[0] == "channels" and self._channel_known(int(parts[1])):
                return _json(self.channel_payload(int(parts[1])))
        return await super()._route(rec, request)

    def _page(self, channel_id: int, q: dict) -> web.Response:
        """Discord's paging: at most ``limit`` (≤ 100) messages next to the cursor, newest first."""
        ids = self.history.get(channel_id, [])
        limit = max(1, min(100, int(q.get("limit", 50))))
        if "after" in q:
            start = bisect.bisect_right(ids, int(q["after"]))
            chosen = ids[start:start + limit]
        elif "before" in q:
            end = bisect.bisect_left(ids, int(q["before"]))
            chosen = ids[max(0, end - limit):end]
        else:
            chosen = ids[-limit:]
        return _json([self.messages[i] for i in reversed(chosen)])

    def _archived(self, channel_id: int, *, private: bool, joined: bool, query: dict) -> web.Response:
        want = PRIVATE_THREAD if private else PUBLIC_THREAD
        found = [d for d in self.threads.values()
                 if d["parent_id"] == str(channel_id) and d["type"] == want and d["thread_metadata"]["archived"]
                 and (not joined or self.bot.id in self.thread_members.get(int(d["id"]), set()))]
        found.sort(key=lambda d: d["thread_metadata"]["archive_timestamp"], reverse=True)
        before = query.get("before")
        if before:
            found = [d for d in found if d["thread_metadata"]["archive_timestamp"] < before]
        limit = int(query.get("limit", 50))
        return _json({"threads": found[:limit], "members": [], "has_more": len(found) > limit})


# ---------------------------------------------------------------------- a knowledge base to fetch into

NOTE = "Opening hours\n\nThe help desk answers on weekdays between nine and five.\n"


def history_registry(folder, guild_ids: Iterable[int], *, name: str = "hist", files: dict | None = None):
    """A registry with one knowledge base ``name`` serving ``guild_ids``: its corpus folder
    ``folder/corpus`` (one small note, so the index builds in a moment) and its index beside it.
    Returns ``(registry, corpus)``."""
    from pathlib import Path

    from retrieval.config import Settings
    from retrieval.serve.kb import KnowledgeBase, Registry

    corpus = Path(folder) / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for fn, text in (files or {"note.txt": NOTE}).items():
        (corpus / fn).write_text(text, encoding="utf-8")
    # from_mapping, not load(): no config file or CITEBOT_* variable of the machine leaks in
    settings = Settings.from_mapping({"corpus": corpus, "index_dir": Path(folder) / "index"})
    return Registry([KnowledgeBase(name, settings, guilds=frozenset(guild_ids))]), corpus
