"""PDF against HTML on the same pages: gitdocs with its HTML answer pages printed to PDF, same questions.

    python -m bench.pdf_parity --work /tmp/citebot-pdf-parity [--browser chromium]

Copies ``../shared/eval/gitdocs/corpus`` into ``--work``, prints every HTML page that answers a question
of ``questions.jsonl`` to PDF with a headless Chromium (the browser that made the corpus's own PDFs,
header and footer included) in place of its HTML, indexes both corpora and runs the questions on each:
the ranking figures side by side tell whether the PDF reader loses anything the HTML reader keeps.
Needs a Chromium on PATH (Debian: ``apt-get install chromium``); nothing is written inside the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.common import SHARED  # noqa: E402

GITDOCS = SHARED / "eval" / "gitdocs"


def answer_pages(questions: Path) -> list[str]:
    """The HTML files named as the answering page of some question."""
    files = set()
    for line in questions.read_text("utf-8").splitlines():
        if line.strip():
            f = (json.loads(line).get("file") or "").strip()
            if f.lower().endswith((".html", ".htm")):
                files.add(f)
    return sorted(files)


def print_to_pdf(browser: str, html: Path, pdf: Path) -> None:
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--print-to-pdf={pdf}",
                    html.resolve().as_uri()], check=True, capture_output=True, timeout=120)


def evaluate(corpus: Path, index_dir: Path, questions: Path) -> dict:
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.evaluate import evaluate as run_eval
    from retrieval.evaluate import load_questions

    eng = Engine.open(Settings(corpus=corpus, index_dir=index_dir))
    qs = load_questions(questions)
    k = max(5, eng.settings.k)  # as `citebot eval` asks them
    report = run_eval(qs, eng.ask_many([q["q"] for q in qs], k=k))
    return {"passages": eng.manifest["passages"], **{k: v for k, v in report.to_dict().items()
                                                     if k not in ("misses", "by_kind")}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/citebot-pdf-parity"))
    ap.add_argument("--browser", default=shutil.which("chromium") or shutil.which("chromium-browser") or "chromium")
    args = ap.parse_args(argv)
    if not shutil.which(args.browser):
        print(f"pdf_parity: no browser {args.browser!r} on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    src, questions = GITDOCS / "corpus", GITDOCS / "questions.jsonl"
    if not src.is_dir():
        print(f"pdf_parity: {src} not found (set CITEBOT_SHARED)", file=sys.stderr)
        return 2
    pdf_corpus = args.work / "corpus-pdf"
    shutil.rmtree(pdf_corpus, ignore_errors=True)
    shutil.copytree(src, pdf_corpus)
    pages = answer_pages(questions)
    for name in pages:
        print_to_pdf(args.browser, src / name, pdf_corpus / (Path(name).stem + ".pdf"))
        (pdf_corpus / name).unlink()
    print(f"{len(pages)} answer pages printed to PDF", flush=True)
    rows = {"html": evaluate(src, args.work / "index-html", questions),
            "pdf": evaluate(pdf_corpus, args.work / "index-pdf", questions)}
    keys = ["passages", "R@1", "R@3", "R@5", "MRR", "quote_hit@1", "doc_R@1", "false_abstentions", "off_topic_abstained"]
    print("| answer pages as | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(str(r.get(k, "–")) for k in keys) + " |")
    (args.work / "pdf_parity.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
