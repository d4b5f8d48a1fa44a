"""Admin commands (/reindex, /stats, /corpus add) are refused for a member without rights, in a DM,
for an admin of another guild and for forged interactions missing member data; rights come from the
bot's own check in the handler (the fake, like a misconfigured server, ignores default permissions).
``/corpus add``: traversal, absolute paths, symlinks, oversize, wrong types and duplicates are refused
with a clear message and nothing is written outside the corpus folder."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from retrieval.config import Settings
from retrieval.engine import Engine

REFUSED = ("Only members with Manage Server", "not enabled", "can't use", "server", "guild")


@pytest.fixture(scope="module")
def admin_engine(encoder, tmp_path_factory):
    """A private engine (these tests try to change its corpus and index)."""
    base = tmp_path_factory.mktemp("perm")
    corpus = base / "corpus"
    corpus.mkdir()
    root = Path(__file__).resolve().parents[2]
    for f in sorted((root / "seeds").glob("*.txt"))[:2]:
        shutil.copy(f, corpus / f.name)
    return Engine.open(Settings(corpus=corpus, index_dir=base / "index"), encoder=encoder)


def snapshot(engine) -> tuple:
    corpus = Path(engine.settings.corpus)
    return engine.stats()["version"], sorted(p.name for p in corpus.parent.rglob("*"))


def build(fake, name, *, user, options=None, subcommand=None, resolved=None):
    cmd = fake.command(name)
    spec = cmd.get("options") or []
    if subcommand is not None:
        sub = next(o for o in spec if o["name"] == subcommand)
        opts = [{"name": subcommand, "type": 1, "options": fake._options(sub.get("options") or [], options or {})}]
    else:
        opts = fake._options(spec, options or {})
    data = {"id": cmd["id"], "name": name, "type": 1, "options": opts, "guild_id": str(fake.guild_id)}
    if resolved:
        data["resolved"] = resolved
    return fake._interaction(2, data, user=user, channel_id=fake.general_id)


def as_dm(fake, payload, user):
    payload.pop("guild_id", None)
    payload.pop("member", None)
    payload["data"].pop("guild_id", None)
    payload["user"] = user.user()
    payload["channel_id"] = str(fake.dm_id)
    payload["channel"] = {"id": str(fake.dm_id), "type": 1, "recipients": [user.user()], "last_message_id": None}
    payload["context"] = 1
    payload["authorizing_integration_owners"] = {"0": str(fake.guild_id)}
    return payload


ADMIN_CALLS = [("reindex", None, None), ("stats", None, None), ("corpus", "add", {"file": None})]


async def run_case(fake, engine, case: str, name: str, sub, options):
    ada = fake.ada  # Manage Server in the fake guild
    att = None
    resolved = None
    if options is not None:
        att = fake.attachment("note.txt", b"Planted note\n\nThis note was planted by an attacker in the corpus.\n")
        options = {"file": att["id"]}
        resolved = {"attachments": {att["id"]: att}}
    if case == "member-without-rights":
        p = build(fake, name, user=fake.alice, options=options, subcommand=sub, resolved=resolved)
    elif case == "dm":
        p = as_dm(fake, build(fake, name, user=fake.alice, options=options, subcommand=sub, resolved=resolved),
                  fake.alice)
    elif case == "dm-by-configured-admin-user":
        p = as_dm(fake, build(fake, name, user=fake.bob, options=options, subcommand=sub, resolved=resolved), fake.bob)
    elif case == "admin-of-another-guild":
        other = fake.snowflake()
        p = build(fake, name, user=ada, options=options, subcommand=sub, resolved=resolved)
        p["guild_id"] = str(other)
        p["data"]["guild_id"] = str(other)
        p["channel"] = {**p["channel"], "guild_id": str(other)}
    elif case == "admin-elsewhere-member-here":
        # ada's rights elsewhere don't carry over: here she is a plain member
        p = build(fake, name, user=fake.alice, options=options, subcommand=sub, resolved=resolved)
        p["member"]["user"] = {**ada.user(), "id": str(fake.alice.id)}
    elif case == "forged-no-member":
        p = build(fake, name, user=ada, options=options, subcommand=sub, resolved=resolved)
        del p["member"]
    elif case == "forged-member-without-permissions":  # (ada owns the guild: she would be an admin)
        p = build(fake, name, user=fake.alice, options=options, subcommand=sub, resolved=resolved)
        del p["member"]["permissions"]
    else:
        raise AssertionError(case)
    await fake.dispatch("INTERACTION_CREATE", p)
    return p


CASES = ["member-without-rights", "dm", "dm-by-configured-admin-user", "admin-of-another-guild",
         "admin-elsewhere-member-here", "forged-no-member", "forged-member-without-permissions"]


# Bot bugs these tests found are fixed in bot/checks.py (guild-only, resolved-member admin check);
# add (case, served): reason here to pin a new one as a strict xfail.
BOT_BUGS: dict[tuple[str, str], str] = {}


def _case_params():
    out = []
    for case in CASES:
        for served in ("one-guild", "any-guild"):
            bug = BOT_BUGS.get((case, served))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            out.append(pytest.param(case, served, marks=marks, id=f"{case}-{served}"))
    return out


@pytest.mark.parametrize("case,served", _case_params())
async def test_admin_commands_refused(fake, run_bot, admin_engine, case, served):
    # bob is a configured admin *user id*; "one-guild" serves only the fake guild, "any-guild" every guild
    extra = {"allowed_guilds": [fake.guild_id] if served == "one-guild" else []}
    bot = await run_bot(admin_engine, admin_user_ids=[fake.bob.id], **extra)
    before = snapshot(admin_engine)
    corpus = Path(admin_engine.settings.corpus)
    try:
        for name, sub, options in ADMIN_CALLS:
            mark = fake.mark()
            p = await run_case(fake, admin_engine, case, name, sub, options)
            # every forged or unauthorised call gets an answer on its token: a refusal, never the command
            cb = await fake.wait_interaction(p, kind="callback", after=mark, timeout=10)
            data = cb.json.get("data") or {}
            text = data.get("content") or ""
            assert cb.json["type"] == 4 and (data.get("flags") or 0) & 64, cb.json
            assert any(w.lower() in text.lower() for w in REFUSED), text
            assert "⏳" not in text and "Saved" not in text and "Reindex finished" not in text
            assert not [r for r in fake.since(mark) if r.path.startswith("/attachments/")], "never downloaded"
        assert not admin_engine.reindexing
        assert snapshot(admin_engine) == before
        assert bot.is_ready()
    finally:  # if a refusal failed, undo what the command did so the other cases start clean
        while admin_engine.reindexing:
            await asyncio.sleep(0.05)
        for f in corpus.iterdir():
            if f.name not in before[1]:
                f.unlink()
        if admin_engine.stats()["version"] != before[0]:
            await asyncio.to_thread(admin_engine.reindex)


async def test_server_side_check_not_default_permissions(fake, run_bot, admin_engine):
    """The synced commands ask Discord to hide them from non-admins, but that is a UI default a server
    can change: the handler refuses anyway (alice runs /reindex although the fake lets her)."""
    await run_bot(admin_engine)
    cmd = fake.command("reindex")
    assert cmd["default_member_permissions"] == str(1 << 5)
    before = snapshot(admin_engine)
    p = await fake.slash("reindex", user=fake.alice)
    cb = await fake.wait_interaction(p, kind="callback")
    assert "Only members with Manage Server" in cb.json["data"]["content"]
    assert snapshot(admin_engine) == before and not admin_engine.reindexing


# ------------------------------------------------------------------ /corpus add

async def corpus_add(fake, filename, data, *, user=None, replace=None, size=None):
    att = fake.attachment(filename, data)
    if size is not None:
        att["size"] = size  # what the attachment claims, not what it is
    opts = {"file": att["id"]}
    if replace is not None:
        opts["replace"] = replace
    return await fake.slash("corpus", opts, subcommand="add", user=user or fake.ada,
                            resolved={"attachments": {att["id"]: att}})


async def reply_text(fake, inter) -> str:
    """The first message the bot shows for this interaction (callback content or follow-up)."""
    r = await fake.wait_interaction(inter, lambda r: r.path.endswith("/callback") or r.method == "POST")
    if r.path.endswith("/callback") and r.json.get("type") == 5:  # deferred: the follow-up says it
        r = await fake.wait_interaction(inter, kind="followup")
    return r.body().get("content") or ""


UNSAFE = [
    ("../../evil.txt", "not allowed"), ("..%2F..%2Fevil.txt", None), ("/etc/evil.txt", "not allowed"),
    ("/tmp/evil.txt", "not allowed"), ("C:\\evil.txt", "not allowed"), ("sub/evil.txt", "not allowed"),
    ("..", "not allowed"), (".", "not allowed"), ("", "not allowed"), (".evil.txt", "not allowed"),
    ("evil.txt\x00.png", "not allowed"), ("evil\n.txt", "not allowed"),
    # Unicode look-alikes that NFKC turns into separators or dots
    ("..\uff0f..\uff0fevil.txt", None),
    ("\uff0eevil.txt", "not allowed"),  # NFKC makes it a leading dot: refused, not saved hidden
    ("\u2024\u2024/evil.txt", "not allowed"),
    ("evil.exe", "Only .txt"), ("evil.txt.exe", "Only .txt"), ("evil", "Only .txt"), (".txt", "not allowed"),
    ("evil.TXT ", None),
]


@pytest.mark.parametrize("name,expect", UNSAFE)
async def test_corpus_add_hostile_names(fake, run_bot, admin_engine, tmp_path, name, expect):
    await run_bot(admin_engine)
    corpus = Path(admin_engine.settings.corpus)
    outside_before = sorted(p.name for p in corpus.parent.parent.iterdir())
    before = {p.name for p in corpus.iterdir()}
    inter = await corpus_add(fake, name, b"Evil\n\nThe attacker planted this text in the corpus on purpose.\n")
    text = await reply_text(fake, inter)
    added = {p.name for p in corpus.iterdir()} - before
    try:
        if expect is not None:
            assert expect in text, text
            assert not added
        # whatever happens: nothing outside the corpus folder, nothing hidden, nothing nested inside it
        assert sorted(p.name for p in corpus.parent.parent.iterdir()) == outside_before
        assert not [p for p in corpus.rglob("*") if p.is_dir()]
        assert all(not n.startswith(".") for n in added), f"{name!r} saved as hidden file {added}"
        assert all(n.lower().endswith((".txt", ".md", ".markdown", ".html", ".htm")) for n in added), added
        assert not any("/" in n or "\\" in n for n in added)
    finally:
        for n in added:
            (corpus / n).unlink()
        for p in corpus.glob(".*"):
            p.unlink()


async def test_corpus_add_symlink_and_duplicates(fake, run_bot, admin_engine, tmp_path):
    """A symlink in the corpus pointing outside is never written through; duplicates need replace."""
    await run_bot(admin_engine)
    corpus = Path(admin_engine.settings.corpus)
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    link = corpus / "link.txt"
    link.symlink_to(outside)
    try:
        for replace in (None, True):
            inter = await corpus_add(fake, "link.txt", b"Link\n\nOverwritten through a symlink, or not.\n",
                                     replace=replace)
            text = await reply_text(fake, inter)
            assert "not allowed" in text or "already in the corpus" in text, text
            assert outside.read_text() == "precious", "wrote through the symlink"
            assert link.is_symlink()
        existing = sorted(p.name for p in corpus.glob("*.txt") if not p.is_symlink())[0]
        data = (corpus / existing).read_bytes()
        inter = await corpus_add(fake, existing, b"Dup\n\nA duplicate name must not overwrite silently.\n")
        text = await reply_text(fake, inter)
        assert "already in the corpus" in text and "replace:True" in text
        assert (corpus / existing).read_bytes() == data
    finally:
        if link.is_symlink() or link.exists():
            link.unlink()


@pytest.mark.parametrize("claimed", ["honest", "lies-small"])
async def test_corpus_add_oversize(fake, run_bot, admin_engine, claimed):
    await run_bot(admin_engine, upload_max_mb=0.01)
    corpus = Path(admin_engine.settings.corpus)
    before = {p.name for p in corpus.iterdir()}
    data = b"Big\n\n" + b"The ferry sailed. " * 2000  # 36 kB > 10 kB
    inter = await corpus_add(fake, "big.txt", data, size=None if claimed == "honest" else 100)
    text = await reply_text(fake, inter)
    assert "MB" in text and ("limit" in text or "larger" in text), text
    assert {p.name for p in corpus.iterdir()} == before
    assert not list(corpus.glob(".upload-*"))
