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
    assert s.corpus == Path("seeds") and s.index_dir == default_index_dir() and s.model == "bundled"


@pytest.mark.parametrize("bad", [{"fusion": "max"}, {"k": 0}, {"dense_weight": 2}, {"k": "many"}, {"nope": 1}])
def test_invalid_values_are_config_errors(bad):
    with pytest.raises(ConfigError):
        Settings.from_mapping(bad)


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        Settings.load(tmp_path / "none.toml")
    broken = tmp_path / "b.toml"
    broken.write_text("k = = 3")
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.load(broken)
