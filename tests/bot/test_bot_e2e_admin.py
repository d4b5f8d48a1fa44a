"""End-to-end: /reindex, /corpus add and /stats, with their permission checks."""

from __future__ import annotations

import asyncio
import copy
import re
import threading
from pathlib import Path

import pytest

QUESTION = "When could US strikes inside Venezuela start?"
NEW_DOC = (
    "Lighthouse rebuilt\n\n"
    "The Lighthouse of Alexandria was rebuilt in 2031 by a team of volunteer stonemasons from Crete "
    "@everyone **now** <@123456789012345678> [click](https://example.com).\n\n"
    "The project took eleven years and was funded by small donations.\n"
)


def _content(r) -> str:
    return r.body().get("content") or ""


@pytest.fixture
def restore_corpus(engine):
    """Put the shared engine's corpus and index back as they were after a test that changes them."""
    corpus = Path(engine.settings.corpus)
    before = {p.name for p in corpus.iterdir()}
    yield corpus
    changed = False
    for p in corpus.iterdir():
        if p.name not in before:
            p.unlink()
            changed = True
    if changed or engine.stats()["documents"] != len(before):
        engine.reindex()


async def test_reindex_by_admin_edits_progress_and_posts_summary(fake, bot, engine, restore_corpus):
    """Progress edits, then the summary; during the run questions are answered from the old index,
    and a second /reindex is refused."""
    admin = bot.get_cog("Admin")
    gate = threading.Event()

    def hold(done: int, total: int) -> None:  # runs in the reindex worker thread: pause it there
        gate.wait(60)

    admin.progress_listeners.append(hold)
    old_version = engine.stats()["version"]
    (restore_corpus / "zz_lighthouse.txt").write_text(NEW_DOC, encoding="utf-8")
    try:
        inter = await fake.slash("reindex", user=fake.ada)
        cb = await fake.wait_interaction(inter, kind="callback")
        assert cb.json["type"] == 4 and not (cb.json["data"].get("flags") or 0) & 64
        assert cb.json["data"]["content"].startswith("⏳ Reindexing")
        progress = await fake.wait_interaction(inter, lambda r: re.search(r"\d+/\d+ documents", _content(r)), kind="edit")
        assert re.search(r"0/6 documents", _content(progress))
        assert engine.reindexing, "the engine is mid-reindex (held in its progress callback)"

        # questions keep being answered, from the old index
        m = await fake.mention(QUESTION)
        r = await fake.wait_reply(m)
        assert old_version in r.body()["embeds"][0]["footer"]["text"]

        # a second reindex is refused while this one runs
        inter2 = await fake.slash("reindex", user=fake.ada)
        cb2 = await fake.wait_interaction(inter2, kind="callback")
        assert cb2.json["data"]["flags"] & 64 and "already running" in cb2.json["data"]["content"]
    finally:
        gate.set()
        admin.progress_listeners.remove(hold)

    done = await fake.wait_interaction(inter, lambda r: "Reindex finished" in _content(r), kind="edit")
    text = _content(done)
    assert "1 added, 0 changed, 0 removed, 5 unchanged" in text and "zz" not in text
    # issue 27 J: the names are the admin's alone
    private = await fake.wait_interaction(inter, lambda r: "added: zz" in _content(r), kind="followup")
    assert private.body()["flags"] & 64
    new_version = engine.stats()["version"]
    assert new_version != old_version
    # the edits came in order: progress first, the summary last
    edits = [r for r in fake.for_interaction(inter) if r.method == "PATCH"]
    assert edits[-1] is done
    units = [re.search(r"\d+/[\d,]+ (documents|passages)", _content(e)).group(1) for e in edits[:-1]]
    assert units == sorted(units), "files read first, then passages embedded"

    m = await fake.mention("Who rebuilt the Lighthouse of Alexandria?")
    r = await fake.wait_reply(m)
    embed = r.body()["embeds"][0]
    assert new_version in embed["footer"]["text"]
    assert "volunteer stonemasons from Crete" in embed["description"]
    # corpus text is untrusted: its mentions and markdown arrive escaped
    desc = embed["description"]
    assert "@\u200beveryone" in desc and "@everyone" not in desc
    assert "<@123456789012345678>" not in desc and "\\*\\*now\\*\\*" in desc and "\\[click\\]" in desc


async def test_reindex_refused_without_rights(fake, bot, engine):
    """A member without Manage Server or an admin role is refused in the handler."""
    before = engine.stats()["version"]
    for name, kw in (("reindex", {}), ("stats", {})):
        inter = await fake.slash(name, user=fake.alice, **kw)
        cb = await fake.wait_interaction(inter, kind="callback")
        assert cb.json["type"] == 4 and cb.json["data"]["flags"] & 64
        assert "Only members with Manage Server" in cb.json["data"]["content"]
    att = fake.attachment("note.txt", b"hello")
    inter = await fake.slash("corpus", {"file": att["id"]}, subcommand="add", user=fake.alice,
                             resolved={"attachments": {att["id"]: att}})
    cb = await fake.wait_interaction(inter, kind="callback")
    assert "Only members with Manage Server" in cb.json["data"]["content"]
    assert not (Path(engine.settings.corpus) / "note.txt").exists()
    assert engine.stats()["version"] == before and not engine.reindexing


async def test_admin_role_can_see_stats(fake, bot, engine):
    """A configured admin role is enough (rolf has no Manage Server)."""
    m = await fake.mention(QUESTION)
    await fake.wait_reply(m)
    inter = await fake.slash("stats", user=fake.rolf)
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["type"] == 4 and cb.json["data"]["flags"] & 64
    fields = {f["name"]: f["value"] for f in cb.json["data"]["embeds"][0]["fields"]}
    assert fields["Documents"] == str(engine.stats()["documents"])
    assert fields["Passages"] == str(engine.stats()["passages"])
    assert int(fields["Questions answered"]) >= 1
    assert fields["Latency"].startswith("p50 ") and "p95" in fields["Latency"]
    assert "built" in fields["Index age"]


async def test_failed_reindex_reports_and_keeps_old_index(fake, bot, engine, tmp_path, caplog):
    """The channel sees a generic line (the error names server paths); the admin who started it gets
    the details, escaped, in an ephemeral follow-up; the log has them too."""
    old = engine.stats()["version"]
    corpus = engine.settings.corpus
    missing = tmp_path / "missing_corpus*here"
    engine.settings.corpus = missing
    try:
        with caplog.at_level("WARNING", logger="citebot"):
            inter = await fake.slash("reindex", user=fake.ada)
            done = await fake.wait_interaction(inter, lambda r: "Reindex failed" in _content(r), kind="edit")
            details = await fake.wait_interaction(inter, kind="followup")
    finally:
        engine.settings.corpus = corpus
    public = _content(done)
    assert "previous index is still answering" in public and "details were sent" in public
    assert str(tmp_path) not in public and "corpus not found" not in public
    private = details.body()
    assert private["flags"] & 64, "the details are ephemeral"
    assert "corpus not found" in private["content"] and "missing\\_corpus\\*here" in private["content"]
    assert str(missing) in caplog.text
    assert engine.stats()["version"] == old
    m = await fake.mention(QUESTION)
    r = await fake.wait_reply(m)
    assert old in r.body()["embeds"][0]["footer"]["text"]


async def _corpus_add(fake, filename, data, *, user=None, replace=None):
    att = fake.attachment(filename, data)
    opts = {"file": att["id"]}
    if replace is not None:
        opts["replace"] = replace
    return await fake.slash("corpus", opts, subcommand="add", user=user or fake.ada,
                            resolved={"attachments": {att["id"]: att}})


@pytest.mark.parametrize("name", ["../../evil.txt", "..\\evil.txt", "/etc/evil.txt", ".hidden.txt", "C:evil.txt", ".."])
async def test_corpus_add_refuses_unsafe_names(fake, bot, engine, name):
    corpus = Path(engine.settings.corpus)
    inter = await _corpus_add(fake, name, b"pwned")
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["data"]["flags"] & 64 and "file name is not allowed" in cb.json["data"]["content"]
    assert not any("evil" in p.name or p.name == ".hidden.txt" for p in corpus.parent.rglob("*"))
    assert not any(r.path.startswith("/attachments/") for r in fake.requests), "never downloaded"


async def test_corpus_add_saves_then_offers_reindex(fake, bot, engine, restore_corpus):
    corpus = restore_corpus
    inter = await _corpus_add(fake, "malware.exe", b"MZ")
    cb = await fake.wait_interaction(inter, kind="callback")
    assert "Only .txt" in cb.json["data"]["content"]

    inter = await _corpus_add(fake, "light house.txt", NEW_DOC.encode())
    follow = await fake.wait_interaction(inter, kind="followup")
    assert "Saved `light_house.txt`" in follow.body()["content"]
    assert (corpus / "light_house.txt").read_text(encoding="utf-8") == NEW_DOC

    # no silent overwrite; replace:true overwrites
    inter = await _corpus_add(fake, "light house.txt", b"other")
    cb = await fake.wait_interaction(inter, kind="callback")
    assert "already in the corpus" in cb.json["data"]["content"] and "replace:True" in cb.json["data"]["content"]
    assert (corpus / "light_house.txt").read_text(encoding="utf-8") == NEW_DOC
    inter = await _corpus_add(fake, "light house.txt", NEW_DOC.encode() + b"\nMore.\n", replace=True)
    follow = await fake.wait_interaction(inter, kind="followup")
    assert "Replaced `light_house.txt`" in follow.body()["content"]

    # the offered "Reindex now" button: members without rights are refused, admins start it
    offer = fake.messages[int(follow.response["id"])]
    button = offer["components"][0]["components"][0]
    assert button["label"] == "Reindex now"
    refused = await fake.click(offer, button["custom_id"], user=fake.alice)
    cb = await fake.wait_interaction(refused, kind="callback")
    assert "Only members with Manage Server" in cb.json["data"]["content"]
    go = await fake.click(offer, button["custom_id"], user=fake.ada)
    await fake.wait_interaction(go, lambda r: "Reindex finished" in _content(r), kind="edit")
    await fake.wait_interaction(go, lambda r: "added: light\\_house" in _content(r), kind="followup")
    assert any(d["doc_id"] == "light_house" for d in await asyncio.to_thread(engine.documents))


def _offer_button(offer: dict) -> dict:
    return offer["components"][0]["components"][0]


async def test_reindex_offer_is_used_once_then_greyed_out(fake, bot, engine, restore_corpus):
    """Once "Reindex now" started a reindex, the offer message is edited to show the button disabled;
    a click already on its way is told to use /reindex (no "This interaction failed", no second run)."""
    inter = await _corpus_add(fake, "light house.txt", NEW_DOC.encode())
    follow = await fake.wait_interaction(inter, kind="followup")
    offer = copy.deepcopy(fake.messages[int(follow.response["id"])])  # what the clients show now
    button = _offer_button(offer)
    assert not button.get("disabled")
    mark = fake.mark()
    go = await fake.click(offer, button["custom_id"], user=fake.ada)
    # the /corpus add token edits its own message (the offer)
    grey = await fake.wait_interaction(inter, kind="edit", after=mark)
    assert grey.path.endswith(f"/messages/{offer['id']}") and 200 <= grey.status < 300
    assert _offer_button(grey.json)["disabled"] is True
    assert _offer_button(fake.messages[int(offer["id"])])["disabled"] is True
    await fake.wait_interaction(go, lambda r: "Reindex finished" in _content(r), kind="edit")
    version = engine.stats()["version"]

    again = await fake.click(offer, button["custom_id"], user=fake.rolf)
    cb = await fake.wait_interaction(again, kind="callback", timeout=5)
    assert cb.json["type"] == 4 and cb.json["data"]["flags"] & 64
    assert "/reindex" in cb.json["data"]["content"]
    await asyncio.sleep(0.2)
    assert engine.stats()["version"] == version and not engine.reindexing


async def test_reindex_offer_greys_out_at_timeout(fake, engine, tmp_path, restore_corpus, monkeypatch):
    """An offer nobody used is disabled after its timeout; a late click says to use /reindex."""
    from functools import partial

    from harness import bot_config, start_bot, stop_bot

    from bot import views

    monkeypatch.setattr(views, "ReindexOfferView", partial(views.ReindexOfferView, timeout=0.5))
    b = await start_bot(bot_config(fake, tmp_path), engine)
    try:
        version = engine.stats()["version"]
        inter = await _corpus_add(fake, "light house.txt", NEW_DOC.encode())
        follow = await fake.wait_interaction(inter, kind="followup")
        offer = copy.deepcopy(fake.messages[int(follow.response["id"])])
        grey = await fake.wait_interaction(inter, kind="edit", timeout=5)
        assert _offer_button(grey.json)["disabled"] is True
        late = await fake.click(offer, _offer_button(offer)["custom_id"], user=fake.ada)
        cb = await fake.wait_interaction(late, kind="callback", timeout=5)
        assert cb.json["data"]["flags"] & 64 and "/reindex" in cb.json["data"]["content"]
        await asyncio.sleep(0.2)
        assert engine.stats()["version"] == version and not engine.reindexing
    finally:
        await stop_bot(b)


async def test_uploaded_decompression_bomb_is_skipped_with_its_reason(fake, bot, engine, restore_corpus, monkeypatch):
    """Issue 27 E: a small .docx that inflates past the limit is saved by /corpus add (its compressed
    size is fine) but skipped by the build, which goes on: the admin is told why, and the bot keeps
    answering from the rest."""
    import io
    import zipfile

    from retrieval.ingest import limits

    monkeypatch.setattr(limits, "DEFAULT", limits.Limits(unzipped_mb=50))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<w:document>" + b" " * 60_000_000 + b"</w:document>")
    assert len(buf.getvalue()) < 1_000_000
    follow = await fake.wait_interaction(await _corpus_add(fake, "plan.docx", buf.getvalue()), kind="followup")
    offer = fake.messages[int(follow.response["id"])]
    go = await fake.click(offer, _offer_button(offer)["custom_id"], user=fake.ada)
    done = await fake.wait_interaction(go, lambda r: "Reindex finished" in _content(r), kind="edit")
    assert "1 skipped" in _content(done) and "plan" not in _content(done)
    private = await fake.wait_interaction(go, lambda r: "skipped plan.docx" in _content(r), kind="followup")
    assert "expands to 60 MB when unzipped (limit 50 MB)" in _content(private)
    r = await fake.wait_reply(await fake.mention(QUESTION))
    assert r.body()["embeds"]
