"""Evaluation metrics on a hand-computed fixture."""

import pytest

from retrieval.errors import CitebotError
from retrieval.cli.evaluate import contains_gold, evaluate, load_questions
from retrieval.types import Answer, Citation, Result


def res(rank, text, quote):
    c = Citation(rank, f"d{rank}", None, None, None, None, 1, "x")
    return Result(rank, f"d{rank}", 1, text, quote, text.find(quote), 1.0, 0.5, c)


def ans(q, answered, *results):
    return Answer(q, answered, list(results), 0.5, "v")


def test_hand_computed_fixture():
    qs = [
        {"q": "a", "gold": ["red  apple"]},          # hit at rank 1, quote hits
        {"q": "b", "gold": ["blue sky", "azure"]},   # first hit at rank 2
        {"q": "c", "gold": ["green"]},               # hit at rank 4, abstained (a false abstention)
        {"q": "d", "gold": ["missing"]},             # no hit
        {"q": "e", "gold": []},                      # off-topic, abstained
        {"q": "f", "gold": []},                      # off-topic, answered (a miss)
    ]
    answers = [
        ans("a", True, res(1, "a red apple here. more", "a red\napple here.")),
        ans("b", True, res(1, "grey clouds", "grey clouds"), res(2, "an azure sea", "an azure sea")),
        ans("c", False, res(1, "x", "x"), res(2, "y", "y"), res(3, "z", "z"), res(4, "green", "green")),
        ans("d", True, res(1, "nothing", "nothing")),
        ans("e", False, res(1, "x", "x")),
        ans("f", True, res(1, "x", "x")),
    ]
    r = evaluate(qs, answers)
    # answerable: a, b, c, d. R@1 = 1/4; R@3 = 2/4; R@5 = 3/4; MRR = (1 + 1/2 + 1/4 + 0) / 4 = 0.4375
    assert r.answerable == 4 and r.off_topic == 2
    assert r.recall == {1: 0.25, 3: 0.5, 5: 0.75}
    assert r.mrr == pytest.approx(0.4375)
    assert r.quote_hit_at_1 == 0.25  # only a's top quote contains its gold span
    assert r.off_topic_abstained == 1 and r.false_abstentions == 1
    kinds = sorted(m["kind"] for m in r.misses)
    assert kinds == ["abstained", "answered off-topic", "rank", "rank"]


def test_gold_matching_is_whitespace_normalized_only():
    assert contains_gold("the  quick\nbrown fox", ["quick brown"])
    assert contains_gold("the quick brown fox", ["Quick  Brown"])  # case-insensitive, as shared/README defines a hit
    assert not contains_gold("the quick brown fox", ["quick red"])
    assert not contains_gold("anything", ["", "   "])


def test_load_questions(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text('{"q": "a?", "gold": ["x"]}\n\n{"question": "b?", "gold": []}\n')
    assert load_questions(f) == [{"q": "a?", "gold": ["x"]}, {"q": "b?", "gold": []}]


def test_load_questions_warns_about_records_without_gold(tmp_path, caplog):
    """A record without ``gold`` counts as off-topic, but never silently: the warning names its line."""
    f = tmp_path / "q.jsonl"
    f.write_text('{"q": "a?", "gold": ["x"]}\n{"q": "b?"}\n')
    with caplog.at_level("WARNING", logger="citebot.evaluate"):
        assert load_questions(f) == [{"q": "a?", "gold": ["x"]}, {"q": "b?", "gold": []}]
    assert "1 question(s) without a 'gold' field counted as off-topic (line 2)" in caplog.text


@pytest.mark.parametrize("line", ['{"q": "a?", "gold": null}',    # a gold that is not a list of spans
                                  '{"q": "a?", "gold": [50]}',
                                  '{"q": "a?", "gold": "x"}', '{"gold": ["x"]}', '{broken', '[1]'])
def test_load_questions_refuses_bad_records_with_the_line(tmp_path, line):
    f = tmp_path / "q.jsonl"
    f.write_text('{"q": "ok?", "gold": ["x"]}\n' + line + "\n")
    with pytest.raises(CitebotError, match=r"q\.jsonl:2: "):
        load_questions(f)


def test_load_questions_refuses_an_empty_file(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text("\n")
    with pytest.raises(CitebotError, match="no questions"):
        load_questions(f)


def doc_res(rank, doc_id, text, source=None):
    c = Citation(rank, doc_id, None, None, None, None, 1, source or f"{doc_id}.html")
    return Result(rank, doc_id, 1, text, text, 0, 1.0, 0.5, c)


def test_per_kind_figures_and_doc_level_recall(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text(
        '{"q": "a", "gold": ["alpha"], "file": "git-reset.html", "kind": "howto"}\n'
        '{"q": "b", "gold": ["beta"], "file": "gitignore.pdf", "kind": "howto"}\n'
        '{"q": "c", "gold": ["gamma"], "file": "docs/git-tag.html", "kind": "fact"}\n'
        '{"q": "d", "gold": []}\n', encoding="utf-8")
    qs = load_questions(f)
    assert [q.get("kind") for q in qs] == ["howto", "howto", "fact", None]
    answers = [
        ans("a", True, doc_res(1, "git-reset", "alpha")),              # right page (id without suffix), hit
        ans("b", True, doc_res(1, "gitignore", "other text", "gitignore.pdf"), doc_res(2, "x", "beta")),
        ans("c", True, doc_res(1, "git-log", "gamma")),                 # passage hit on the wrong page
        ans("d", False, doc_res(1, "x", "x")),
    ]
    r = evaluate(qs, answers)
    assert r.doc_recall_at_1 == pytest.approx(2 / 3) and r.doc_questions == 3
    assert set(r.by_kind) == {"howto", "fact", "(none)"}
    howto = r.by_kind["howto"]
    assert howto.answerable == 2 and howto.recall[1] == 0.5 and howto.doc_recall_at_1 == 1.0
    assert r.by_kind["fact"].recall[1] == 1.0 and r.by_kind["fact"].doc_recall_at_1 == 0.0
    assert r.by_kind["(none)"].off_topic_abstained == 1
    d = r.to_dict()
    assert d["doc_R@1"] == pytest.approx(0.6667, abs=1e-4) and d["by_kind"]["howto"]["R@1"] == 0.5
    text = "\n".join(r.lines())
    assert "doc-level R@1: 0.667 (3 questions with a file)" in text and "[howto] 2 questions" in text


def test_records_without_kind_or_file_have_no_breakdown():
    r = evaluate([{"q": "a", "gold": ["x"]}], [ans("a", True, res(1, "x", "x"))])
    assert r.by_kind == {} and r.doc_recall_at_1 is None
    assert "by_kind" not in r.to_dict() and "doc_R@1" not in r.to_dict()
