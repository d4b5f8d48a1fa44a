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


def test_an_identifier_counts_as_itself_and_as_its_parts():
    assert analyze("keepAliveTimeout") == ["keepalivetimeout", "keep", "aliv", "timeout"]
    assert analyze("node_modules") == ["node_modul", "node", "modul"]
    assert analyze("XMLHttpRequest")[1:] == ["xml", "http", "request"]
    # words, names and acronyms stay whole
    assert analyze("Maduro NASA __init__ sha256sum") == ["maduro", "nasa", "__init__", "sha256sum"]
    lex = Lexical(k1=0.9, b=0.4).build(["- bodyLimit: the largest payload, in bytes, the server accepts", "penguins",
                                        "route options"])
    assert int(np.argmax(lex.scores("is there a body limit?"))) == 0
    assert lex.scores("bodyLimit")[0] > 0  # the identifier as written still matches whole
