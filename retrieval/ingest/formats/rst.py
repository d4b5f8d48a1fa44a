"""reStructuredText → units: docutils renders HTML, which the HTML walker reads (same rules as
HTML and Markdown); the docinfo fields give author and date.

Most .rst documentation is written for Sphinx, whose roles (``:func:`x```, ``:ref:`text <label>```)
and directives (``.. function::``, ``.. versionadded::``, ``.. glossary::``) plain docutils does not
know: it would leave the roles as raw markup and drop each such directive with all its text. Every
role and directive a file uses that docutils lacks is registered here before the file is read (roles
read as their display text; directives keep their text, see :class:`_Directive`).
"""

from __future__ import annotations

import functools
import re

from retrieval.ingest.dates import find_date
from retrieval.ingest.formats import DIRECTIVE_LEADS, VERSIONED, Extracted, one_line, role_text

# docutils' own name pattern for roles and directives ("py:func", "code-block", "cmake:command")
_NAME = r"(?:(?!_)\w)+(?:[-._+:](?:(?!_)\w)+)*"
_ROLE_USE = re.compile(rf"(?<![\w`\\]):({_NAME}):`")
_DIRECTIVE_USE = re.compile(rf"(?m)^[ \t]*\.\.[ \t]+({_NAME})[ \t]*::")
# directives that hold no reader-facing text, or text pulled from elsewhere (toctrees, index entries,
# autodoc reading Python code, an included file): dropped as docutils drops them
_SILENT = {"toctree", "index", "highlight", "literalinclude", "autosummary", "currentmodule", "module",
           "sectionauthor", "codeauthor", "moduleauthor", "tabularcolumns", "todolist", "default-domain",
           "program", "namespace", "namespace-push", "namespace-pop", "graphviz", "digraph", "graph",
           "inheritance-diagram", "kernel-doc", "plot"}  # and autodoc's auto* (automodule, autoclass, …)
# directives whose first line is the start of their text, not a signature; value: what they read as
_LEADS = {**DIRECTIVE_LEADS, "todo": "To do"}
_CODE = {"doctest", "testcode", "testoutput", "testsetup", "ipython", "jupyter-execute", "prompt",
         "productionlist", "code-cell"}  # code-block and sourcecode are docutils' own


def read_rst(text: str) -> Extracted:
    """The units and docinfo of one .rst file (directives that read files or run raw HTML are off)."""
    from docutils.core import publish_parts
    from selectolax.lexbor import LexborHTMLParser

    from retrieval.ingest.formats.html import body_units

    _register_unknown(text)
    parts = publish_parts(text, writer="html5", settings_overrides={
        "report_level": 5, "halt_level": 5, "file_insertion_enabled": False, "raw_enabled": False,
        "input_encoding": "unicode", "syntax_highlight": "none", "doctitle_xform": True,
    })
    out = Extracted(units=body_units(LexborHTMLParser(f"<html><body>{parts['body']}</body></html>")))
    out.title = one_line(LexborHTMLParser(parts["title"] or "<p></p>").text()) or None
    info = LexborHTMLParser(parts.get("docinfo") or "<p></p>")
    for dd in info.css("dd"):
        cls = (dd.attributes.get("class") or "").split()
        value = one_line(dd.text(separator=" "))
        if "author" in cls or "authors" in cls:
            out.author = out.author or value or None
        elif "date" in cls:
            out.date = out.date or find_date(value)
    return out


# the registries live as long as the process (a bot reindexes for weeks): a corpus inventing names by
# the thousand gets docutils' own reading (roles as written, directives dropped) past this many
_MAX_REGISTERED = 5000
_registered: set[str] = set()


def _register_unknown(text: str) -> None:
    """Register a reading for each role and directive ``text`` uses that docutils does not know.

    docutils' registries are process-wide; a name is registered once and only when docutils has no
    meaning of its own for it, so its standard roles and directives are never replaced.
    """
    from docutils.parsers.rst import directives, roles

    for name in set(_DIRECTIVE_USE.findall(text)):  # directives first: an unknown one loses its text
        if len(_registered) < _MAX_REGISTERED and not _known_directive(name):
            directives.register_directive(name, _directive_for(name))
            _registered.add(name)
    for name in set(_ROLE_USE.findall(text)):
        if len(_registered) < _MAX_REGISTERED and not _known_role(name):
            roles.register_local_role(name, _role)
            _registered.add(name)


@functools.cache
def _probe():
    """The language module and a throw-away document that docutils' role and directive look-ups need."""
    from docutils import frontend, utils
    from docutils.languages import en
    from docutils.parsers.rst import Parser

    settings = frontend.get_default_settings(Parser)
    settings.report_level = settings.halt_level = 5
    return en, utils.new_document("<probe>", settings)


def _known_role(name: str) -> bool:
    from docutils.parsers.rst import roles

    en, doc = _probe()
    return roles.role(name, en, 0, doc.reporter)[0] is not None


def _known_directive(name: str) -> bool:
    from docutils.parsers.rst import directives

    en, doc = _probe()
    return directives.directive(name, en, doc)[0] is not None


def _role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """A Sphinx (or extension) role read as its display text."""
    from docutils import nodes
    from docutils.utils import unescape

    return [nodes.literal(rawtext, role_text(unescape(text), name.rsplit(":", 1)[-1]))], []


class _AnyOption(dict):
    """Accepts every directive option (``:noindex:``, ``:type: int``): options carry no text to quote."""

    def __bool__(self) -> bool:  # docutils looks for options only when the spec is non-empty
        return True

    def __missing__(self, key):
        from docutils.parsers.rst import directives

        return directives.unchanged


def _directive_for(name: str):
    """The docutils directive class reading an unknown directive ``name`` (``py:function`` → function)."""
    from docutils import nodes
    from docutils.parsers.rst import Directive

    base = name.rsplit(":", 1)[-1].lower()

    class _Directive(Directive):
        """A Sphinx directive's text kept:

        * object descriptions (``function:: frob(level=1)`` with a body) read as a definition list,
          the signature the term, so the HTML walker keeps it with its description;
        * version notes and "see also" lead their text ("Added in version 2.1: …");
        * code-like blocks (doctest, testcode, …) are literal blocks;
        * other containers (glossary, only, tabs, …) are their body parsed as reST;
        * directives of no reader-facing text (toctree, index, autodoc, …) are dropped.
        """

        has_content = True
        optional_arguments = 1
        final_argument_whitespace = True
        option_spec = _AnyOption()

        def run(self):
            arg = " ".join(self.arguments[0].split()) if self.arguments else ""
            if base in _SILENT or base.startswith("auto"):
                return []
            if base in _CODE:
                body = "\n".join(self.content)
                return [nodes.literal_block(body, body)] if body.strip() else []
            body = nodes.container()
            self.state.nested_parse(self.content, self.content_offset, body)
            if base in _LEADS:
                lead, rest = _LEADS[base], arg
                if base in VERSIONED:  # "2.1 The level argument." = the version, then the start of the text
                    version, _, rest = arg.partition(" ")
                    lead = f"{lead} {version}"
                return _lead(lead, self.state.inline_text(rest, self.lineno)[0] if rest else [], body)
            if arg and len(body):
                item = nodes.definition_list_item("", nodes.term(arg, arg), nodes.definition("", *body.children))
                return [nodes.definition_list("", item)]
            return list(body.children)  # an argument without a body is a setting (``program:: git``)

    _Directive.__name__ = f"_Directive_{base}"
    return _Directive


def _lead(lead: str, rest: list, body) -> list:
    """``lead: text`` as one paragraph (``rest``, the inline nodes of the directive's own lines, or else
    its body's first paragraph)."""
    from docutils import nodes

    children = list(body.children)
    if rest:
        return [nodes.paragraph("", "", nodes.Text(f"{lead}: "), *rest)] + children
    if children and isinstance(children[0], nodes.paragraph):
        children[0].insert(0, nodes.Text(f"{lead}: "))
        return children
    return [nodes.paragraph("", f"{lead}.")] + children
