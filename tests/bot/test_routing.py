"""Which knowledge base answers where in Discord (bot/routing.py), from the config file's knowledge bases."""

from __future__ import annotations


import pytest
from configs import kb_table

from bot.routing import Router, sole_guild
from retrieval.errors import ConfigError
from retrieval.serve.kb import DEFAULT, load_registry

A, B, C = 111111111111111111, 222222222222222222, 333333333333333333


def test_sole_guild_of_a_knowledge_base(write_config):
    reg = load_registry(write_config(kb_table("alpha", [A], k=5) + kb_table("beta", [B, C], channels=[44])))
    assert sole_guild(reg.get("alpha")) == A and sole_guild(reg.get("beta")) is None


def test_top_level_corpus_is_the_default(write_config, tmp_path):
    reg = load_registry(write_config('corpus = "docs"\nindex_dir = "idx"\n'))
    assert [kb.name for kb in reg.kbs] == [DEFAULT] and reg.get(None).default
    r = Router(reg)
    assert r.route(A) is reg.default and r.route(None) is reg.default, "every guild, and DMs"
    assert sole_guild(reg.default) is None
    assert sole_guild(Router(reg, [A]).registry.default) == A, "a bot kept to one guild: that guild's admins"
    assert sole_guild(Router(reg, [A, B]).registry.default) is None
    # with knowledge bases, an explicit top-level corpus stays the default for what they don't claim
    r = Router(load_registry(write_config('corpus = "docs"\nindex_dir = "idx"\n' + kb_table("alpha", [A]))))
    assert r.route(A).name == "alpha" and r.route(B).name == DEFAULT
    r = Router(load_registry(write_config(kb_table("alpha", [A]))))
    assert r.route(B) is None and r.route(None) is None, "no default unless the corpus is named"


def test_routing_channel_then_guild_then_default(write_config):
    reg = Router(load_registry(write_config(kb_table("guide", [A]) + kb_table("product", [A], channels=[10, 11])
                              + kb_table("other", [B], channels=[20]))))
    assert reg.route(A, 10).name == "product" and reg.route(A, 99, parent_id=11).name == "product", "a thread: its parent"
    assert reg.route(A, 12).name == "guide" and reg.route(A).name == "guide"
    assert reg.route(B, 20).name == "other" and reg.route(B, 21) is None
    assert reg.route(C, 10) is None, "a channel counts only inside its knowledge base's guilds"
    assert reg.route(None, 10) is None


@pytest.mark.parametrize("text,message", [
    (kb_table("alpha", [A]) + kb_table("beta", [A, B]), f"guild {A} is claimed by knowledge bases 'alpha' and 'beta'"),
    (kb_table("alpha", [A], channels=[5]) + kb_table("beta", [A], channels=[5, 6]), "channel 5 is listed by"),
])
def test_conflicting_claims_are_one_line_errors(write_config, text, message):
    with pytest.raises(ConfigError) as e:
        Router(load_registry(write_config(text)))
    assert message in str(e.value) and "\n" not in str(e.value)
