"""Settings precedence: defaults < config file < environment < explicit values."""

from pathlib import Path

import pytest

from retrieval.config import Settings, default_index_dir
from retrieval.errors import ConfigError


def test_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('k = 4\ndense_weight = 0.2\n[citebot]\ncorpus = "docs"\n')
    monkeypatch.setenv("CITEBOT_DENSE_WEIGHT", "0.9")
    s = Settings.load(cfg, k=None, index_dir=tmp_path / "i")
    assert (s.k, s.dense_weight, s.corpus, s.index_dir) == (4, 0.9, Path("docs"), tmp_path / "i")


def test_defaults():
    s = Settings()
    assert s.corpus == Path(__file__).resolve().parents[2] / "seeds"  # the checkout's, from anywhere
    assert s.index_dir == default_index_dir() == default_index_dir(s.corpus) and s.model == "bundled"


def test_default_index_dir_is_per_corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a, b = default_index_dir("news"), default_index_dir(tmp_path / "other" / "news")
    assert a == default_index_dir(tmp_path / "news") and a != b  # relative paths resolve first
    assert a.parent == b.parent and a.name.startswith("news-") and b.name.startswith("news-")
    assert Settings(corpus=tmp_path / "news").index_dir == a
    assert Settings.from_mapping({"corpus": "news"}).index_dir == a
    assert Settings.from_mapping({"corpus": "news", "index_dir": str(tmp_path / "i")}).index_dir == tmp_path / "i"


@pytest.mark.parametrize("bad", [{"fusion": "max"}, {"k": 0}, {"dense_weight": 2}, {"k": "many"}, {"nope": 1},
                                 # no silent truncation or guessing
                                 {"k": 1.9}, {"k": True}, {"dense_weight": True}, {"embed_title": "maybe"},
                                 {"index_dir": 5},
                                 # out of range
                                 {"max_file_mb": -1}, {"max_file_mb": 0}, {"abstain_threshold": -5}, {"abstain_threshold": 1.5},
                                 {"dedup_threshold": 7}, {"sentence_weight": -2}, {"type_weight": -0.1},
                                 {"bm25_b": 2}, {"ann_threshold": -1}, {"page_weight": -1}, {"page_title_weight": -0.5},
                                 {"page_dense_weight": -0.1}, {"section_title_weight": -0.2}, {"history_weight": -0.1},
                                 {"quote_pick_lexical": -0.1}])
def test_invalid_values_are_config_errors(bad):
    with pytest.raises(ConfigError):
        Settings.from_mapping(bad)


def test_values_that_coerce_exactly():
    s = Settings.from_mapping({"k": "2", "batch_size": 8.0, "embed_title": "off", "max_file_mb": 5, "model": "m"})
    assert (s.k, s.batch_size, s.embed_title, s.max_file_mb) == (2, 8, False, 5.0)
    assert Settings.from_mapping({"embed_title": "Yes"}).embed_title is True


def test_paths_expand_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = tmp_path / "c.toml"
    cfg.write_text('index_dir = "~/idx"\n')
    monkeypatch.setenv("CITEBOT_CORPUS", "~/corpus")
    s = Settings.load(cfg)
    assert (s.index_dir, s.corpus) == (tmp_path / "idx", tmp_path / "corpus")


def test_unknown_section_is_an_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[citbot]\nk = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section.*\[citbot\]"):
        Settings.load(cfg)
    cfg.write_text("k = 1\n[citebot]\nper_doc = 1\n[bot]\ncooldown_rate = 2\n")
    assert Settings.load(cfg).per_doc == 1


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        Settings.load(tmp_path / "none.toml")
    broken = tmp_path / "b.toml"
    broken.write_text("k = = 3")
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.load(broken)
