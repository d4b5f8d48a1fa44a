"""PDF (or Word) against HTML on the same pages: gitdocs with its HTML answer pages converted, same questions.

    python -m bench.pdf_parity --work /tmp/citebot-pdf-parity [--via chromium office-docx office-pdf office-odt]

Copies ``../shared/eval/gitdocs/corpus`` into ``--work`` once per ``--via``, converts every HTML page that
answers a question of ``questions.jsonl`` in place of its HTML, indexes each corpus and runs the questions
on each: the ranking figures side by side tell whether a reader loses anything the HTML reader keeps.

* ``chromium``: printed to PDF by a headless Chromium (the browser that made the corpus's own PDFs,
  header and footer included; Debian: ``apt-get install chromium``);
* ``office-docx`` / ``office-odt``: opened by LibreOffice and saved as Word / OpenDocument, as a user
  would turn a web page into a document (Debian: ``apt-get install libreoffice-writer-nogui``);
* ``office-pdf``: that Word file exported to PDF by LibreOffice (a Word document's PDF, not a browser's).

Each converted corpus starts from a copy of the HTML corpus's index, so only the converted pages are
embedded. Nothing is written inside the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
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


def office_convert(office: str, files: list[Path], fmt: str, out: Path, limit: float = 300) -> list[Path]:
    """LibreOffice converts each of ``files`` to ``fmt`` (docx, odt, pdf) into ``out``; the files it could
    not convert within ``limit`` seconds (its HTML import is slow on the largest pages) are returned.
    A file converted (or given up on) into ``out`` before is not converted again."""
    target = {"docx": "docx:MS Word 2007 XML", "odt": "odt", "pdf": "pdf"}[fmt]
    out.mkdir(parents=True, exist_ok=True)
    # a profile of its own: a LibreOffice already running would otherwise take (and queue) the job
    profile = (out / ".profile").resolve().as_uri()
    failed = []
    for f in files:
        made, gave_up = out / f"{f.stem}.{fmt}", out / f"{f.stem}.{fmt}.failed"
        if not (made.exists() or gave_up.exists()):
            proc = subprocess.Popen([office, f"-env:UserInstallation={profile}", "--headless", "--convert-to",
                                     target, "--outdir", str(out), str(f)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # soffice runs soffice.bin below it: end the whole group
                proc.wait()
            if not made.exists():
                gave_up.touch()
        if not made.exists():
            failed.append(f)
    return failed


def convert(via: str, src: Path, pages: list[str], dst: Path, tools: dict) -> list[str]:
    """``dst``: a copy of the corpus ``src`` with each answer page in ``pages`` converted ``via``; returns
    the pages left as HTML because the converter failed on them. LibreOffice's files are kept in
    ``converted/`` beside ``dst``: office-pdf exports the .docx office-docx made."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    kept: list[str] = []
    if via == "chromium":
        for name in pages:
            print_to_pdf(tools["browser"], src / name, dst / (Path(name).stem + ".pdf"))
    else:
        conv = dst.parent / "converted"
        fmt = via.split("-", 1)[1]
        failed = office_convert(tools["office"], [src / n for n in pages], "odt" if fmt == "odt" else "docx", conv)
        if fmt == "pdf":  # a Word document exported to PDF
            made = [conv / (Path(n).stem + ".docx") for n in pages if src / n not in failed]
            failed += [src / (f.stem + ".html") for f in office_convert(tools["office"], made, "pdf", conv / "pdf")]
        kept = [n for n in pages if src / n in failed]
        for name in pages:
            if name not in kept:
                made = (conv / "pdf" if fmt == "pdf" else conv) / f"{Path(name).stem}.{fmt}"
                shutil.copy(made, dst / made.name)
    for name in pages:
        if name not in kept:
            (dst / name).unlink()
    return kept


def evaluate(corpus: Path, index_dir: Path, questions: Path, seed: Path | None = None) -> dict:
    """The ``citebot eval`` figures of ``questions`` on ``corpus``, its index built (or brought up to date)
    in ``index_dir``; ``seed``: an index to start from, so only what differs is embedded."""
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.cli.evaluate import evaluate as run_eval
    from retrieval.cli.evaluate import load_questions

    if seed is not None:
        shutil.rmtree(index_dir, ignore_errors=True)
        shutil.copytree(seed, index_dir)
    existing = (index_dir / "CURRENT").exists()
    eng = Engine.open(Settings(corpus=corpus, index_dir=index_dir))  # builds the index when there is none
    if existing:
        eng.reindex()  # brings a seed or an older index up to date (a no-op on one of this corpus)
    qs = load_questions(questions)
    k = max(5, eng.settings.k)  # as `citebot eval` asks them
    report = run_eval(qs, eng.ask_many([q["q"] for q in qs], k=k))
    return {"passages": eng.manifest["passages"], **{k: v for k, v in report.to_dict().items()
                                                     if k not in ("misses", "by_kind")}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/citebot-pdf-parity"))
    ap.add_argument("--via", nargs="+", default=["chromium"], choices=["chromium", "office-docx", "office-pdf", "office-odt"])
    ap.add_argument("--browser", default=shutil.which("chromium") or shutil.which("chromium-browser") or "chromium")
    ap.add_argument("--office", default=shutil.which("soffice") or shutil.which("libreoffice") or "soffice")
    args = ap.parse_args(argv)
    tools = {"browser": args.browser, "office": args.office}
    for via in args.via:
        need = "browser" if via == "chromium" else "office"
        if not shutil.which(tools[need]):
            hint = "apt-get install chromium" if via == "chromium" else "apt-get install libreoffice-writer-nogui"
            print(f"pdf_parity: no {need} {tools[need]!r} on PATH ({hint})", file=sys.stderr)
            return 2
    src, questions = GITDOCS / "corpus", GITDOCS / "questions.jsonl"
    if not src.is_dir():
        print(f"pdf_parity: {src} not found (set CITEBOT_SHARED)", file=sys.stderr)
        return 2
    pages = answer_pages(questions)
    shutil.rmtree(args.work / "converted", ignore_errors=True)  # LibreOffice's files of this run only
    rows = {"html": evaluate(src, args.work / "index-html", questions)}
    for via in args.via:
        corpus = args.work / ("corpus-pdf" if via == "chromium" else f"corpus-{via}")
        kept = convert(via, src, pages, corpus, tools)
        print(f"{len(pages) - len(kept)} of {len(pages)} answer pages converted ({via})"
              + (f"; left as HTML: {', '.join(kept)}" if kept else ""), flush=True)
        rows[via] = evaluate(corpus, args.work / f"index-{via}", questions, seed=args.work / "index-html")
        rows[via]["left_as_html"] = kept
    keys = ["passages", "R@1", "R@3", "R@5", "MRR", "quote_hit@1", "doc_R@1", "false_abstentions", "off_topic_abstained"]
    print("| answer pages as | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(str(r.get(k, "–")) for k in keys) + " |")
    (args.work / "pdf_parity.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
