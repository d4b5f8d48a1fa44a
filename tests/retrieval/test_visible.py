"""A visibility filter passed to Engine.ask: a hidden passage is as if it did not exist (issue 27 item 2)."""

from __future__ import annotations

import pytest

from retrieval.errors import DocumentNotFound


@pytest.fixture
def engine(make_engine, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "public.md").write_text(
        "# Deployments\n\nThe deployment pipeline runs every night at two o'clock and ships the web frontend.\n\n"
        "Rollbacks are done with the release tool by choosing the previous build.\n")
    (corpus / "layoffs-q3-planning.md").write_text(
        "# Layoffs Q3 planning\n\nThe Zorbulon restructuring cuts forty roles from the Quixotl team in September.\n\n"
        "Severance for the Quixotl team is three months of pay.\n")
    return make_engine(corpus)


def _hide_private(doc_id: str) -> bool:
    return not doc_id.startswith("layoffs")


def test_hidden_document_never_quoted_nor_named(engine):
    q = "How much severance does the Quixotl team get?"
    full = engine.ask(q)
    assert any(r.doc_id.startswith("layoffs") for r in full.results)  # the unfiltered engine finds it
    seen = engine.ask(q, visible=_hide_private)
    assert all(not r.doc_id.startswith("layoffs") for r in seen.results)
    assert [r.rank for r in seen.results] == list(range(1, len(seen.results) + 1))
    assert not seen.answered
    said = (seen.reason or "") + " ".join(str(d) for d in seen.disagreements)
    assert "layoffs" not in said.lower() and "q3" not in said.lower()


def test_hidden_document_is_as_if_it_did_not_exist(engine, make_engine, tmp_path):
    """The filtered answer is the answer of a corpus without the hidden document: same results,
    same abstention, same reason and confidence ("Zorbulon" occurs only in the hidden document, so
    whether a document mentions it must not depend on it)."""
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "public.md").write_text((tmp_path / "corpus" / "public.md").read_text())
    without = make_engine(alone)
    for q in ("What is the Zorbulon restructuring?", "How much severance does the Quixotl team get?",
              "When does the deployment pipeline run?"):
        seen, ref = engine.ask(q, visible=_hide_private), without.ask(q)
        assert [(r.doc_id, r.paragraph, r.quote) for r in seen.results] == [(r.doc_id, r.paragraph, r.quote) for r in ref.results], q
        assert (seen.answered, seen.reason) == (ref.answered, ref.reason), q
        assert seen.confidence == pytest.approx(ref.confidence, abs=1e-6), q


def test_visible_everything_is_the_plain_answer(engine):
    q = "When does the deployment pipeline run?"
    a, b = engine.ask(q), engine.ask(q, visible=lambda d: True)
    assert [(r.doc_id, r.paragraph, r.quote) for r in a.results] == [(r.doc_id, r.paragraph, r.quote) for r in b.results]
    assert (a.answered, a.confidence, a.reason) == (b.answered, b.confidence, b.reason)


def test_source_of_hidden_document_is_not_found_and_never_suggested(engine):
    with pytest.raises(DocumentNotFound) as e:
        engine.source("layoffs-q3-planning", visible=_hide_private)
    assert "layoffs" in str(e.value)  # the asker's own words echoed, nothing more
    with pytest.raises(DocumentNotFound) as e:
        engine.source("layoffs-q3", visible=_hide_private)
    assert "did you mean" not in str(e.value)
    assert engine.source("layoffs-q3-planning").document["doc_id"] == "layoffs-q3-planning"
