"""End-to-end: citation buttons, /source, /sources, "Show sources", feedback across a restart."""

from __future__ import annotations

import copy
import json

from harness import start_bot, stop_bot

from bot.feedback import FeedbackStore
from bot.render import button_label

QUESTION = "Who designated the cartel a terrorist organization?"


async def _answer(fake, question=QUESTION):
    msg = await fake.mention(question)
    rec = await fake.wait_reply(msg)
    return fake.messages[int(rec.response["id"])]


async def test_source_button_shows_context_ephemerally(fake, bot, engine):
    answer = await _answer(fake)
    expected = engine.ask(QUESTION).results[0]
    inter = await fake.click(answer, "citebot:src:default:1", user=fake.bob)
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["type"] == 5 and cb.json["data"]["flags"] & 64, "deferred, ephemeral"
    follow = await fake.wait_interaction(inter, kind="followup")
    body = follow.body()
    assert body["flags"] & 64
    embed = body["embeds"][0]
    assert embed["title"].startswith("[1] ")
    desc = embed["description"]
    # the cited paragraph, marked, and its neighbours
    p = expected.paragraph
    assert f"**▶ ¶ {p}**" in desc
    assert (f"**¶ {p - 1}**" in desc) or p == 1
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Paragraph"].startswith(f"¶ {p} of ")
    assert fields["Document id"].replace("\\", "") == expected.doc_id
    assert "Source" in fields


async def test_slash_source_with_autocomplete(fake, bot, engine):
    doc = engine.documents()[2]
    inter = await fake.autocomplete("source", {"document": doc["doc_id"][:5]}, "document")
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["type"] == 8
    choices = cb.json["data"]["choices"]
    assert doc["doc_id"] in [c["value"] for c in choices]
    assert all(doc["doc_id"][:5].lower() in c["name"].lower() for c in choices), "only matching documents"
    inter = await fake.autocomplete("source", {"document": "zzz-nothing-matches"}, "document")
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["data"]["choices"] == []

    inter = await fake.slash("source", {"document": doc["doc_id"], "paragraph": 2})
    follow = await fake.wait_interaction(inter, kind="followup")
    desc = follow.body()["embeds"][0]["description"]
    assert "**▶ ¶ 2**" in desc and "**¶ 1**" in desc and "**¶ 3**" in desc

    inter = await fake.slash("source", {"document": "no-such-doc"})
    follow = await fake.wait_interaction(inter, kind="followup")
    assert "no document" in follow.body()["content"] and "/sources" in follow.body()["content"]


async def test_public_source_not_found_is_shown_only_to_the_user(fake, bot, engine):
    """``/source private:False`` defers publicly; a "no document" error must not fill that public
    "thinking" message (the first follow-up after a defer does, ignoring its ephemeral flag). The
    bot deletes it and sends the error as an ephemeral follow-up, with the typed id escaped."""
    inter = await fake.slash("source", {"document": "no_such*doc", "private": False})
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["type"] == 5 and not ((cb.json.get("data") or {}).get("flags") or 0) & 64, "public defer"
    thinking = int(cb.response["resource"]["message"]["id"])
    follow = await fake.wait_interaction(inter, kind="followup")
    deleted = [r for r in fake.for_interaction(inter) if r.method == "DELETE"]
    assert deleted and deleted[0].path.endswith("/messages/@original") and deleted[0].t < follow.t
    assert thinking not in fake.messages, "no public trace of the error"
    body = follow.body()
    assert body["flags"] & 64 and "no document" in body["content"] and "/sources" in body["content"]
    assert "no\\_such\\*doc" in body["content"]
    assert fake.messages[int(follow.response["id"])]["flags"] & 64

    # found: still public
    doc = engine.documents()[0]["doc_id"]
    inter = await fake.slash("source", {"document": doc, "private": False})
    follow = await fake.wait_interaction(inter, kind="followup")
    assert not (follow.body().get("flags") or 0) & 64 and follow.body()["embeds"]
    assert not [r for r in fake.for_interaction(inter) if r.method == "DELETE"]


async def test_sources_lists_documents_with_pages(fake, bot, engine):
    inter = await fake.slash("sources")
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["type"] == 4 and cb.json["data"]["flags"] & 64
    embed = cb.json["data"]["embeds"][0]
    n = len(engine.documents())
    assert embed["title"] == f"Indexed documents ({n})"
    for d in engine.documents():
        assert d["doc_id"] in embed["description"]
    assert embed["footer"]["text"].startswith("Page 1/1")
    buttons = [c for row in cb.json["data"]["components"] for c in row["components"]]
    assert [b["disabled"] for b in buttons] == [True, True], "one page: both arrows disabled"


async def test_sources_paging_by_button(fake, engine, tmp_path):
    """With a small page size the pager edits the message in place (type 7)."""
    from harness import bot_config

    b = await start_bot(bot_config(fake, tmp_path, documents_per_page=2), engine)
    try:
        inter = await fake.slash("sources")
        cb = await fake.wait_interaction(inter, kind="callback")
        msg = cb.response["resource"]["message"]
        assert "Page 1/3" in msg["embeds"][0]["footer"]["text"]
        nxt = next(c["custom_id"] for row in msg["components"] for c in row["components"] if "Next" in c["label"])
        click = await fake.click(msg, nxt)
        upd = await fake.wait_interaction(click, kind="callback")
        assert upd.json["type"] == 7
        assert "Page 2/3" in upd.json["data"]["embeds"][0]["footer"]["text"]
        # someone else can't page it
        other = await fake.click(msg, nxt, user=fake.bob)
        refused = await fake.wait_interaction(other, kind="callback")
        assert refused.json["type"] == 4 and "yourself" in refused.json["data"]["content"]
    finally:
        await stop_bot(b)


async def test_sources_pager_greys_out_at_timeout_and_late_clicks_are_answered(fake, engine, tmp_path, monkeypatch):
    """After its timeout the /sources pager edits its message (with the /sources token: it is
    ephemeral) to disable both arrows. A click that still arrives (a client that had not refreshed,
    or after a restart) gets a clear ephemeral line instead of "This interaction failed"."""
    from functools import partial

    from harness import bot_config

    from bot import views

    monkeypatch.setattr(views, "DocumentsPager", partial(views.DocumentsPager, timeout=0.5))
    config = bot_config(fake, tmp_path, documents_per_page=2)
    b = await start_bot(config, engine)
    try:
        inter = await fake.slash("sources")
        cb = await fake.wait_interaction(inter, kind="callback")
        msg = copy.deepcopy(cb.response["resource"]["message"])  # what the client shows until an edit
        nxt = next(c["custom_id"] for row in msg["components"] for c in row["components"] if "Next" in c["label"])
        click = await fake.click(msg, nxt)
        assert (await fake.wait_interaction(click, kind="callback")).json["type"] == 7, "pages while alive"

        edit = await fake.wait_interaction(inter, kind="edit", timeout=5)
        assert edit.path.endswith("/messages/@original") and 200 <= edit.status < 300
        buttons = [c for row in edit.json["components"] for c in row["components"]]
        assert len(buttons) == 2 and all(btn["disabled"] for btn in buttons)
        assert "Page 2/3" in fake.messages[int(msg["id"])]["embeds"][0]["footer"]["text"], "the page stays"

        late = await fake.click(msg, nxt)  # the copy from before the edit: arrows still enabled
        cb = await fake.wait_interaction(late, kind="callback", timeout=5)
        assert cb.json["type"] == 4 and cb.json["data"]["flags"] & 64
        assert "run /sources again" in cb.json["data"]["content"]
    finally:
        await stop_bot(b)

    b2 = await start_bot(config, engine)  # a restart: no pager in memory at all
    try:
        late = await fake.click(msg, nxt)
        cb = await fake.wait_interaction(late, kind="callback", timeout=5)
        assert cb.json["data"]["flags"] & 64 and "run /sources again" in cb.json["data"]["content"]
    finally:
        await stop_bot(b2)


async def test_show_sources_context_menu(fake, bot, engine):
    answer = await _answer(fake)
    inter = await fake.context_menu("Show sources", answer)
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["type"] == 4 and cb.json["data"]["flags"] & 64
    desc = cb.json["data"]["embeds"][0]["description"]
    for i, r in enumerate(engine.ask(QUESTION).results, 1):
        assert f"**[{i}]**" in desc and f"¶ {r.paragraph}" in desc
    # on a message that is not an answer
    user_msg = await fake.send_message("hello")
    inter = await fake.context_menu("Show sources", user_msg)
    cb = await fake.wait_interaction(inter, kind="callback")
    assert "isn't one of my answers" in cb.json["data"]["content"]


async def test_feedback_stored_and_works_after_restart(fake, config, engine, tmp_path):
    """👍 is stored (hashed user); after a restart the same button still works and changes the vote."""
    b = await start_bot(config, engine)
    try:
        answer = await _answer(fake)
        inter = await fake.click(answer, "citebot:vote:default:up", user=fake.bob)
        cb = await fake.wait_interaction(inter, kind="callback")
        assert cb.json["type"] == 4 and cb.json["data"]["flags"] & 64 and "👍" in cb.json["data"]["content"]
    finally:
        await stop_bot(b)

    # a new process: nothing in memory, only the persistent view registered in setup_hook
    b2 = await start_bot(config, engine)
    try:
        inter = await fake.click(answer, "citebot:vote:default:down", user=fake.bob)
        cb = await fake.wait_interaction(inter, kind="callback")
        assert "👎" in cb.json["data"]["content"]
        inter = await fake.click(answer, "citebot:src:default:2", user=fake.alice)
        follow = await fake.wait_interaction(inter, kind="followup")
        assert follow.body()["embeds"][0]["title"].startswith("[2] ")
    finally:
        await stop_bot(b2)

    store = FeedbackStore(config.feedback_db)
    try:
        votes = store.votes()
        assert len(votes) == 1, "one vote per user per answer; the second click changed it"
        v = votes[0]
        assert v["vote"] == "down" and v["question"] == QUESTION and v["message_id"] == answer["id"]
        assert str(fake.bob.id) not in json.dumps(v) and len(v["user"]) == 64
        assert [r["number"] for r in v["results"]] == [1, 2, 3]
    finally:
        store.close()


async def test_buttons_on_unknown_answer(fake, bot):
    """A button on a message the store does not know (e.g. the database was reset) says so."""
    fake_msg = {
        "id": str(fake.snowflake()), "channel_id": str(fake.general_id), "author": fake.bot.user(), "content": "",
        "timestamp": "2025-01-01T00:00:00+00:00", "edited_timestamp": None, "tts": False, "mention_everyone": False,
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0,
        "components": [{"type": 1, "components": [{"type": 2, "style": 2, "custom_id": "citebot:src:default:1", "label": "[1]"},
                                                  {"type": 2, "style": 2, "custom_id": "citebot:vote:default:up"}]}],
    }
    inter = await fake.click(fake_msg, "citebot:src:default:1")
    follow = await fake.wait_interaction(inter, kind="followup")
    assert "no longer have the sources" in follow.body()["content"]
    inter = await fake.click(fake_msg, "citebot:vote:default:up")
    cb = await fake.wait_interaction(inter, kind="callback")
    assert "can't store the vote" in cb.json["data"]["content"]


async def test_source_button_error_is_reported_not_left_thinking(fake, bot, engine, monkeypatch):
    """A citation button whose handler fails tells the clicker so (ephemeral); before the fix the
    view's error went only to the log and the deferred "thinking…" message never resolved."""
    answer = await _answer(fake)

    def broken(*args, **kwargs):
        raise RuntimeError("index file vanished")

    monkeypatch.setattr(engine, "source", broken)
    inter = await fake.click(answer, "citebot:src:default:1", user=fake.bob)
    follow = await fake.wait_interaction(inter, kind="followup", timeout=5)
    body = follow.body()
    assert "Something went wrong" in body["content"] and body["flags"] & 64
    assert "index file vanished" not in body["content"]


async def test_source_button_warns_when_the_document_changed_since_the_answer(fake, bot, engine, monkeypatch):
    """After the cited document was edited and reindexed, [n] shows today's paragraph with a warning
    instead of silently presenting text that no longer holds the quote (no bold quote to be seen)."""
    from dataclasses import replace

    answer = await _answer(fake)
    inter = await fake.click(answer, "citebot:src:default:1", user=fake.bob)
    follow = await fake.wait_interaction(inter, kind="followup")
    assert not follow.body().get("content"), "an unchanged source carries no warning"

    original = engine.source

    def edited(doc_id, paragraph=None, context=1):
        view = original(doc_id, paragraph, context)
        paras = [replace(p, text="This paragraph was rewritten.") if p.number == view.paragraph else p
                 for p in view.paragraphs]
        return replace(view, paragraphs=paras)

    monkeypatch.setattr(engine, "source", edited)
    inter = await fake.click(answer, "citebot:src:default:1", user=fake.bob)
    follow = await fake.wait_interaction(inter, kind="followup")
    body = follow.body()
    assert "changed since the answer" in body["content"] and body["flags"] & 64
    assert "This paragraph was rewritten." in body["embeds"][0]["description"]


def _also_in_answer(engine):
    """An answer quoting paragraph 2 of one seed document, with paragraph 3 of another folded into it
    as "also in" (a near-duplicate): the answer shows the result as [1] and "↳ also in [2]"."""
    from retrieval.types import Answer, Citation, Result

    docs = [d for d in engine.documents() if d["paragraphs"] >= 4 and d.get("title")]
    main, dup = docs[0], docs[1]
    text = engine.source(main["doc_id"], 2, 0).paragraphs[0].text

    def cite(d, para):
        return Citation(0, d["doc_id"], d["title"], d.get("outlet"), d.get("author"), d.get("date"), para,
                        d.get("url") or d.get("source") or d["doc_id"])

    result = Result(1, main["doc_id"], 2, text, text[:40], 0, 1.0, 0.9, cite(main, 2), None,
                    [dup["doc_id"]], [cite(dup, 3)])
    return Answer(QUESTION, True, [result], 0.9, engine.stats()["version"]), dup


async def test_also_in_source_opens_with_its_number_after_a_restart(fake, config, engine, monkeypatch):
    """An "also in" source has a button with the number the answer shows ([2] here) that opens the
    other document at the duplicate's paragraph, also after a restart, and "Show sources" lists it
    with that number (before: no button, not stored, not listed)."""
    answer_obj, dup = _also_in_answer(engine)
    monkeypatch.setattr(engine, "ask", lambda question, **kw: answer_obj)
    b = await start_bot(config, engine)
    try:
        answer = await _answer(fake)
        assert "↳ also in [2]" in answer["embeds"][0]["description"]
        ids = [c.get("custom_id") for row in answer["components"] for c in row["components"]]
        labels = [c.get("label") for row in answer["components"] for c in row["components"]]
        assert ids[:3] == ["citebot:src:default:1", "citebot:src:default:2", "citebot:vote:default:up"]
        assert labels[1] == button_label(2, dup["title"])
    finally:
        await stop_bot(b)

    b2 = await start_bot(config, engine)  # nothing in memory: the persistent view and the store
    try:
        inter = await fake.click(answer, "citebot:src:default:2", user=fake.bob)
        follow = await fake.wait_interaction(inter, kind="followup")
        body = follow.body()
        assert body["flags"] & 64 and not body.get("content"), "no 'document changed' warning"
        embed = body["embeds"][0]
        assert embed["title"].startswith("[2] ")
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Document id"].replace("\\", "") == dup["doc_id"]
        assert fields["Paragraph"].startswith("¶ 3 of ") and "**▶ ¶ 3**" in embed["description"]

        inter = await fake.context_menu("Show sources", answer)
        cb = await fake.wait_interaction(inter, kind="callback")
        desc = cb.json["data"]["embeds"][0]["description"]
        lines = [ln.replace("\\", "") for ln in desc.split("\n") if ln.startswith("**[")]
        assert len(lines) == 2 and lines[0].startswith("**[1]**") and lines[0].endswith("· ¶ 2")
        assert lines[1].startswith("**[2]**") and dup["title"].replace("\\", "") in lines[1] and lines[1].endswith("· ¶ 3")
    finally:
        await stop_bot(b2)


OLD_ANSWERS_TABLE = """
CREATE TABLE answers (
    message_id INTEGER PRIMARY KEY, channel_id INTEGER, guild_id INTEGER, question TEXT NOT NULL,
    answered INTEGER NOT NULL, results TEXT NOT NULL, index_version TEXT, created REAL NOT NULL
);
"""


async def test_answer_stored_in_the_old_format_still_opens(fake, config, engine):
    """A feedback database written before "also in" sources were stored (no also_in column) still
    serves its answers: the [n] button, "Show sources" and the votes."""
    import sqlite3
    import time

    from bot.feedback import results_payload

    answer_obj = engine.ask(QUESTION)
    message_id = fake.snowflake()
    db = sqlite3.connect(config.feedback_db)
    db.executescript(OLD_ANSWERS_TABLE)
    db.execute("INSERT INTO answers VALUES (?,?,?,?,?,?,?,?)",
               (message_id, fake.general_id, fake.guild_id, QUESTION, 1,
                json.dumps(results_payload(answer_obj)), answer_obj.index_version, time.time()))
    db.commit()
    db.close()
    old_msg = {
        "id": str(message_id), "channel_id": str(fake.general_id), "author": fake.bot.user(), "content": "",
        "timestamp": "2025-01-01T00:00:00+00:00", "edited_timestamp": None, "tts": False, "mention_everyone": False,
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0,
        "components": [{"type": 1, "components": [
            {"type": 2, "style": 2, "custom_id": f"citebot:src:{i}", "label": f"[{i}]"}
            for i in range(1, len(answer_obj.results) + 1)]},
            {"type": 1, "components": [{"type": 2, "style": 2, "custom_id": "citebot:vote:up"}]}],
    }
    b = await start_bot(config, engine)
    try:
        last = answer_obj.results[-1]
        n = len(answer_obj.results)
        inter = await fake.click(old_msg, f"citebot:src:{n}", user=fake.bob)
        follow = await fake.wait_interaction(inter, kind="followup")
        embed = follow.body()["embeds"][0]
        assert embed["title"].startswith(f"[{n}] ")
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["Document id"].replace("\\", "") == last.doc_id and f"**▶ ¶ {last.paragraph}**" in embed["description"]

        inter = await fake.context_menu("Show sources", old_msg)
        cb = await fake.wait_interaction(inter, kind="callback")
        desc = cb.json["data"]["embeds"][0]["description"]
        assert [f"**[{i}]**" in desc for i in range(1, n + 2)] == [True] * n + [False]

        inter = await fake.click(old_msg, "citebot:vote:up", user=fake.bob)
        cb = await fake.wait_interaction(inter, kind="callback")
        assert "👍" in cb.json["data"]["content"]
    finally:
        await stop_bot(b)
