"""Markdown → units with markdown-it-py: YAML front matter for the metadata, then the rendered
HTML read by the HTML walker (so Markdown and HTML follow the same structure rules).

Beyond CommonMark (tables, strikethrough) it reads what documentation sites write: definition lists,
footnotes, GitHub alerts, MkDocs admonitions and MyST (Sphinx) roles, targets and directives
(mdit-py-plugins). An admonition's title comes out as ``<p class="admonition-title">Note</p>`` (a
GitHub alert's as ``markdown-alert-title``), which the HTML walker puts before the first paragraph:
"Note: …"."""

from __future__ import annotations

import datetime as dt
import functools
import re

from retrieval.ingest.clean import normalize
from retrieval.ingest.dates import find_date
from retrieval.ingest.formats import DIRECTIVE_LEADS, VERSIONED, Extracted, one_line, role_text

_FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_PANDOC_TITLE = re.compile(r"\A(?:%[^\n]*(?:\n|\Z)){1,3}")  # pandoc's title block: title, author, date
# "> \[!TIP]": a GitHub alert as Markdown formatters (remark, in Node.js's docs) escape it; markdown-it
# only knows "> [!TIP]"
_ESCAPED_ALERT = re.compile(r"^([ \t]*>[ \t]*)\\(\[!(?:note|tip|important|warning|caution)\][ \t]*)$", re.M | re.I)


def read_markdown(text: str) -> Extracted:
    """The units and front-matter metadata of one Markdown file."""
    from selectolax.lexbor import LexborHTMLParser

    from retrieval.ingest.formats.html import body_units

    text = normalize(text)
    meta: dict = {}
    m = _FRONT.match(text)
    if m:
        meta = front_matter(m.group(1) or "")
        if meta is not None:
            text = text[m.end():]
        meta = meta or {}
    elif m := _PANDOC_TITLE.match(text):  # pandoc's "% Title" block: the metadata, not text
        lines = [line.lstrip("%").strip() for line in m.group().splitlines()]
        meta = dict(zip(("title", "author", "date"), lines))
        text = text[m.end():]
    html = _parser().render(_ESCAPED_ALERT.sub(r"\1\2", text))
    out = Extracted(units=body_units(LexborHTMLParser(f"<html><body>{html}</body></html>")))
    out.title = _scalar(meta.get("title"))
    out.author = _person(meta.get("author") or meta.get("authors"))
    raw_date = meta.get("date") or meta.get("published") or meta.get("created")
    if isinstance(raw_date, (dt.date, dt.datetime)):
        out.date = raw_date.strftime("%Y-%m-%d")
    elif raw_date is not None:
        out.date = find_date(str(raw_date))
    out.url = _scalar(meta.get("url") or meta.get("permalink") or meta.get("canonical_url"))
    return out


# MyST directives (```{name} or :::{name}) whose body stays code: an unknown ```{name} stays code too,
# as R Markdown chunks (```{r}) are code; a colon fence always holds Markdown
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode", "code-cell", "literalinclude", "math", "raw", "eval-rst",
                    "mermaid", "graphviz", "csv-table"}
_NAV_DIRECTIVES = {"toctree", "contents", "tableofcontents"}  # links to other pages only, as <nav> in HTML
_ADMONITIONS = {"admonition", "attention", "caution", "danger", "error", "hint", "important", "info", "note",
                "tip", "warning", "todo", "seealso", "dropdown", "versionadded", "versionchanged",
                "versionremoved", "deprecated"}
# directives whose argument is a title (a note's argument is the first line of its body)
_TITLED = {"admonition", "dropdown", "topic", "sidebar", "tab-item", "card", "grid-item-card", "list-table"}
_PROSE_DIRECTIVES = _ADMONITIONS | _TITLED | {"figure", "glossary", "margin", "epigraph", "container", "div",
                                              "tab-set", "grid", "grid-item"}
_DIRECTIVE = re.compile(r"\s*(\{)?\.?([\w:+-]+)(?(1)\})\s*(.*)", re.DOTALL)
# a directive's options before its body: ":class: tip" lines or a YAML block
_OPTIONS = re.compile(r"\A(?:---\n.*?\n---[ \t]*\n|(?:[ \t]*:[\w-]+:[^\n]*\n)+)", re.DOTALL)


@functools.cache
def _parser():
    """The markdown-it parser: CommonMark, tables, strikethrough, and the documentation-site syntax."""
    from markdown_it import MarkdownIt
    from markdown_it.common.utils import escapeHtml
    from mdit_py_plugins.admon import admon_plugin
    from mdit_py_plugins.anchors import anchors_plugin
    from mdit_py_plugins.colon_fence import colon_fence_plugin
    from mdit_py_plugins.deflist import deflist_plugin
    from mdit_py_plugins.footnote import footnote_plugin
    from mdit_py_plugins.myst_blocks import myst_block_plugin
    from mdit_py_plugins.myst_role import myst_role_plugin

    md = (MarkdownIt("commonmark", {"alerts": True}).enable("table").enable("strikethrough")
          .use(deflist_plugin).use(footnote_plugin).use(admon_plugin)
          .use(myst_role_plugin).use(myst_block_plugin).use(colon_fence_plugin)
          .use(anchors_plugin, max_level=6))  # heading ids as the forges slug them: citations link to the section
    # MyST's "% comment" lines are text everywhere else ("%d is an integer"): a comment shown beats a
    # sentence lost; "+++" breaks likewise
    md.block.ruler.disable(["myst_line_comment", "myst_block_break"])
    md.core.ruler.after("block", "citebot_directives", _directives)
    md.add_render_rule("myst_role", lambda self, tokens, i, options, env: escapeHtml(
        role_text(tokens[i].content, tokens[i].meta.get("name", ""))))
    md.add_render_rule("myst_target", lambda *_: "")  # "(label)=": an anchor, no text
    md.add_render_rule("footnote_anchor", lambda *_: "")  # the "↩︎" back to the reference
    # "[1]" for every reference to footnote 1 (not "[1:2]" for the second): the number its text has
    md.add_render_rule("footnote_caption", lambda self, tokens, i, options, env: f"[{tokens[i].meta['id'] + 1}]")
    return md


def _directives(state) -> None:
    """Core rule between block and inline parsing: MyST directives and colon fences around prose
    become admonition markup (as MkDocs' ``!!!``) with the prose parsed as Markdown."""
    state.tokens = _expand(state.md, state.tokens, state.env)


_MAX_NESTING = 20  # directives inside directives: deeper ones stay as written (each level re-parses its body)


def _expand(md, tokens: list, env, depth: int = 0) -> list:
    from markdown_it.token import Token

    out = []
    for tok in tokens:
        directive = _directive(tok) if depth < _MAX_NESTING else None
        if directive is None:
            out.append(tok)
            continue
        name, arg, braced = directive
        if name in _NAV_DIRECTIVES:
            continue
        body = _OPTIONS.sub("", tok.content, count=1)
        title = None
        if name in VERSIONED:
            title = f"{DIRECTIVE_LEADS[name]} {arg}".strip()
        elif arg and (name in _TITLED or not braced):  # Docusaurus/VuePress ":::tip Title"
            title = arg
        elif name in _ADMONITIONS:
            title = DIRECTIVE_LEADS.get(name, name.capitalize())
            body = f"{arg}\n{body}" if arg else body  # "```{note} text": text opens the body
        inner: list = []
        md.block.parse(body, md, env, inner)
        inner = _expand(md, inner, env, depth + 1)
        if title is None:
            out += inner
            continue
        out += [Token("admonition_open", "div", 1, attrs={"class": f"admonition {name}"}, block=True),
                Token("admonition_title_open", "p", 1, attrs={"class": "admonition-title"}, block=True),
                Token("inline", "", 0, content=title, children=[]),
                Token("admonition_title_close", "p", -1, block=True),
                *inner, Token("admonition_close", "div", -1, block=True)]
    return out


def _directive(tok) -> tuple[str, str, bool] | None:
    """(name, argument, braced) of a block whose body is prose: a MyST directive that holds Markdown
    (```{note}), or any colon fence but a code one; None for everything else."""
    if tok.type not in ("fence", "colon_fence"):
        return None
    m = _DIRECTIVE.fullmatch(tok.info)
    name, arg, braced = (m.group(2).lower(), m.group(3).strip(), bool(m.group(1))) if m else ("", "", False)
    if name in _CODE_DIRECTIVES or (tok.type == "fence" and not (
            braced and (name in _PROSE_DIRECTIVES or name in _NAV_DIRECTIVES))):
        return None
    if arg.startswith("[") and arg.endswith("]"):  # Docusaurus ":::tip[Title]"
        arg = arg[1:-1]
    return name, arg, braced


def front_matter(block: str) -> dict | None:
    """The YAML mapping of a front-matter block, or None when it is not one (a ``---`` rule, say)."""
    import yaml

    try:
        data = yaml.safe_load(block) if block.strip() else {}
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _scalar(value) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return one_line(str(value)) or None


def _person(value) -> str | None:
    """``author: Ann``, ``author: {name: Ann}`` or a list of either."""
    if isinstance(value, dict):
        return _scalar(value.get("name"))
    if isinstance(value, list):
        names = [n for n in (_person(v) for v in value) if n]
        return ", ".join(names) or None
    return _scalar(value)
