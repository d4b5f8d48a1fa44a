"""Documents as people write them (issue 24): plain-text structure, FAQs in every common shape, lead-ins,
footnotes and repeated examples, each rule on a fixture of its shape (tests/fixtures/as_written/, written by
tests/fixtures/make_structured.py)."""

import re
from pathlib import Path

import pytest

from retrieval.index.passages import split_document
from retrieval.ingest import documents
from retrieval.ingest.clean import clean_units
from retrieval.ingest.formats.text import is_rule, text_structure

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "as_written"
_DRAWN = re.compile(r"[-=*~^#_+.•<>:\s]+")


def load(name: str):
    kind = documents.SUFFIXES[Path(name).suffix]
    (doc,) = list(documents.load_file(documents.CorpusFile(FIXTURES / name, name, kind)))
    assert not isinstance(doc, documents.Skipped), doc
    return doc


def para_with(doc, needle: str):
    (p,) = [p for p in doc.paragraphs if needle in p.text]
    return p


@pytest.mark.parametrize("line", ["=====", "------------------", "* * *", "########", "-=-=-=-=", "+-----+    +-----+"])
def test_rule_lines(line):
    assert is_rule(line)


@pytest.mark.parametrize("line", ["--all", "1.2.3", "->", "# Install", "Options:"])
def test_text_is_no_rule(line):
    assert not is_rule(line)


def test_plain_manual_underlines_rules_and_banners_are_structure_never_text():
    doc = load("manual.txt")
    assert doc.title == "Relay Manual"  # the underlined title, not its "****" (nor the table of contents)
    assert para_with(doc, "forwards encrypted traffic").heading_path == ["1 Overview", "1.1 What is the relay?"]
    # a "####" comment banner names its section; the rule line under the section is no text
    assert para_with(doc, "reload signal").heading_path == ["2 Operation", "Restarting the relay"]
    for p in doc.paragraphs:
        assert not _DRAWN.fullmatch(p.text) and not any(_DRAWN.fullmatch(h) for h in p.heading_path)
    # the table of contents at the top is dropped, not text
    assert not any("2.1 Restarting" in p.text for p in doc.paragraphs)


def test_plain_manual_terms_with_indented_definitions():
    # as Texinfo prints a table: the term at the margin, its definition indented under it
    doc = load("manual.txt")
    p = para_with(doc, "Restart at once")
    assert p.text == "The modes available are:\n'fast': Restart at once, dropping the connections still open."
    q = para_with(doc, "Wait until every client")
    assert q.text == "'drain': Wait until every client has disconnected, then restart."
    assert q.heading_path == ["2 Operation", "Restarting the relay", "'drain'"]


def test_underline_levels_follow_first_appearance():
    units = text_structure("Guide\n=====\n\nPart\n----\n\nText here.\n\nNext\n====\n\nMore text.\n")
    assert [(u.text, u.level) for u in units if u.kind == "heading"] == [("Guide", 1), ("Part", 2), ("Next", 1)]


def test_plain_manual_lead_in_keeps_its_indented_example():
    doc = load("manual.txt")
    p = para_with(doc, "run these commands:")
    assert p.text == "To install the relay on a Debian host, run these commands:\napt-get install relay\nrelay --init /var/lib/relay"
    # the sentence after the example is text under its section, not a heading made of the command
    assert para_with(doc, "init step writes").heading_path == ["1 Overview", "1.2 Installing"]


def test_a_drawing_stays_whole_as_code():
    units = text_structure("Revisions\n=========\n\nThe figure:\n\n     +-----+    +-----+\n     ! 1.1 !----! 1.2 !\n"
                           "     +-----+    +-----+\n\nAfter it.\n")
    assert [u.kind for u in units] == ["heading", "auto", "code", "auto"]
    assert units[2].text.splitlines()[1] == "! 1.1 !----! 1.2 !"


@pytest.mark.parametrize("name", ["faq.txt", "faq.md", "faq.html", "faq.docx", "faq.pdf"])
def test_faq_question_heads_its_answer_and_is_never_a_passage(name):
    doc = load(name)
    p = para_with(doc, "new certificate in")
    assert p.heading_path[-1] == "How do I rotate the certificate?"
    if name != "faq.txt":  # (the plain-text FAQ asks something else next)
        assert para_with(doc, "reload signal was not sent").heading_path[-1] == "Why is the old certificate still served?"
    assert not any(q.text.rstrip().endswith("?") for q in doc.paragraphs)  # no question alone


def test_plain_faq_numbered_questions_between_delimiter_lines():
    doc = load("faq.txt")
    assert para_with(doc, "copy /var/lib/relay").heading_path == ["1.2) How do I move the data directory to another disk?"]
    assert para_with(doc, "own namespace").heading_path == ["1.3) Can two relays share one storage node?"]
    # "A:" marks the answer; the quote is the answer itself
    assert para_with(doc, "resets the allowed networks").text.startswith("The upgrade resets")
    assert doc.title == "Relay FAQ"


@pytest.mark.parametrize("name,lead,first", [
    ("faq.md", "The simple explanation is:", "relay allow 10.0.0.0/8"),
    ("faq.html", "The command sequence below may be useful:", "- relay stop"),
    ("faq.html", "The relay listens on these ports:", "Port: 7443 · Use: clients"),
    ("faq.docx", "The command sequence below may be useful:", "- relay stop"),
])
def test_lead_in_stays_with_what_it_introduces(name, lead, first):
    p = para_with(load(name), lead)
    assert p.text.startswith(lead + "\n" + first)


def test_lead_in_never_joins_across_a_heading():
    c = clean_units(text_structure("Guide\n=====\n\nRun this:\n\nNext\n====\n\nOther text here.\n"))
    assert [p.text for p in c.paragraphs] == ["Run this:", "Other text here."]


@pytest.mark.parametrize("name,needle,note", [
    ("faq.md", "cache of recent uploads", "[1] The cache is emptied when the relay restarts with --fresh."),
    ("faq.html", "Uploads are retried", "[1] Each retry waits twice as long as the one before."),
    ("notes.rst", "rebuilt at every start", "[1] Unless the relay is started with --keep-cache"),
])
def test_footnote_belongs_to_the_paragraph_it_annotates(name, needle, note):
    doc = load(name)
    p = para_with(doc, needle)
    assert note in p.text.split("\n")[-1]
    assert sum(note in q.text for q in doc.paragraphs) == 1  # not also left at the end of the page


def test_repeated_example_is_kept_with_equal_passage_text():
    doc = load("manual.txt")
    same = [p for p in doc.paragraphs if p.text == "To check a running relay, type:\nrelay status"]
    assert len(same) == 2  # the document says it twice; the query side shows equal text once
    passages = split_document(doc, lambda texts: [len(t.split()) for t in texts], 128)
    texts = [p.text for p in passages if "running relay" in p.text]
    assert len(texts) == 2 and texts[0] == texts[1]


def test_prose_question_without_an_answer_after_it_stays_text():
    from retrieval.ingest.formats.html import read_html

    x = read_html("<html><body><h1>T</h1><h2>A</h2><p>Some text.</p><p>Is that all?</p><h2>B</h2><p>More.</p></body></html>")
    assert [p.text for p in clean_units(x.units, title=x.title).paragraphs] == ["Some text.", "Is that all?", "More."]


@pytest.mark.parametrize("text,question,answer", [
    ("Question: Installing on Windows\nAnswer: Use the MSI installer\nand reboot.", "Installing on Windows",
     "Use the MSI installer and reboot."),
    ("Q. How do I stop it?\nA) Send the stop signal.", "How do I stop it?", "Send the stop signal."),
])
def test_plain_question_and_answer_markers(text, question, answer):
    (p,) = clean_units(text_structure(text)).paragraphs
    assert (p.heading_path, p.text) == ([question], answer)


def test_a_name_with_an_initial_is_no_question():
    c = clean_units(text_structure("Report\n======\n\nQ. Smith said the relay was fine.\n\nA. Jones agreed with him.\n"))
    assert [p.text for p in c.paragraphs] == ["Q. Smith said the relay was fine.", "A. Jones agreed with him."]


def test_example_indented_under_its_lead_in_in_one_block():
    text = ("Guide\n=====\n\n   Some text here that is long enough to be prose.\n\n   Type:\n                relay status\n\n"
            "   and look at the state field. If:\n\n     The state is the same on every host.\n")
    c = clean_units(text_structure(text))
    assert [p.text for p in c.paragraphs] == [
        "Some text here that is long enough to be prose.", "Type:\nrelay status",
        "and look at the state field. If:\nThe state is the same on every host."]


def test_blocks_indented_under_a_lead_in_are_its_list():
    # a plain-text FAQ's list without markers: each entry a block indented under the sentence introducing it
    text = ("Guide\n=====\n\n   The two situations when you should branch:\n\n     When the change takes a long time.\n\n"
            "     When you want to commit without affecting others.\n\n   After the list, prose again.\n")
    c = clean_units(text_structure(text))
    assert [p.text for p in c.paragraphs] == [
        "The two situations when you should branch:\nWhen the change takes a long time.\n"
        "When you want to commit without affecting others.", "After the list, prose again."]


def test_paragraphs_after_a_table_of_terms_belong_to_the_section_again(tmp_path):
    # Texinfo's plain text: a table of terms, then prose back at the margin, then a lone prompt line
    text = ("The manual\n**********\n\n1 Status\n========\n\n   Each file has one of these states:\n\nUp-to-date\n     The file is identical "
            "with the latest revision in the repository.\n\nUnknown\n     CVS doesn't know anything about this "
            "file.\n\n   You can think of 'status' and 'update' as complementary.  For a brief format, you can\n"
            "invoke\n\n     $ cvs -n -q update\n\n   The '-n' option means to not actually do the update.\n")
    (tmp_path / "m.txt").write_text(text, encoding="utf-8")
    (doc,) = list(documents.load_file(documents.CorpusFile(tmp_path / "m.txt", "m.txt", "text")))
    assert para_with(doc, "doesn't know anything").heading_path == ["1 Status", "Unknown"]
    for needle in ("complementary", "cvs -n -q update", "means to not actually"):
        assert para_with(doc, needle).heading_path == ["1 Status"], needle  # not under "Unknown" nor the command
    units = text_structure(text)
    assert ("$ cvs -n -q update", "code") in [(u.text, u.kind) for u in units]


def test_an_info_index_and_menus_are_navigation_not_text(tmp_path):
    # makeinfo --plaintext: a node's menu ("* Node::  description") and the index at the end, an entry per
    # line with its "(line N)", wrapped onto a line of its own when the entry is long
    text = ("The manual\n**********\n\n* Menu:\n\n* Overview::          An introduction to CVS.\n"
            "* Repository::        Where all your sources are stored.\n\n"
            "1 Overview\n==========\n\n   CVS is a version control system.  * It records the history of files.\n\n"
            "   * Keep a checked out copy of a module up to date with a cron job.\n\n"
            "* std::vector holds the list of modules.\n\n"
            "Index\n*****\n\n* Menu:\n\n"
            "* #cvs.lock, removing:                   Concurrency.       (line  4223)\n"
            "* -e, in modules file <1>:               Module program options.\n"
            "                                                            (line  9335)\n"
            "* Checkout, example:                     Getting the source. (line   660)\n")
    (tmp_path / "m.txt").write_text(text, encoding="utf-8")
    (doc,) = list(documents.load_file(documents.CorpusFile(tmp_path / "m.txt", "m.txt", "text")))
    texts = [p.text for p in doc.paragraphs]
    # the prose and a "* " bullet stay; the menus, the index entries and their wrapped "(line N)" go
    assert texts == ["CVS is a version control system. * It records the history of files.",
                     "* Keep a checked out copy of a module up to date with a cron job.\n"
                     "* std::vector holds the list of modules."]
    assert all(p.heading_path == ["1 Overview"] for p in doc.paragraphs)


def test_a_faq_answers_one_word_opening_goes_on_with_its_explanation():
    # Sphinx FAQs (Celery's) write "**Answer:** No." as a paragraph of its own, the reason in the next
    from retrieval.ingest.clean import Unit, clean_units

    doc = clean_units([Unit("FAQ", "heading", level=1), Unit("Does it run on Windows?", "heading", level=2),
                       Unit("Answer: No.", "para"), Unit("Since 4.x Windows is no longer supported.", "para"),
                       Unit("Can I use it?", "heading", level=2), Unit("A: Yes.", "para"), Unit("It is MIT.", "para"),
                       Unit("Other", "heading", level=2), Unit("A short answer: read the guide, it says more.", "para"),
                       Unit("More text.", "para")])
    assert [p.text for p in doc.paragraphs] == ["Answer: No.\nSince 4.x Windows is no longer supported.",
                                                 "A: Yes.\nIt is MIT.",
                                                 "A short answer: read the guide, it says more.", "More text."]
