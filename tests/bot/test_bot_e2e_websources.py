"""End-to-end: a knowledge base over a website (a docs site the test serves on 127.0.0.1): replies
cite with a masked link to the page's section; ``/corpus site add`` and ``/corpus repo add`` for
admins, refused for non-public addresses (at add time and again at every fetch); ``/corpus sources``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))

from docsite import Site, lighthouse  # noqa: E402
from harness import bot_config, start_bot, stop_bot  # noqa: E402

# the title has markdown that the link text must escape
PAGES = lighthouse("The [lamp] *guide*")


@pytest.fixture
def site():
    with Site(dict(PAGES)) as s:
        yield s


@pytest.fixture
def site_engine(encoder, site, tmp_path):
    from retrieval.config import Settings
    from retrieval.engine import Engine

    s = Settings.from_mapping({"corpus": site.url("/docs/"), "index_dir": tmp_path / "index", "crawl_delay": 0,
                               "crawl_timeout": 2})
    return Engine.open(s, encoder=encoder)


@pytest.fixture
async def site_bot(fake, tmp_path, site_engine):
    b = await start_bot(bot_config(fake, tmp_path), site_engine)
    yield b
    await stop_bot(b)


async def group_command(fake, group: str, sub: str, options: dict, user):
    """``/corpus group sub`` (a subcommand of a subcommand group)."""
    cmd = fake.command("corpus")
    g = next(o for o in cmd.get("options") or [] if o["name"] == group)
    s = next(o for o in g.get("options") or [] if o["name"] == sub)
    opts = [{"name": group, "type": 2, "options": [{"name": sub, "type": 1,
                                                     "options": fake._options(s.get("options") or [], options)}]}]
    data = {"id": cmd["id"], "name": "corpus", "type": 1, "options": opts, "guild_id": str(fake.guild_id)}
    payload = fake._interaction(2, data, user=user, channel_id=fake.general_id)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return payload


def _text(r) -> str:
    return r.body().get("content") or ""


async def test_reply_cites_with_a_masked_link_to_the_section(fake, site_bot, site):
    m = await fake.mention("how often should the lamp wick be trimmed?")
    r = await fake.wait_reply(m)
    sources = r.body()["embeds"][0]["fields"][0]["value"]
    assert f"[1] [The \\[lamp\\] \\*guide\\* · Trimming the wick · ¶ 1]({site.url('/docs/lamp.html')}#trim)" in sources


async def test_site_add_refuses_private_addresses_and_other_schemes(fake, site_bot, site):
    for url, why in [(site.url("/"), "loopback"), ("ftp://example.org/", "website address"),
                     ("http://169.254.169.254/latest/", "link-local"), ("http://10.1.2.3/", "private")]:
        inter = await group_command(fake, "site", "add", {"url": url}, fake.ada)
        done = await fake.wait_interaction(inter, kind="followup")
        assert why in _text(done) and "\n" not in _text(done), _text(done)
    inter = await group_command(fake, "repo", "add", {"url": "file:///etc"}, fake.ada)
    done = await fake.wait_interaction(inter, kind="followup")
    assert "https://" in _text(done)
    from retrieval.sources.added import added

    assert added(site_bot.kbs_for_guild(fake.guild_id)[0].settings.index_dir) == []


async def test_non_admins_cannot_add_sources(fake, site_bot):
    inter = await group_command(fake, "site", "add", {"url": "https://example.org/"}, fake.alice)
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["data"]["flags"] & 64 and "admin" in cb.json["data"]["content"].lower()


async def test_an_added_source_is_listed_and_guarded_again_when_fetched(fake, site_bot, site, site_engine, monkeypatch):
    import bot.cogs.websources as ws

    # the name resolved to a public address when it was added, and to loopback when fetched (DNS rebinding)
    monkeypatch.setattr(ws, "check_public", lambda url: None)
    inter = await group_command(fake, "site", "add", {"url": site.url("/other/")}, fake.ada)
    done = await fake.wait_interaction(inter, kind="followup")
    assert "Added" in _text(done)
    cb = await fake.wait_interaction(await fake.slash("corpus", subcommand="sources", user=fake.ada), kind="callback")
    listing = cb.json["data"]["content"]
    assert site.url("/docs/") in listing and "(config)" in listing and "(added here)" in listing
    assert "fetched" in listing and "not fetched yet" in listing
    version = site_engine.version
    from retrieval.errors import CorpusError

    import asyncio

    with pytest.raises(CorpusError, match="refused"):
        await asyncio.to_thread(site_engine.reindex)
    assert site_engine.version == version


async def test_reindex_summary_says_what_the_fetch_did(fake, site_bot, site):
    inter = await fake.slash("reindex", user=fake.ada)
    done = await fake.wait_interaction(inter, lambda r: "Reindex finished" in _text(r), kind="edit")
    assert "0 embedded" in _text(done) and site.url("/") not in _text(done)  # the channel sees counts only
    private = await fake.wait_interaction(inter, lambda r: "2 unchanged (304)" in _text(r), kind="followup")
    assert private.body()["flags"] & 64 and f"site {site.url('/docs/')}: 2 pages" in _text(private)
