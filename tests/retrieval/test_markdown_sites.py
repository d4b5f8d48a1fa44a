"""Markdown as documentation sites write it (tests/fixtures/structured/site.md): definition lists,
MkDocs admonitions, GitHub alerts, MyST roles, targets and directives, footnotes. No markup of theirs
reaches a passage and none of their text is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.ingest.documents import parse
from retrieval.types import Document, Paragraph

SITE = Path(__file__).resolve().parents[1] / "fixtures" / "structured" / "site.md"


def read(text: str) -> Document:
    return parse(text, "markdown", doc_id="d", source="d.md", content_hash="h")


@pytest.fixture(scope="module")
def site() -> Document:
    return read(SITE.read_text(encoding="utf-8"))


def para_with(doc: Document, needle: str) -> Paragraph:
    found = [p for p in doc.paragraphs if needle in p.text]
    assert len(found) == 1, f"{needle!r} in {len(found)} paragraphs: {[p.text for p in doc.paragraphs]}"
    return found[0]


def test_markdown_definition_list_term_and_definition_are_one_paragraph(site):
    p = para_with(site, "An archive of the project's source files")
    assert p.text == ("Source distribution: An archive of the project's source files with the metadata needed "
                      "to build it on the installing machine.")
    assert p.heading_path == ["Terms", "Source distribution"]
    assert para_with(site, "copying files").text.startswith("Wheel: A built archive")


def test_markdown_admonition_title_leads_its_body(site):
    assert para_with(site, "The index refuses").text == (
        "Check the version number: The index refuses a file whose version was already uploaded, even after you "
        "delete it.")
    # "??? tip" (collapsible, no title): its type is the title
    assert para_with(site, "test index first").text == (
        "Tip: Upload to the test index first with --repository testpypi.")
    texts = [p.text for p in site.paragraphs]
    assert not {"Tip", "Check the version number", "Note", "Important"} & set(texts)
    assert not any(t.startswith(("!!!", "???")) for t in texts)


def test_markdown_github_alert_reads_as_note(site):
    assert para_with(site, "API token").text == (
        "Note: Uploads need an API token; the index no longer accepts account passwords.")
    assert "[!NOTE]" not in "\n".join(p.text for p in site.paragraphs)


def test_markdown_myst_roles_read_as_their_display_text(site):
    p = para_with(site, "This page shows")
    assert p.text == ("This page shows how to build a source distribution and send it to the index with publish. "
                      "Version numbers follow PEP 440; for every flag of the command see upload-options.")
    for residue in ("{term}", "{py:func}", "{pep}", "{ref}", "`", "<Source", "sdist", "~wheelhouse"):
        assert residue not in p.text


def test_markdown_myst_targets_are_dropped(site):
    text = "\n".join(p.text for p in site.paragraphs)
    assert ")=" not in text and "(publishing)" not in text
    assert para_with(site, "retried three times").heading_path == ["Upload options"]


def test_markdown_myst_directive_bodies_are_text_and_code_blocks_stay_code(site):
    assert para_with(site, "Tokens scoped").text == (
        "Note: Tokens scoped to one project are safer than account-wide tokens.")
    # the directive's option line is no text of its own
    assert para_with(site, "out of version control").text == (
        "Important: Keep the token out of version control: read it from the WHEELHOUSE_TOKEN variable.")
    # ```{code-block} is code: its lines kept, no title put before it
    assert para_with(site, "wheelhouse upload").text == (
        "wheelhouse build\nwheelhouse upload --repository testpypi dist/*")
    text = "\n".join(p.text for p in site.paragraphs)
    assert not any(r in text for r in ("```", ":::", "{note}", "{important}", ":class:"))


def test_markdown_footnote_joins_the_paragraph_it_annotates(site):
    # the note is quoted with what it annotates, not as a numbered item at the page's end
    assert para_with(site, "retried three times").text == (
        "A failed upload is retried three times[1] before the command gives up.\n"
        "[1] Each retry waits twice as long as the one before, starting at two seconds.")
    text = "\n".join(p.text for p in site.paragraphs)
    assert "[^" not in text and "↩" not in text


def test_markdown_other_directives_colon_fences_and_escaped_alerts():
    d = read("# Guide\n\nIntro text here.\n\n```{toctree}\n:maxdepth: 2\n\ninstall\nusage\n```\n\n"
             "```{r}\nsummary(cars)\n```\n\n"  # R Markdown: a braced name of no MyST directive is code
             "```{versionadded} 2.1\nThe --dry-run flag.\n```\n\n"
             ":::tip[Faster builds]\nCache the downloads between runs.\n:::\n\n"  # Docusaurus
             "> \\[!WARNING]\n> Never share the token.\n")  # as remark escapes it (Node.js's docs)
    assert [p.text for p in d.paragraphs] == [
        "Intro text here.", "summary(cars)", "Added in version 2.1: The --dry-run flag.",
        "Faster builds: Cache the downloads between runs.", "Warning: Never share the token."]


def test_markdown_pandoc_title_block_is_the_title():
    # MyST reads "%" lines as comments: pandoc's title block must not vanish, nor the first section become the title
    d = read("% Rust Release Notes\n\nVersion 1.95 (2026-04-16)\n==========================\n\nLanguage changes.\n")
    assert d.title == "Rust Release Notes"
    assert [(p.text, p.heading_path) for p in d.paragraphs] == [("Language changes.", ["Version 1.95 (2026-04-16)"])]


@pytest.mark.parametrize("content, name, shown", [
    ('source distribution <Source Distribution (or "sdist")>', "term", "source distribution"),
    ("label", "ref", "label"),
    ("~pkg.mod.func", "py:func", "func"),
    ("!pkg.Unlinked", "py:class", "pkg.Unlinked"),
    ("8", "pep", "PEP 8"),
])
def test_markdown_role_text(content, name, shown):
    from retrieval.ingest.formats import role_text

    assert role_text(content, name) == shown


def test_markdown_directives_nested_past_any_sense_are_read_not_recursed():
    """A hostile file nesting 1,500 colon fences used to exhaust the stack; now the text is kept."""
    n = 1500
    text = "".join(":" * (n + 3 - i) + "{note}\n" for i in range(n)) + "the innermost words\n" + \
        "".join(":" * (3 + i) + "\n" for i in range(n))
    d = parse(text, "markdown", doc_id="deep", source="deep.md", content_hash="0")
    assert any("the innermost words" in p.text for p in d.paragraphs)


def test_markdown_lines_starting_with_percent_are_text():
    """MyST reads a "%" line as a comment; everywhere else it is text ("%d is an integer")."""
    md = "The format string:\n%d is an integer, %s a string.\n\n%s alone is replaced by the name.\n"
    d = parse(md, "markdown", doc_id="fmt", source="fmt.md", content_hash="0")
    assert [p.text for p in d.paragraphs] == ["The format string: %d is an integer, %s a string.",
                                              "%s alone is replaced by the name."]
