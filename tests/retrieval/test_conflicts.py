"""Sources that disagree: the figure extractor and comparer on small synthetic passages, the Answer's
field, the CLI line and the --json field. The seeds and dev-question measurements are in
tests/bench/test_conflicts.py."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.query.conflicts import conflicts, disagreements, mentions
from retrieval.cli.render import answer_text
from retrieval.types import differ_line
from retrieval.types import Answer, Citation, Result


def differ(*texts: tuple[str, str]) -> list:
    """Disagreements between texts given as (doc id, text), ranked in order."""
    return conflicts((i, doc, None, text) for i, (doc, text) in enumerate(texts, 1))


def values(found) -> list[list]:
    return [[f.value for f in d.figures] for d in found]


def test_the_same_count_with_different_values_is_reported_with_the_verbatim_figures():
    found = differ(("a", "The strikes killed 21 people on Monday."), ("b", "At least 62 people were killed."))
    assert values(found) == [[21, 62]]
    d = found[0]
    assert (d.kind, d.thing) == ("count", "person killed")
    assert [f.text for f in d.figures] == ["killed 21 people", "At least 62 people were killed"]
    assert [f.doc_id for f in d.figures] == ["a", "b"]


def test_agreeing_figures_are_not_reported():
    assert differ(("a", "The strikes killed 21 people."), ("b", "Officials said 21 people were killed.")) == []


def test_different_units_are_never_compared():
    assert differ(("a", "The strikes killed 21 people."), ("b", "The strikes destroyed 62 boats.")) == []
    assert differ(("a", "The army deployed 8 ships."), ("b", "The army deployed 4,000 soldiers.")) == []
    assert differ(("a", "The bounty is $50 million."), ("b", "The bounty is €20 million.")) == []


def test_different_events_are_never_compared():
    # 21 killed and 40 injured are two figures, not one figure given twice
    assert differ(("a", "The blast killed 21 people."), ("b", "The blast injured 40 people.")) == []


def test_one_document_is_never_compared_with_itself():
    assert differ(("a", "The strikes killed 21 people."), ("a", "By Friday, 62 people had been killed.")) == []


def test_synonyms_of_the_counted_noun_are_one_thing():
    found = differ(("a", "The navy sank three boats."), ("b", "At least 21 vessels were destroyed."))
    assert values(found) == [[3, 21]]
    found = differ(("a", "Strikes killed 62 individuals."), ("b", "At least 83 people killed in the raids."))
    assert values(found) == [[62, 83]]


def test_counts_without_an_event_word_are_not_compared():
    # "four people said" and "six people said" count sources, not a fact the documents report
    assert differ(("a", "The plan is ready, four people said."), ("b", "The plan is ready, six people said.")) == []
    assert mentions("Two of them spoke to us.") == []


def test_amounts_in_every_spelling_are_equal():
    texts = [("a", "The U.S. placed a $50 million bounty on Maduro."),
             ("b", "Washington raised the reward for Maduro to $50,000,000."),
             ("c", "The reward on Maduro is now 50 million dollars."),
             ("d", "The administration increased the reward for Maduros to $ 50 million.")]
    assert [m.value for _, t in texts for m in mentions(t)] == [50e6] * 4
    assert differ(*texts, ("e", "Washington's reward for Maduro: $50m.")) == []
    found = differ(texts[0], ("e", "The reward for Maduro was $15 million until August."))
    assert values(found) == [[50_000_000, 15_000_000]]
    assert found[0].kind == "money" and found[0].thing == "bounty (USD)"


def test_abbreviated_scales_are_amounts_only_when_glued():
    assert [m.value for m in mentions("The reward for Maduro is $2bn now.")] == [2e9]
    assert [m.value for m in mentions("The reward for Maduro is $50 m now.")] == [50]


def test_amounts_about_other_people_or_per_person_are_not_compared():
    maduro = ("a", "The U.S. placed a $50 million bounty on Nicolás Maduro.")
    assert differ(maduro, ("b", "A $25 million bounty was placed on Diosdado Cabello.")) == []
    assert differ(maduro, ("b", "Additional bounties of $25 million each were placed on Maduro's allies.")) == []


def test_number_words_equal_digits():
    assert differ(("a", "The attack killed twenty-one people."), ("b", "The attack killed 21 people.")) == []
    assert values(differ(("a", "The attack killed twenty-one people."), ("b", "The attack killed 22 people."))) \
        == [[21, 22]]
    assert [m.value for m in mentions("Police arrested three hundred protesters.")] == [300]


def test_years_and_dates_are_not_counts():
    assert mentions("In 2020 soldiers were deployed to the border.") == []  # not 2020 soldiers
    # a year right after its event word is the date of that event
    assert [(m.kind, m.value) for m in mentions("Soldiers were deployed in 2020 to the border.")] \
        == [("date", (2020, None, None))]
    found = differ(("a", "In 2020, 21 people were killed in the region."),
                   ("b", "In 2021, 21 people were killed in the region."))
    assert found == []  # the years are no count, the counts agree
    assert [m.kind for m in mentions("On September 2 the navy sank 3 boats.")] == ["count"]
    assert [m.value for m in mentions("On September 2 the navy sank 3 boats.")] == [3]


def test_numbers_glued_to_names_are_not_counts():
    assert mentions("The air force deployed F-35 fighter planes and two B-1 bombers.") == []
    assert differ(("a", "Maduro offered to step down within a two-year timeframe, officials were deployed."),
                  ("b", "He offered elections in three years.")) == []


def test_dates_of_the_same_event_differ_only_in_a_field_both_give():
    found = differ(("a", "The decree was signed on September 2, 2025 by Smith."),
                   ("b", "Smith signed on September 5 the decree."))
    assert values(found) == [["2025-09-02", "--09-05"]] and found[0].kind == "date"
    assert differ(("a", "The decree was signed on September 2, 2025 by Smith."),
                  ("b", "Smith signed in September 2025 the decree.")) == []
    # different people: a date belongs to someone
    assert differ(("a", "The decree was signed on September 2, 2025 by Smith."),
                  ("b", "Jones signed on September 5 the decree.")) == []


def test_approximate_figures_agree_within_ten_percent():
    assert differ(("a", "About 15,000 troops were deployed."), ("b", "14,000 troops were deployed.")) == []
    assert values(differ(("a", "15,000 troops were deployed."), ("b", "14,000 troops were deployed."))) \
        == [[15000, 14000]]


def test_bounds_are_shown_not_reasoned_about():
    found = differ(("a", "The strikes killed at least 62 individuals."), ("b", "More than 83 people were killed."))
    assert [f.text for f in found[0].figures] == ["killed at least 62 individuals", "More than 83 people were killed"]


# ---------------------------------------------------------------- the answer, the CLI, --json


def result(rank: int, doc: str, text: str, date: str | None = None, quote: str | None = None) -> Result:
    quote = quote or text
    c = Citation(rank, doc, f"Title {doc}", None, None, date, 1, f"{doc}.txt")
    return Result(rank, doc, 1, text, quote, text.index(quote), 1.0, 0.5, c)


def test_only_the_quotes_are_compared():
    # the passage of [2] has another figure, but its quote (what the answer says) has none
    r1 = result(1, "a", "Strikes killed 21 people.")
    r2 = result(2, "b", "Strikes killed 62 people. The navy is on alert.", quote="The navy is on alert.")
    assert disagreements([r1, r2]) == []
    assert values(disagreements([r1, result(2, "b", "Strikes killed 62 people.")])) == [[21, 62]]


def test_the_cli_line_cites_both_with_the_documents_dates():
    rs = [result(1, "a", "The navy sank three boats.", "2025-09-27"), result(2, "b", "Others said 2 people left."),
          result(3, "c", "At least 21 vessels were destroyed.", "2025-11-20")]
    a = Answer("How many boats?", True, rs, 0.9, "v1", disagreements=disagreements(rs))
    line = "Sources differ: [1] sank three boats (2025-09-27), [3] At least 21 vessels were destroyed (2025-11-20)"
    assert line in answer_text(a, width=200).splitlines()
    d = json.loads(json.dumps(a.to_dict()))["disagreements"]
    assert d == [{"thing": "vessel struck", "kind": "count", "figures": [
        {"rank": 1, "doc_id": "a", "date": "2025-09-27", "text": "sank three boats", "value": 3},
        {"rank": 3, "doc_id": "c", "date": "2025-11-20", "text": "At least 21 vessels were destroyed", "value": 21}]}]


def test_no_line_on_an_abstention_or_without_disagreements():
    rs = [result(1, "a", "Strikes killed 21 people."), result(2, "b", "Strikes killed 62 people.")]
    assert "Sources differ" not in answer_text(Answer("q", False, rs, 0.1, "v1", disagreements=disagreements(rs)))
    assert "Sources differ" not in answer_text(Answer("q", True, rs[:1], 0.9, "v1"))
    assert Answer("q", True, rs[:1], 0.9, "v1").to_dict()["disagreements"] == []


def test_differ_line_numbers_and_limits():
    rs = [result(1, "a", "Strikes killed 21 people."), result(2, "b", "Strikes killed 62 people."),
          result(3, "c", "Strikes killed 21 people.")]
    found = disagreements(rs)
    assert differ_line(found, number={1: 4, 2: 7}.get) == "Sources differ: [4] killed 21 people, [7] killed 62 people"
    # with [2] not shown, the two figures left agree: no line
    assert differ_line(found, number={1: 1, 3: 2}.get) is None
    assert differ_line(found, limit=20) is None


def test_the_engine_answer_carries_its_disagreements(seeds_engine):
    a = seeds_engine.ask("Where have the US strikes on vessels taken place?")
    assert a.answered
    assert all(len({f.doc_id for f in d.figures}) >= 2 for d in a.disagreements)
    assert a.disagreements == disagreements(a.results)
    assert a.to_dict()["disagreements"] == [d.to_dict() for d in a.disagreements]


WORDS = ["killed", "at", "least", "21", "twenty-one", "people", "boats", "$", "$50", "million", "each", "bounty",
         "on", "Maduro", "September", "2", ",", "2025", "signed", "F-35", "4,000", "soldiers", "deployed", ".",
         "about", "15,000", "1,5", "2.0", "-", "year", "in", "\n", "“", "—", "50m", "reward"]


@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join), min_size=1, max_size=4))
@settings(max_examples=300, deadline=None)
def test_any_text_gives_verbatim_figures_from_two_documents(texts):
    found = differ(*[(f"d{i % 3}", t) for i, t in enumerate(texts)])
    for d in found:
        assert len({f.doc_id for f in d.figures}) >= 2
        for f in d.figures:
            assert f.text in texts[f.rank - 1]
