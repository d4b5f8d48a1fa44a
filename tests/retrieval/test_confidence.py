"""The calibrated confidence: bounded, monotonic in the evidence, and absent names abstain."""

from dataclasses import replace

import pytest

from retrieval.config import Settings
from retrieval.query import confidence as conf
from retrieval.query.confidence import Evidence, calibrated, salient_words

STRONG = Evidence(cosine=0.7, gap=0.2, cover=0.9, absent_share=0.0, named_absent=0, agree=1.0)


def test_probabilities_are_bounded_even_for_absurd_evidence():
    for ev in (Evidence(), STRONG, Evidence(cosine=50, cover=50, agree=50), Evidence(cosine=-50, named_absent=50)):
        pa, c = calibrated(ev)
        assert 0.0 <= c <= pa <= 1.0


@pytest.mark.parametrize("feature,up", [("cosine", True), ("cover", True), ("named_absent", False),
                                        ("absent_share", False)])
def test_monotonic_in_each_kind_of_evidence(feature, up):
    lo, hi = {"cosine": (0.2, 0.8), "cover": (0.0, 1.0), "named_absent": (0, 3), "absent_share": (0.0, 1.0)}[feature]
    weak = Evidence(cosine=0.45, gap=0.1, cover=0.5, absent_share=0.2, named_absent=1, agree=0.5)
    values = [calibrated(replace(weak, **{feature: lo + (hi - lo) * i / 4}))[0] for i in range(5)]
    assert values == sorted(values, reverse=not up) and values[0] != values[-1]


def test_good_evidence_answers_two_absent_names_abstain_one_odd_word_does_not():
    threshold = Settings().abstain_threshold
    good = Evidence(cosine=0.6, gap=0.2, cover=0.5, agree=1.0)  # an answered dev question's figures
    assert calibrated(STRONG)[0] >= threshold and calibrated(good)[0] >= threshold
    # "What did Claudia Sheinbaum say …" over articles that never name her
    assert calibrated(replace(good, named_absent=2, absent_share=0.3, cover=0.3))[0] < threshold
    # one word the corpus says differently ("smush") lowers the confidence but does not veto
    odd = calibrated(replace(good, rare_absent=1, absent_share=0.1, cover=0.45))[0]
    assert threshold <= odd < calibrated(good)[0]


def test_salient_words_are_names_code_and_rare_words():
    words = salient_words("How did Mexico's president Claudia Sheinbaum react to the strikes?")
    assert "Sheinbaum" in words and "Claudia" in words
    assert "Mexico" in words and "Mexico's" not in words  # a possessive is named without its 's
    assert not {"How", "president", "react", "strikes"} & set(words)
    assert {"initCache", "node_modules"} <= set(salient_words("where is initCache() called in node_modules?"))
    assert salient_words("What is the time?") == []
    # a hyphenated compound is its words: "gpg" is a rare word, "sign", "full" and "upgrade" are not
    assert salient_words("can i gpg-sign my commits?") == ["gpg"]
    assert salient_words("apt upgrade vs apt full-upgrade?") == salient_words("apt upgrade vs apt upgrade?")
    assert salient_words("is it ok to just ctrl-c a commit?") == []  # a key chord, as the word it always was


def test_reason_names_absent_words_or_the_closest_topics():
    ev = replace(STRONG, absent_words=["Sheinbaum"])
    assert conf.reason(ev, ["Venezuela"]) == "no document mentions Sheinbaum"
    assert conf.reason(STRONG, ["git-stash › OPTIONS", "git-stash › OPTIONS", ""]) == \
        "the closest passages are about “git-stash › OPTIONS”"
    assert conf.reason(STRONG, ["", ""]) == "no passage is close enough to the question"


def test_a_question_about_an_absent_name_abstains_on_a_tiny_corpus(make_engine, tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "council.txt").write_text(
        "Harbour news\n\nThe city council approved the harbour bridge budget of 40 million euros on Tuesday.\n\n"
        "The mayor said construction of the bridge starts in spring and takes two years.\n", encoding="utf-8")
    (corpus / "weather.txt").write_text("Weather\n\nThe weather was sunny all week in the mountains.\n", encoding="utf-8")
    eng = make_engine(corpus)
    ok = eng.ask("How much is the harbour bridge budget?")
    assert ok.answered and ok.reason is None and "40 million" in ok.results[0].quote
    no = eng.ask("What did the minister Quorvath Zelensky say about the harbour bridge budget?")
    assert not no.answered and no.results  # closest passages still listed
    assert no.reason and "Quorvath" in no.reason and no.confidence < ok.confidence
    assert no.to_dict()["reason"] == no.reason and ok.to_dict()["reason"] is None
    from retrieval.cli.render import answer_text

    assert f"Why: {no.reason}." in answer_text(no) and "Why:" not in answer_text(ok)
    # an answer states its confidence, and says so first when it is more likely wrong than right
    assert answer_text(ok).endswith(f"Confidence that [1] answers: {ok.confidence:.0%}")
    assert "Confidence that" not in answer_text(no)  # an abstention shows its own line instead
    low = type(ok)(ok.question, True, ok.results, 0.3, ok.index_version)
    assert answer_text(low).startswith("Low confidence (30%)") and not answer_text(ok).startswith("Low")


def test_chat_markup_is_not_part_of_a_word():
    # Discord users write **bold**, __underline__ and ||spoilers||: the words inside are ordinary words
    assert conf.plain("could __strikes__ start? ||soon|| **now**").split() == ["could", "strikes", "start?", "soon", "now"]
    assert "node_modules" in salient_words("why is node_modules huge?")
    assert salient_words("@everyone when could __strikes__ in Venezuela start? @Zorblax") == ["Venezuela"]


def test_chat_fillers_figures_and_apostrophe_less_contractions_are_no_evidence():
    assert salient_words("committed way too early lol, cant undo it pls") == []
    assert salient_words("want 4 graphs in a 2x2 grid, version v2.3.1-14-g2414721") == []
    assert salient_words("requests over ~1mb time out after 500ms on 4GB boxes") == []  # quantities with units
    assert "H5N1" in salient_words("is H5N1 spreading?")  # letters with a digit still name something
    assert conf.asked_terms("how do I undo lol") == conf.asked_terms("how do I undo")


def _absence(idx, question: str) -> tuple[list[str], float]:
    """The absent words and the absent share of a question, with no passage to compare."""
    ev = conf.evidence(idx, question, "", "", None, [], 0.5, (None, None))
    return ev.absent_words, ev.absent_share


def test_the_askers_own_code_built_of_corpus_words_is_not_an_absent_name(make_engine, one_file_corpus):
    # "process_order.delay(order.id)" is the asker's code calling the documented delay(); only an
    # identifier with a part the corpus never has ("Zorblax.delay") names something it lacks
    from retrieval.index.lexical import identifier_parts

    assert identifier_parts("process_order.delay") == ["process", "order", "delay"]
    assert identifier_parts("initCache") == ["init", "Cache"]
    assert identifier_parts("Maduro") == ["Maduro"] and identifier_parts("Peña") == ["Peña"]
    idx = make_engine(one_file_corpus(
        "tasks.md",
        "# Calling tasks\n\nCall delay() on a task to send it to a worker: the order of the arguments is kept.\n\n"
        "A task can process one message at a time; init runs once per worker process and may fill a cache.\n")).index

    def absent(question):
        return _absence(idx, question)[0]

    assert absent("my view calls process_order.delay(order.id), why does it fail?") == []
    assert absent("where does initCache run?") == []
    assert absent("my view calls Zorblax.delay(order.id), why does it fail?") == ["Zorblax.delay"]


def test_a_word_made_from_a_corpus_word_is_not_absent(make_engine, one_file_corpus):
    # "leaky" is the corpus's leak said as chat says it, "monorepo" its repo; "rebase" names another
    # action than base, and a product name ("prettier") is no corpus word with an affix
    idx = make_engine(one_file_corpus(
        "workers.md",
        "# Workers\n\nA memory leak in a child process is contained by replacing the process after a number of "
        "tasks. Each repo keeps its own base configuration; pretty output is the default.\n")).index
    st = conf.term_stats(idx)

    def absent(question):
        return _absence(idx, question)

    assert conf.derived_known("leaky", st) and conf.derived_known("monorepo", st)
    assert not conf.derived_known("rebase", st) and not conf.derived_known("prettier", st)
    assert not conf.derived_known("leak", st)  # no affix: the word itself decides
    q = "leaky child process: can the worker replace it?"
    terms = conf.asked_terms(q)
    lacking = [t for t in terms if not st.has(t)]  # "leaki" among them, and any stop word BM25 keeps
    assert conf.analyze("leaky")[0] in lacking
    assert absent(q) == ([], (len(lacking) - 1) / len(terms))
    assert absent("our monorepo is huge, can the worker keep each repo apart?")[0] == []
    words, share = absent("should i rebase my worker branch?")
    assert words == ["rebase"] and share > 0
    assert absent("does prettier format worker output?")[0] == ["prettier"]


def test_english_slang_is_tested_names_never_are():
    assert conf.english_word("shelve") and conf.english_word("nuke") and conf.english_word("typo")
    assert not conf.english_word("tmux") and not conf.english_word("kubernetes") and not conf.english_word("redis")
    assert not conf.english_word("ssh")  # listed at the word list's floor: a name, not English
    assert not conf.english_word("Shelve")  # capitalized inside a question: a name


def test_a_slang_word_the_passages_say_otherwise_is_carried_a_missing_thing_is_not(make_engine, one_file_corpus):
    # "shelve" the edits: the passage says stash; "sourdough" is what a stash manual lacks. Both are
    # English words no passage has; the question without them matches the passage no better, or better
    eng = make_engine(one_file_corpus(
        "stash.md",
        "# Stashing\n\nUse git stash when you want to record the current state of the working directory and the "
        "index, but want to go back to a clean working directory. The command saves your local "
        "modifications away and reverts the working directory to match the HEAD commit.\n\n"
        "# Branches\n\nA branch is a movable pointer to a commit; switch to it with git switch.\n"))
    idx = eng.index
    passages = idx.vectors(list(range(idx.store.passage_count)))

    def carried(question, words, limit=0.01):
        q = eng.encoder.encode_query(question)
        return conf.carried_words(question, q, words, passages, eng.encoder.encode_query, limit)

    assert carried("how do i shelve my local modifications and go back to a clean working directory?",
                   ["shelve"]) == {"shelve"}
    assert carried("how do i bake sourdough in a clean working directory?", ["sourdough"]) == frozenset()
    assert carried("how do i shelve my edits?", ["tmux"]) == frozenset()  # not English: never tested
    assert carried("how do i shelve my edits?", ["shelve"], limit=-1) == frozenset()  # -1: always counts
    q = "how do i shelve my local modifications and go back to a clean working directory?"
    shelve = eng.ask(q)
    assert shelve.answered and shelve.reason is None
    vetoed = make_engine(eng.settings.corpus, carried_gain=-1).ask(q)  # the word alone vetoed it before
    assert not vetoed.answered and vetoed.reason == "no document mentions shelve"
