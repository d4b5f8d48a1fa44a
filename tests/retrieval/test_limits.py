"""Untrusted files read within limits (issue 27 E): a decompression bomb, a file of too many
paragraphs, a parse that eats memory or time is skipped with its reason; the rest is read."""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from retrieval.ingest import documents, limits
from retrieval.ingest.formats import Unreadable
from retrieval.types import Skipped


def _docx(paragraphs: list[str], extra: dict[str, bytes] | None = None) -> bytes:
    from docx import Document

    d = Document()
    for p in paragraphs:
        d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    if not extra:
        return buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        for name, data in extra.items():
            dst.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def small_limits(monkeypatch):
    lim = limits.Limits(unzipped_mb=50, pages=100, paragraphs=1_000, seconds=20, memory_mb=1_024)
    monkeypatch.setattr(limits, "DEFAULT", lim)
    return lim


def test_a_decompression_bomb_is_skipped_and_the_rest_is_read(tmp_path, small_limits):
    bomb = _docx(["Quarterly plan."], {"word/media/blob.bin": b"\0" * 120_000_000})
    assert len(bomb) < 1_000_000  # under any upload limit: only its unzipped size gives it away
    (tmp_path / "bomb.docx").write_bytes(bomb)
    (tmp_path / "fine.txt").write_text("The relay restarts every night at two o'clock.\n")
    got = {getattr(x, "doc_id", None) or x.path: x for x in documents.load(tmp_path)}
    assert isinstance(got["bomb.docx"], Skipped) and "expands to 121 MB when unzipped (limit 50 MB)" in got["bomb.docx"].reason
    assert got["fine"].paragraphs[0].text.startswith("The relay restarts")


def test_too_many_paragraphs_are_refused_before_parsing(tmp_path, small_limits):
    (tmp_path / "tiny.docx").write_bytes(_docx(["x"] * 3_000))
    (x,) = list(documents.load(tmp_path))
    assert isinstance(x, Skipped) and "3,000 paragraphs (limit 1,000)" in x.reason


def _greedy(content, kind, **kw):
    blocks = [bytearray(64 * 1024 * 1024) for _ in range(64)]  # 4 GiB
    return blocks


def _slow(content, kind, **kw):
    time.sleep(30)


def _plain(content, kind, **kw):
    return documents.parse(content, kind, **kw)


def test_a_parse_past_the_memory_or_time_limit_is_stopped_and_the_worker_replaced():
    lim = limits.Limits(memory_mb=600, seconds=3)
    with pytest.raises(Unreadable, match="needs more than 600 MB"):
        limits.parse_limited(_greedy, b"", "docx", limits=lim)
    t = time.perf_counter()
    with pytest.raises(Unreadable, match="took longer than 3 s"):
        limits.parse_limited(_slow, b"", "docx", limits=lim)
    assert time.perf_counter() - t < 15
    doc = limits.parse_limited(_plain, "Fine text here.\n", "text", limits=lim, doc_id="d", source="d.txt",
                               content_hash="h")
    assert doc.paragraphs[0].text == "Fine text here."


def test_the_worker_ends_with_its_parent(tmp_path):
    """A ``citebot index`` killed mid-build leaves no parse worker behind."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "parent.py"
    script.write_text(
        "import os\n"
        "if __name__ == '__main__':\n"
        "    from retrieval.ingest import documents, limits\n"
        "    limits.parse_limited(documents.parse, 'Text here.\\n', 'text', doc_id='d', source='d', content_hash='h')\n"
        "    print(next(iter(limits._worker.pool._processes)), flush=True)\n"
        "    os.kill(os.getpid(), 9)\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(root)})
    worker = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"worker {worker} outlived its parent")
