"""DiscordChatExporter JSON exports (``{guild, channel, messages[]}``) → one document per conversation.

A conversation is a message with the replies that answer it (``reference.messageId``), or a run of
consecutive messages by one author; bot messages, system messages, commands and short chatter
("thanks!", emoji only) are left out. Each document cites its first message: the author's display
name, ``#channel``, the date and a jump link ``https://discord.com/channels/G/C/M``.

Authors are told apart by their user id, never by the name shown: anyone may take a moderator's
nickname. A run joins only messages of one id, and when two people of one conversation show the same
name, each line carries the account's username (or id) beside it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime

from retrieval.ingest.clean import normalize
from retrieval.types import Document, Paragraph, Skipped
from retrieval.ingest.formats import Unreadable, one_line

_KEEP_TYPES = {None, "Default", "Reply", "ThreadStarterMessage"}
_COMMAND = re.compile(r"^[!/?$>.;][a-z]\w*(?:\s|$)", re.IGNORECASE)
_CUSTOM_EMOJI = re.compile(r"<a?:\w+:\d+>|:[\w+-]+:")
_CHATTER = re.compile(
    r"^(?:thanks?|thank you|thx|ty|tysm|tyvm|cheers|ok(?:ay)?|k|lol|lmao|haha+|nice|cool|great|awesome|"
    r"yes|yeah|yep|no|nope|np|same|gg|wow|\+1|this|agreed|done|fixed|got it|ah|oh|hi|hello|hey|bump)"
    r"(?:\s+(?:so much|a lot|again|man|guys|all|everyone|you|u))*$", re.IGNORECASE)
_MARKUP = re.compile(r"\*\*|__|~~|\|\|")
_SAME_RUN_SECONDS = 15 * 60  # consecutive messages by one author this close belong together
_GROUP_CHARS = 1500  # a longer conversation is cut into paragraphs at message boundaries


def read_discord(text: str, *, doc_id: str, source: str) -> Iterator[Document | Skipped]:
    """The conversations of one export, as documents with ids ``<file id>/<first message id>``.

    Raises:
        Unreadable: the JSON is not a DiscordChatExporter channel export.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise Unreadable(f"invalid JSON: {e}") from None
    if not (isinstance(data, dict) and isinstance(data.get("channel"), dict) and isinstance(data.get("messages"), list)):
        raise Unreadable("JSON file is not a DiscordChatExporter export (needs guild, channel and messages)")
    guild = data.get("guild") if isinstance(data.get("guild"), dict) else {}
    channel = data["channel"]
    gid = str(guild.get("id") or "0")
    gid = "@me" if gid == "0" else gid
    cid = str(channel.get("id") or "")
    name = one_line(str(channel.get("name") or cid))
    kept = [m for m in data["messages"] if _useful(m)]
    groups = _conversations(kept)
    for group in groups:
        first = group[0]
        mid = str(first.get("id"))
        label = _labels(group)
        lines = [(f"{label[_author_key(m)]}: " if len(label) > 1 else "") + _content(m) for m in group]
        paras: list[list[str]] = [[]]
        for ln in lines:
            if paras[-1] and sum(len(x) for x in paras[-1]) + len(ln) > _GROUP_CHARS:
                paras.append([])
            paras[-1].append(ln)
        url = f"https://discord.com/channels/{gid}/{cid}/{mid}"
        yield Document(
            doc_id=f"{doc_id}/{mid}", source=url, title=f"#{name}",
            paragraphs=[Paragraph(i, "\n".join(p)) for i, p in enumerate(paras, 1)],
            content_hash=hashlib.sha256(json.dumps(group, sort_keys=True, ensure_ascii=False).encode()).hexdigest(),
            date=_date(first.get("timestamp")), author=label[_author_key(first)], url=url,
        )
    if not groups:
        yield Skipped(source, "no messages left (bots, commands and short chatter are left out)")


def _useful(m) -> bool:
    if not isinstance(m, dict) or not isinstance(m.get("content"), str):
        return False
    author = m.get("author") if isinstance(m.get("author"), dict) else {}
    if author.get("isBot") or m.get("type") not in _KEEP_TYPES:
        return False
    text = one_line(_content(m))
    if not text or _COMMAND.match(text):
        return False
    bare = one_line(re.sub(r"[^\w\s+']", " ", _CUSTOM_EMOJI.sub(" ", text)))
    return bool(re.search(r"[^\W\d_]", bare)) and not _CHATTER.match(bare)


def message_text(m: dict) -> str:
    """A message's text as its passages hold it (markup removed, normalized)."""
    return normalize(_MARKUP.sub("", m.get("content") or "")).strip()


_content = message_text


def _display(m: dict) -> str:
    a = m.get("author") if isinstance(m.get("author"), dict) else {}
    return one_line(str(a.get("nickname") or a.get("name") or "unknown"))


def _author_key(m: dict) -> str:
    """Who wrote ``m``: the user id (the username when an export has none; never the display name)."""
    a = m.get("author") if isinstance(m.get("author"), dict) else {}
    uid = str(a.get("id") or "").strip()
    return f"id:{uid}" if uid else f"name:{a.get('name') or 'unknown'}"


def _labels(group: list[dict]) -> dict[str, str]:
    """Each author of a conversation (by :func:`_author_key`) with the name to show: the display name,
    and beside it the username (or id) when another author of the conversation shows the same name."""
    shown: dict[str, str] = {}
    handle: dict[str, str] = {}
    for m in group:
        key = _author_key(m)
        if key not in shown:
            a = m.get("author") if isinstance(m.get("author"), dict) else {}
            shown[key] = _display(m)
            handle[key] = one_line(str(a.get("name") or "")) or key.split(":", 1)[1]
    names = list(shown.values())
    handles = list(handle.values())
    out = {}
    for key, name in shown.items():
        if names.count(name) == 1:
            out[key] = name
        else:  # a borrowed name: the account beside it (its username; the id when usernames collide too)
            h = f"@{handle[key]}" if handles.count(handle[key]) == 1 else key.split(":", 1)[1]
            out[key] = f"{name} ({h})"
    return out


def _date(ts) -> str | None:
    try:
        return datetime.fromisoformat(str(ts).replace("Z", "+00:00")).strftime("%Y-%m-%d")
    except ValueError:
        return None


def _when(m: dict) -> float | None:
    try:
        return datetime.fromisoformat(str(m.get("timestamp")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _conversations(messages: list[dict]) -> list[list[dict]]:
    """Replies join the conversation of the message they answer; a message by the author of the one
    just before (within minutes, not a reply elsewhere) continues it."""
    groups: list[list[dict]] = []
    where: dict[str, int] = {}  # message id -> group index
    last = None
    for m in messages:
        ref = m.get("reference") if isinstance(m.get("reference"), dict) else {}
        target = where.get(str(ref.get("messageId"))) if ref.get("messageId") else None
        if target is None and last is not None and not ref.get("messageId"):
            prev = groups[last][-1]
            t0, t1 = _when(prev), _when(m)
            if _author_key(prev) == _author_key(m) and t0 is not None and t1 is not None and 0 <= t1 - t0 <= _SAME_RUN_SECONDS:
                target = last
        if target is None:
            groups.append([])
            target = len(groups) - 1
        groups[target].append(m)
        where[str(m.get("id"))] = target
        last = target
    return groups
