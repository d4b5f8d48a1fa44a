"""The BM25 side: analysis and scoring."""

import numpy as np

from retrieval.index.lexical import Lexical, analyze


def test_analyze_stems_and_drops_stop_words():
    assert analyze("The ships and the boats") == ["ship", "boat"]
    assert analyze("") == []


def test_bm25_scores_rank_the_matching_passage_first():
    lex = Lexical(k1=0.9, b=0.4).build(["ships struck near Venezuela", "a cartel of generals", "penguins"])
    s = lex.scores("Which ships were struck?")
    assert s.shape == (3,) and int(np.argmax(s)) == 0 and s[2] == 0
    ids, scores = lex.top("cartel generals", 5)
    assert list(ids) == [1] and scores[0] > 0
    assert not lex.scores("zzz unknown words").any()
