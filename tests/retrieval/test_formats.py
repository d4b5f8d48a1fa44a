"""Structured formats on real files made by real tools (tests/fixtures/make_structured.py):
every structure rule of the readers, checked on the parsed documents (no index needed)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from retrieval.ingest import documents
from retrieval.index.passages import split_document
from retrieval.cli.render import answer_text, source_text
from retrieval.types import Answer, Citation, Document, Paragraph, Result, Skipped, SourceView

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "structured"
# ../shared beside the checkout, as tests/conftest.py finds it
SHARED = Path(os.environ.get("CITEBOT_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
GITDOCS = SHARED / "eval" / "gitdocs" / "corpus"


@pytest.fixture(scope="module")
def corpus() -> tuple[dict[str, Document], dict[str, str]]:
    docs, skipped = {}, {}
    for x in documents.load(FIXTURES):
        if isinstance(x, Skipped):
            skipped[x.path] = x.reason
        else:
            docs[x.doc_id] = x
    return docs, skipped


def para_with(doc: Document, needle: str) -> Paragraph:
    found = [p for p in doc.paragraphs if needle in p.text]
    assert len(found) == 1, f"{needle!r} in {len(found)} paragraphs of {doc.doc_id}"
    return found[0]


# -- Markdown -------------------------------------------------------------------------------------

def test_markdown_front_matter_gives_title_author_date_url(corpus):
    d = corpus[0]["guide"]
    assert (d.title, d.author, d.date, d.url) == (
        "Relay Server Guide", "Dana Whitfield", "2024-02-11", "https://docs.example.org/relay")


def test_changelog_heading_is_a_section_not_the_document_date(tmp_path):
    (tmp_path / "CHANGES.md").write_text("# Changelog\n\n## 3.2.1 (2025-03-14)\n\nFixed the crash on start.\n")
    (d,) = list(documents.load(tmp_path))
    assert d.date is None
    assert d.paragraphs[0].heading_path == ["3.2.1 (2025-03-14)"]
    assert corpus_heading(d, "Fixed the crash") == "3.2.1 (2025-03-14)"


def corpus_heading(doc: Document, needle: str) -> str | None:
    return para_with(doc, needle).heading


def test_markdown_list_items_stay_with_their_intro_sentence(corpus):
    p = para_with(corpus[0]["guide"], "Port 7443")
    assert p.text.startswith("Before you start the relay, open these ports on the firewall:\n- Port 7443")
    assert p.text.count("\n- ") == 3
    assert p.heading_path == ["Network"]


def test_markdown_fenced_code_keeps_its_line_breaks(corpus):
    p = para_with(corpus[0]["guide"], "sudo apt install")
    assert "sudo apt install relay-server\nrelay-server --init \\\n    --data /var/lib/relay" in p.text


def test_markdown_table_rows_are_labelled_with_their_headers(corpus):
    p = para_with(corpus[0]["guide"], "Business")
    assert p.text == "Plan: Business · Storage: 1 TB · Price: $12"
    assert p.heading_path == ["Plans"]


def test_markdown_links_and_emphasis_are_plain_text(corpus):
    text = "\n".join(p.text for p in corpus[0]["guide"].paragraphs)
    assert "forwards encrypted traffic between clients and the storage cluster" in text
    assert not re.search(r"\*\*|\]\(|\[clients\]|(?<!\w)\*whole\*", text)


def test_markdown_heading_hierarchy_is_the_heading_path(corpus):
    p = para_with(corpus[0]["guide"], "Fixed a crash")
    assert p.heading_path == ["Changelog", "3.2.1 (2025-03-14)"] and p.heading == "3.2.1 (2025-03-14)"


# -- HTML -----------------------------------------------------------------------------------------

def test_html_definition_term_and_definition_are_one_paragraph(corpus):
    d = corpus[0]["glossary"]
    p = para_with(d, "A bare repository has no working tree")
    assert p.text.startswith("bare repository: A bare repository")
    assert p.heading_path == ["Terms", "bare repository"]
    # two <dt> for one <dd>: both name it
    p = para_with(d, "Untracked files are also stashed")
    assert p.heading_path == ["Terms", "-u, --include-untracked"]
    # the definition's second paragraph stays under its term
    assert para_with(d, "Clone it with the --bare option.").heading_path == ["Terms", "bare repository"]


def test_html_no_paragraph_is_only_a_heading_or_a_term(corpus):
    d = corpus[0]["glossary"]
    texts = [p.text for p in d.paragraphs]
    for only in ("Terms", "Plans", "Setup", "bare repository", "-u", "--include-untracked"):
        assert only not in texts
    assert all(p.heading_path for p in d.paragraphs), "every paragraph sits under its section"


def test_html_table_rows_pre_and_lists(corpus):
    d = corpus[0]["glossary"]
    assert para_with(d, "Enterprise").text == "Plan: Enterprise · Storage: 10 TB · Price: on request"
    assert para_with(d, "port = 7443").text.endswith("[relay]\nport = 7443\ndata = /var/lib/relay")
    assert para_with(d, "outbound HTTPS").text == (
        "The service needs three things:\n- a user account named relay\n- a data folder on a local disk\n"
        "- outbound HTTPS")
    assert "Copyright" not in " ".join(p.text for p in d.paragraphs) and "Home" not in d.paragraphs[0].text
    assert (d.title, d.author) == ("Storage Glossary", "Lee Okafor")


def test_html_line_breaks_separate_words(tmp_path):
    (tmp_path / "a.html").write_text("<html><body><h2>Address</h2><p>Write to 12 Harbour Road<br>Portsmouth.</p>"
                                     "<pre>first<br>second</pre></body></html>")
    (d,) = list(documents.load(tmp_path))
    assert [p.text for p in d.paragraphs] == ["Write to 12 Harbour Road Portsmouth.", "first\nsecond"]


# -- DOCX, ODT, reStructuredText ------------------------------------------------------------------

def test_docx_headings_tables_lists_and_properties(corpus):
    d = corpus[0]["plans"]
    assert (d.title, d.author) == ("Relay Plans", "Priya Raman")
    assert para_with(d, "Business").text == "Plan: Business · Storage: 1 TB · Price: $12"
    assert para_with(d, "Business").heading_path == ["Storage"]
    assert para_with(d, "port 7443 is open").text == (
        "Before installing, make sure that:\n- the host has 4 GB of memory\n- port 7443 is open\n"
        "- the clock is synchronised")
    assert para_with(d, "Uploads larger").heading_path == ["Requirements", "Limits"]


def test_odt_and_rst(corpus):
    docs = corpus[0]
    odt = docs["move"]
    assert (odt.title, odt.author) == ("Office Move", "Jo Lindqvist")
    assert para_with(odt, "personal plants").text == "Pack these items yourself:\n- your laptop and charger\n- personal plants"
    rst = docs["backups"]
    assert (rst.title, rst.author, rst.date) == ("Backup Procedures", "Mira Castellanos", "2023-09-30")
    assert para_with(rst, "read-only copy").text == "snapshot: A read-only copy of a volume at one moment."
    assert para_with(rst, "backupctl run").text == "backupctl run --full\nbackupctl verify"


# -- PDF ------------------------------------------------------------------------------------------

def test_pdf_pages_dehyphenation_running_header_and_metadata(corpus):
    d = corpus[0]["manual"]
    assert (d.title, d.author) == ("Relay Operations Manual", "Sam Ortiz")
    first = para_with(d, "single package")
    # hard-wrapped lines are one paragraph, the hyphen at the line end is undone
    assert first.text.startswith("The relay ships as a single package for every supported platform. After")
    assert "the configuration wizard asks" in first.text and first.text.endswith("administrator account.")
    assert first.page == 1 and first.heading_path == ["Installation"]
    assert para_with(d, "Rotate the TLS").page == 2 and para_with(d, "Rotate the TLS").heading_path == ["Maintenance"]
    assert para_with(d, "port 7443 is reachable").page == 3
    text = " ".join(p.text for p in d.paragraphs)
    assert "internal" not in text and "Page 1 of 3" not in text and "Page" not in text


def test_pdf_columns_are_read_one_after_the_other(corpus):
    d = corpus[0]["columns"]
    assert [p.text for p in d.paragraphs] == [
        "The left column starts the story of the harbour, where the ferries dock every morning before the market opens.",
        "The right column ends the story with the evening boats, which leave after the market has closed for the day."]


def test_pdf_lists_stay_with_their_intro_and_numbered_items_are_whole(corpus):
    d = corpus[0]["lists"]
    # bullets drawn as shapes leave no character: the indented short lines under "…:" are its items
    assert para_with(d, "must be open").text == ("The following ports must be open on the relay host:\n"
                                                 "- 7443 for clients\n- 9418 for mirrors\n- 8080 for the admin console")
    # a numbered item's second line hangs under its text, and the item reads on across it
    assert para_with(d, "Stop the relay").text == (
        "1. Stop the relay service and wait until every client has disconnected from the storage node.\n"
        "2. Install the new package over the old one.\n3. Start the service again and check the log.")
    # a sentence just above an option term is not one of the term's names
    keep = para_with(d, "Keep the old configuration")
    assert keep.text.startswith("--keep-config: Keep") and keep.heading_path[-1] == "--keep-config"
    assert not any("below., --keep" in p.text for p in d.paragraphs)


def test_pdf_table_rows_are_labelled_with_their_headers_like_html(corpus):
    d = corpus[0]["pricing"]
    texts = [p.text for p in d.paragraphs]
    # the same rows the HTML reader makes of <table> (test_html_table_rows_pre_and_lists)
    assert texts == ["The plans differ in storage and price.",
                     "Plan: Community · Storage: 50 GB · Price: free",
                     "Plan: Business · Storage: 1 TB · Price: $12",
                     "Plan: Enterprise · Storage: 10 TB · Price: on request",
                     "Prices are per month and per relay."]
    # a one-page PDF has no repeated header to find: the browser's date, title, URL and "1/1" still go
    assert d.title == "Relay Pricing" and all(p.heading_path == ["Plans"] for p in d.paragraphs)


def test_pdf_manual_as_tex_prints_it_loses_contents_running_heads_and_bullet_columns(corpus):
    d = corpus[0]["book"]
    texts = [p.text for p in d.paragraphs]
    # the table of contents (leader dots, its page numbers, the roman "i") is not text of its own:
    # the headings it lists are in the text where they belong
    assert not any(". . ." in t or t in ("i", "1 2", "3") or "Contents" in t for t in texts)
    assert d.paragraphs[0].text.startswith("The handbook explains") and d.paragraphs[0].page == 2
    # a chapter's name at the head of its later pages, beside the page number, is a running header
    assert not any(t.startswith("Chapter ") for t in texts)
    assert para_with(d, "relay_free").heading_path == ["2 Function reference", "2.1 Reading a schema"]
    # a bullet set apart from its item is a list marker, not a table column of "•" cells
    assert para_with(d, "types that the parser").text == (
        "Here is the list of types that the parser can manage:\n"
        "- INTEGER;\n- BOOLEAN;\n- OCTET STRING;\n- SEQUENCE OF;\n- CHOICE;")
    assert len(texts) == 7


def test_pdf_contents_without_leader_on_the_line_and_a_back_of_book_index_are_not_text(corpus):
    d = corpus[0]["indexed"]
    # the contents page's titles (their leaders on lines of their own, their page numbers in a column)
    # and the two-column index ("columns, 2, 4-6, 8, 11, 14," wrapped onto "17, 21") are navigation
    assert [(p.page, p.text) for p in d.paragraphs] == [
        (2, "The histograms style draws one bar per row of a data column. Bars of several columns are drawn "
            "side by side when the clustered layout is chosen.")]
    assert d.paragraphs[0].heading_path == ["Histograms"]


def test_pdf_without_text_layer_or_with_password_is_skipped_with_a_reason(corpus):
    skipped = corpus[1]
    assert skipped["scan.pdf"].startswith("no text layer")
    assert skipped["locked.pdf"].startswith("encrypted PDF")
    assert "\n" not in skipped["scan.pdf"] + skipped["locked.pdf"]


def test_broken_pdf_is_skipped_with_one_line(tmp_path):
    data = (FIXTURES / "manual.pdf").read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[: len(data) // 3])
    (tmp_path / "fake.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    (tmp_path / "fake.docx").write_bytes(b"PK\x03\x04 not a zip")
    out = {x.path: x for x in documents.load(tmp_path)}
    for name in ("cut.pdf", "fake.pdf", "fake.docx"):
        x = out[name]
        assert isinstance(x, Skipped), name
        assert x.reason and "\n" not in x.reason and len(x.reason) < 140


def test_passages_carry_page_and_heading_path(corpus):
    d = corpus[0]["manual"]
    passages = split_document(d, lambda texts: [len(t.split()) for t in texts], 200)
    assert [p.page for p in passages] == [p.page for p in d.paragraphs]
    assert passages[-1].heading_path == ["Troubleshooting"]


@pytest.mark.skipif(not GITDOCS.is_dir(), reason="shared gitdocs corpus not present")
def test_real_git_manual_page_printed_to_pdf():
    f = documents.CorpusFile(GITDOCS / "git-stash.pdf", "git-stash.pdf", "pdf")
    (d,) = list(documents.load_file(f))
    assert d.title == "git-stash(1)"
    p = para_with(d, "all untracked files are also stashed and then cleaned up")
    assert p.heading_path[0] == "OPTIONS" and "--include-untracked" in p.heading_path[-1] and p.page == 3
    text = "\n".join(q.text for q in d.paragraphs)
    assert "file:///" not in text and "12/1/26" not in text and not re.search(r"^\d+/\d+$", text, re.M)
    # a sentence that the page break happens to put at the head of two pages is text, not a running head
    assert para_with(d, "Separates pathspec from options").text.startswith(
        "--: This option is only valid for push command.")
    heads = {q.heading_path[0] for q in d.paragraphs if q.heading_path}
    assert {"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"} <= heads
    # no line fragments: prose paragraphs are whole (end a sentence), apart from code and short terms
    # (a lead-in ending in ":" carries what it introduces on the lines after it: its first line is the prose)
    prose = [q.text.split("\n")[0] for q in d.paragraphs
             if ("\n" not in q.text or q.text.split("\n")[0].endswith(":")) and len(q.text.split("\n")[0].split()) > 8]
    whole = [q for q in prose if q.rstrip().endswith((".", ":", ")", "?"))]
    assert len(whole) >= 0.9 * len(prose)


# -- odd files ------------------------------------------------------------------------------------

def test_file_without_paragraph_breaks_is_split_with_distinct_numbers(tmp_path):
    sentence = "The relay keeps every packet in order while it waits for the storage node. "
    text = sentence * 4000  # ~300 KB on one line
    (tmp_path / "one.txt").write_text(text)
    t = time.perf_counter()
    (d,) = list(documents.load(tmp_path))
    took = time.perf_counter() - t
    assert len(d.paragraphs) > 100
    assert [p.number for p in d.paragraphs] == list(range(1, len(d.paragraphs) + 1))
    assert max(len(p.text) for p in d.paragraphs) < 2500
    assert all(p.text.endswith(".") for p in d.paragraphs[:-1]), "cut at sentence ends"
    assert " ".join(p.text for p in d.paragraphs) == text.strip()
    assert took < 30  # generous: it used to take minutes for a few MB


def test_non_utf8_file_records_its_guessed_encoding(tmp_path):
    text = "Café crème à la française. Les élèves étaient très contents de leur journée à Genève. " * 5
    (tmp_path / "latin.txt").write_bytes(text.encode("cp1252"))
    (tmp_path / "utf.txt").write_text(text, encoding="utf-8")
    docs = {d.doc_id: d for d in documents.load(tmp_path)}
    assert docs["latin"].encoding and docs["latin"].encoding.lower().replace("-", "").replace("_", "") in (
        "cp1252", "latin1", "iso885915", "iso88591", "windows1252")
    assert docs["utf"].encoding is None


# -- DiscordChatExporter --------------------------------------------------------------------------

def test_discord_export_groups_replies_and_runs_and_drops_chatter(corpus):
    docs = corpus[0]
    threads = {k: v for k, v in docs.items() if k.startswith("help-channel/")}
    assert set(threads) == {"help-channel/1001", "help-channel/1006"}
    q = threads["help-channel/1001"]
    assert q.paragraphs[0].text == ("Ana: How do I rotate the relay's TLS certificate without downtime?\n"
                                    "Ben: Run relayctl cert reload after copying the new files; connections stay up.")
    assert (q.title, q.author, q.date) == ("#help", "Ana", "2024-05-01")
    assert q.url == q.source == "https://discord.com/channels/111/222/1001"
    run = threads["help-channel/1006"]
    assert run.paragraphs[0].text.count("\n") == 1 and "Dee:" not in run.paragraphs[0].text
    everything = " ".join(p.text for d in threads.values() for p in d.paragraphs)
    for gone in ("thanks!", "Ticket #42", "🎉", "!rank"):
        assert gone not in everything


def test_json_that_is_not_an_export_is_skipped(tmp_path):
    (tmp_path / "package.json").write_text('{"name": "x", "version": "1.0.0"}')
    (x,) = list(documents.load(tmp_path))
    assert isinstance(x, Skipped) and "DiscordChatExporter" in x.reason


# -- ids and rendering ----------------------------------------------------------------------------

def test_document_reference_with_suffix_or_typo():
    ids = ["git-stash", "git-status", "guide"]
    assert documents.resolve_id("git-stash.pdf", ids) == ("git-stash", None)
    assert documents.resolve_id("git-stsh", ids) == (None, "git-stash")
    assert documents.resolve_id("zzzzzz", ids) == (None, None)


def test_cli_text_names_the_place():
    c = Citation(1, "git-stash", "git-stash(1)", None, None, None, 24, "git-stash.pdf",
                 ["OPTIONS", "-u, --include-untracked"], 3)
    r = Result(1, "git-stash", 24, "Line one\n  indented code", "Line one", 0, 1.0, 0.9, c)
    out = answer_text(Answer("q", True, [r], 0.9, "v1"))
    assert "[1] git-stash(1) · OPTIONS › -u, --include-untracked · p. 3 · git-stash.pdf" in out
    assert "\n      indented code" in out, "code keeps its line break and indent"
    view = SourceView({"doc_id": "git-stash", "title": "git-stash(1)"}, 24,
                      [Paragraph(23, "Before.", "-a", ["OPTIONS", "-a"], 3),
                       Paragraph(24, "Cited.", "-u", ["OPTIONS", "-u"], 3)], 74)
    text = source_text(view)
    assert "## OPTIONS › -a" in text and "## OPTIONS › -u" in text and "p. 3" in text
    assert "> ¶24 Cited." in text


def test_bot_citation_line_names_the_place():
    from bot.render import NumberedCitation, citation_line

    c = Citation(1, "git-stash", "git-stash(1)", None, None, None, 24, "git-stash.pdf",
                 ["OPTIONS", "-u, --include-untracked"], 3)
    line = citation_line(NumberedCitation(1, c))
    assert "OPTIONS › -u, --include-untracked · p. 3" in line.replace("\\", "")
    plain = citation_line(NumberedCitation(2, Citation(2, "a", "A", None, None, None, 5, "a.txt")))
    assert "¶ 5" in plain


# -- through the index (the one small build of this file) ------------------------------------------

def test_fixture_corpus_end_to_end(make_engine, tmp_path):
    import shutil

    from retrieval.errors import DocumentNotFound

    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURES, corpus)
    (corpus / "latin.txt").write_bytes(("Les élèves étaient très contents de leur journée à Genève. " * 5).encode("cp1252"))
    eng = make_engine(corpus)
    summary = eng.reindex()
    assert {s.path for s in summary.skipped} == {"scan.pdf", "locked.pdf"}
    assert list(summary.encodings) == ["latin.txt"]
    assert any(line.startswith("read as ") and line.endswith("latin.txt") for line in summary.lines())
    a = eng.ask("How much storage does the Business plan include?")
    top = a.results[0]
    assert "Business" in top.text and "1 TB" in top.text, "the row keeps its header labels"
    a = eng.ask("How often should the TLS certificate be rotated?")
    hit = next(r for r in a.results if r.doc_id == "manual")
    d = hit.to_dict()
    assert d["page"] == 2 and d["heading_path"] == ["Maintenance"]
    assert hit.citation.label().endswith("Maintenance · p. 2")
    view = eng.source("manual.pdf", 3)  # the file name works as the id
    assert view.document["doc_id"] == "manual" and next(p for p in view.paragraphs if p.number == 3).page == 2
    with pytest.raises(DocumentNotFound, match="did you mean 'manual'"):
        eng.source("manul")


def test_upload_accepts_every_corpus_type_by_default():
    from bot.cogs.admin import safe_upload_name
    from bot.config import BotConfig

    types = BotConfig().upload_types
    assert set(documents.SUFFIXES) <= set(types)
    for name in ("manual.pdf", "plans.docx", "move.odt", "backups.rst", "help-channel.json", "guide.md"):
        assert safe_upload_name(name, types) == (None, name)
    assert safe_upload_name("tool.exe", types)[1] is None


def test_an_indented_code_block_keeps_relative_indentation_without_edge_blanks():
    from retrieval.ingest.documents import parse

    doc = parse("Intro line here.\n\n\t 0\n\n    def f():\n        return 1\n", "markdown", doc_id="d", source="d.md",
                content_hash="h")
    texts = [p.text for p in doc.paragraphs]
    assert all(t == t.strip() and t for t in texts), texts
    assert any("def f():\n    return 1" in t for t in texts), texts  # relative indentation kept


def test_rst_written_for_sphinx_keeps_its_text_and_reads_roles_as_their_words(corpus):
    """Sphinx roles and directives, unknown to docutils, used to be raw markup or dropped with their text."""
    docs, _ = corpus
    d = docs["sphinx"]
    text = "\n".join(p.text for p in d.paragraphs)
    # roles read as Sphinx shows them: the display text, "~" keeps the last name, no markup left
    assert para_with(d, "to frobnicate a widget").text == (
        "Call frob.run to frobnicate a widget; the tuning guide explains the levels and Frobber keeps "
        "state between calls.")
    assert not re.search(r":\w+:`|`", text)
    # an object description is a term with its description, like a <dl>, under its section
    run = para_with(d, "number of frobs applied")
    assert run.text.startswith("run(widget, level=1): Frobnicate widget at the given level")
    assert run.heading_path == ["Reference", "run(widget, level=1)"]
    assert para_with(d, "evicted oldest first").text.startswith("Frobber(cache_size=128): Keeps the frob cache")
    assert para_with(d, "FROB_LEVEL").text == (
        "FROB_LEVEL: Default level when run is called without one (default: 1).")
    # version notes, "see also", glossary entries and docutils' own notes keep their words
    assert run.text.endswith("applied.\nAdded in version 2.1: The level argument.")  # with its function
    assert para_with(d, "Deprecated since").text == (
        "Deprecated since version 3.0: Use Frobber.run instead of the module-level run.")
    assert para_with(d, "walks through").text == (
        "See also: tutorial, which walks through frobnicating a real widget from installation to the first "
        "tuned run.")
    assert para_with(d, "counted per widget").text == "frob: One unit of frobnication, counted per widget."
    assert para_with(d, "idempotent").text == "Note: Frobbing a widget twice is idempotent."
    assert para_with(d, "frob.run(level=3)").text == "import frob\nfrob.run(level=3)"
    # toctree, index, module and autodoc directives hold nothing to quote
    for gone in ("install\n", "tutorial\n", "synopsis", "Frobnicate widgets in place", "single:", "frob.core.tune",
                 "maxdepth", "noindex"):
        assert gone not in text + "\n"


def test_html_callouts_are_kept_and_their_title_leads_the_text():
    """Sphinx writes <div class="admonition note"><p class="admonition-title">, docutils <aside>."""
    html = ("<html><body><main><p>Intro.</p>"
            "<aside class='sidebar'><p>Navigation links</p></aside>"
            "<aside class='admonition warning'><p class='admonition-title'>Warning</p>"
            "<p>Back up first.</p></aside>"
            "<div class='admonition note'><p class='admonition-title'>Note</p><pre>code</pre></div>"
            "</main></body></html>")
    d = documents.parse(html, "html", doc_id="x", source="x.html", content_hash="0")
    # a sidebar is still furniture; a title before a non-paragraph stays a line introducing it
    assert [p.text for p in d.paragraphs] == ["Intro.", "Warning: Back up first.", "Note:\ncode"]


def test_html_sphinx_page_loses_permalinks_navigation_footer_and_link_only_contents():
    """As Sphinx themes write a page: "Menus¶" permalinks, a role="navigation" bar, a local contents,
    a <div class="footer"> (asciidoc's is <div id="footer">: "Last updated …" on every git page)."""
    html = """<html><head><title>IDLE — Python documentation</title></head><body>
      <div class="related" role="navigation" aria-label="Related"><h3>Navigation</h3>
        <ul><li><a href="genindex.html">index</a></li><li><a href="modules.html">modules</a> |</li></ul></div>
      <div class="body" role="main"><section id="idle">
        <h1>IDLE<a class="headerlink" href="#idle" title="Link to this heading">¶</a></h1>
        <div class="contents topic" id="contents"><p class="topic-title">Contents</p>
          <ul><li><a class="reference internal" href="#menus">Menus</a></li>
              <li><a class="reference internal" href="#editing">Editing and Navigation</a></li></ul></div>
        <section id="menus"><h2>Menus<a class="headerlink" href="#menus">¶</a></h2>
          <p>IDLE has two main window types, the Shell window and the Editor window.
          See <a href="#editing">Editing</a> and footnote <a href="#f1">1</a>.</p></section>
        <div class="toctree-wrapper compound"><p>The chapters, each on its own page, follow the order of
          the menus and explain every command in plain words.</p></div>
      </section></div>
      <div class="footer">Last updated on Dec 01, 2026. Found a bug? Created using Sphinx 7.2.6.</div>
      </body></html>"""
    d = documents.parse(html, "html", doc_id="idle", source="idle.html", content_hash="0")
    texts = [p.text for p in d.paragraphs]
    assert texts == ["IDLE has two main window types, the Shell window and the Editor window. See Editing and "
                     "footnote 1.",
                     "The chapters, each on its own page, follow the order of the menus and explain every "
                     "command in plain words."]
    assert d.paragraphs[0].heading_path == ["Menus"]
    # "page — site documentation", as Sphinx titles every page: the page is the title, the site its outlet
    assert (d.title, d.outlet) == ("IDLE", "Python documentation")
    plain = documents.parse(html.replace("IDLE — Python documentation", "Peace — War"), "html", doc_id="w",
                            source="w.html", content_hash="0")
    assert (plain.title, plain.outlet) == ("Peace — War", None)  # a dash in a title is not a site's name


@pytest.mark.parametrize("doc_id", ["handbook", "guidebook"])
def test_office_files_saved_by_libreoffice_keep_definitions_and_code_blocks_whole(corpus, doc_id):
    """handbook.docx and guidebook.odt are the glossary page saved by LibreOffice as Word and as
    OpenDocument: <dt>/<dd> become its "List Heading"/"List Contents" paragraph styles (in the .odt behind
    automatic styles such as "P2") and each <pre> line a "Preformatted Text" paragraph."""
    docs, _ = corpus
    d, html = docs[doc_id], docs["glossary"]
    assert (d.title, d.author) == ("Storage Glossary", "Lee Okafor")
    term = para_with(d, "bare repository:")
    assert term.text == para_with(html, "bare repository:").text == (
        "bare repository: A bare repository has no working tree: it holds only the history, which is why "
        "servers use one.\nClone it with the --bare option.")
    assert term.heading_path == ["Storage Glossary", "Terms", "bare repository"]
    assert para_with(d, "Untracked files").text == para_with(html, "Untracked files").text == (
        "-u, --include-untracked: Untracked files are also stashed and then cleaned up from the working tree.")
    assert para_with(d, "port = 7443").text == para_with(html, "port = 7443").text == (
        "Write the configuration like this:\n[relay]\nport = 7443\ndata = /var/lib/relay")
    assert para_with(d, "Business").text == "Plan: Business · Storage: 1 TB · Price: $12"
    # after the list its paragraphs are no definitions
    assert para_with(d, "differ in storage").heading_path == ["Storage Glossary", "Plans"]


def test_pdf_line_at_the_foot_of_one_page_and_the_head_of_the_next_is_text(corpus):
    """A header repeats at the head of pages, a footer at their foot: the same command ending page 1
    and starting page 2 (a code example split by the page break) is neither."""
    docs, _ = corpus
    d = docs["cache"]
    example = para_with(d, "[work for 5 more minutes]")
    assert example.text.endswith("[work for 5 more minutes]\n$ git push http://example.com/repo.git\n"
                                 "$ git push http://example.com/repo.git\n[your credentials are used automatically]")
    assert example.page == 1
    assert para_with(d, "timeout option").page == 2
    assert not any(p.text.strip() in ("1", "2") for p in d.paragraphs)  # the page numbers still go


def test_html_api_docs_lose_source_links_and_item_permalinks():
    """rustdoc puts "Source" and a "§" permalink beside every item; Sphinx's viewcode a "[source]"."""
    html = """<html><body><main><h1>Struct Frobber</h1>
      <section id="method.new"><span class="rightside"><a class="src" href="../src/frob/lib.rs.html#10">Source</a></span>
        <a href="#method.new" class="anchor">§</a><h4 class="code-header">pub fn new() -&gt; Frobber</h4></section>
      <div class="docblock"><p>Makes a frobber with an empty cache.</p></div>
      <dl class="py function"><dt>frob.run(level=1)<a class="reference internal" href="_modules/frob.html#run">
        <span class="viewcode-link"><span class="pre">[source]</span></span></a></dt>
        <dd><p>Frobnicate at the given level.</p></dd></dl></main></body></html>"""
    d = documents.parse(html, "html", doc_id="api", source="api.html", content_hash="0")
    assert [p.text for p in d.paragraphs] == ["Makes a frobber with an empty cache.",
                                              "frob.run(level=1): Frobnicate at the given level."]
    assert d.paragraphs[0].heading_path == ["pub fn new() -> Frobber"]


def test_rst_names_invented_by_the_thousand_do_not_grow_the_registry_without_bound(monkeypatch):
    """docutils' registries live as long as the bot: past a cap, unknown names get docutils' reading
    (directives are registered first: an unknown one would lose its text, an unknown role only shows
    its markup)."""
    from retrieval.ingest.formats import rst

    monkeypatch.setattr(rst, "_MAX_REGISTERED", len(rst._registered) + 30)
    text = "".join(f".. invented{i}:: arg\n\n   body {i} :made{i}:`x`\n\n" for i in range(40))
    d = documents.parse(text, "rst", doc_id="many", source="many.rst", content_hash="0")
    assert len(rst._registered) == rst._MAX_REGISTERED
    assert len(d.paragraphs) == 30 and all(p.text.startswith("arg: body") for p in d.paragraphs)


def _dce(messages: list[dict]) -> str:
    import json

    return json.dumps({"guild": {"id": "111"}, "channel": {"id": "222", "name": "help"}, "messages": messages})


def _msg(mid: int, uid: str, username: str, nick: str, text: str, minute: int, reply_to: int | None = None) -> dict:
    m = {"id": str(mid), "type": "Reply" if reply_to else "Default", "timestamp": f"2024-05-01T10:{minute:02d}:00+00:00",
         "content": text, "author": {"id": uid, "name": username, "nickname": nick, "isBot": False}}
    if reply_to:
        m["reference"] = {"messageId": str(reply_to)}
    return m


def test_discord_borrowed_nickname_is_not_the_moderator():
    """Issue 27 A: a member who takes the moderator's nickname and posts right after them (or replies
    to them) is not quoted as the moderator: runs join one user id only, and two authors showing
    one name are told apart by their usernames."""
    from retrieval.ingest.formats.discord import read_discord

    mod = ("900", "realmod", "Mod")
    imp = ("901", "sneaky", "Mod")
    run = [_msg(1, *mod, "Backups run every night at two and are kept for thirty days.", 0),
           _msg(2, *imp, "Admins will never ask for your password, except me: send it in a DM please.", 3)]
    docs = [d for d in read_discord(_dce(run), doc_id="x", source="x.json")]
    assert [d.doc_id for d in docs] == ["x/1", "x/2"]  # two conversations, not one run
    assert docs[1].url.endswith("/2") and "Backups" not in docs[1].paragraphs[0].text
    reply = [run[0], {**run[1], "type": "Reply", "reference": {"messageId": "1"}}]
    (conv,) = list(read_discord(_dce(reply), doc_id="x", source="x.json"))
    text = conv.paragraphs[0].text
    assert text.startswith("Mod (@realmod): Backups") and "\nMod (@sneaky): Admins will never" in text
    assert conv.author == "Mod (@realmod)"
    same = [_msg(1, *mod, "Backups run every night at two and are kept for thirty days.", 0),
            _msg(2, "902", "realmod", "Mod", "Send me your password in a DM.", 1, reply_to=1)]
    (conv,) = list(read_discord(_dce(same), doc_id="x", source="x.json"))
    assert "Mod (900): Backups" in conv.paragraphs[0].text and "Mod (902): Send" in conv.paragraphs[0].text


def test_a_pdf_glyph_mapped_to_no_character_is_dropped_or_a_bullet():
    # pdfminer writes "(cid:136)" for TeX's \bullet in a Type 1 font, "(cid:112)" for a root sign
    from retrieval.ingest.formats.pdf import _mapped

    assert _mapped("(cid:136) All evaluation of expressions uses 64-bit integers.") == \
        "• All evaluation of expressions uses 64-bit integers."
    assert _mapped("σy = (cid:112)6/N") == "σy = 6/N"
    assert _mapped("no placeholder (cid) here") == "no placeholder (cid) here"


def test_a_sentence_in_a_headings_font_is_text_not_a_heading():
    from retrieval.ingest.formats.pdf import _sentence_shaped

    assert _sentence_shaped("The boxxyerror plot style is only relevant to 2D data plotting.")
    assert _sentence_shaped("Terminal-independent colors may be assigned using either")
    assert _sentence_shaped("The time/date formats are")
    for title in ("With", "For loops in plot command", "2.1 Getting started", "Chapter 15. Changes expected in the "
                  "next major release", "Why does my plot look wrong?", "Pride and Prejudice", "Introduction."):
        assert not _sentence_shaped(title), title
