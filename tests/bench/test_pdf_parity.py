"""bench/pdf_parity.py: which pages it prints, and a clear refusal without a browser."""

import json

from bench import pdf_parity


def test_answer_pages_are_the_html_files_questions_name(tmp_path):
    q = tmp_path / "questions.jsonl"
    q.write_text("\n".join(json.dumps(r) for r in [
        {"q": "a", "gold": ["x"], "file": "git-reset.html"},
        {"q": "b", "gold": ["y"], "file": "git-stash.pdf"},  # already a PDF: left as it is
        {"q": "c", "gold": []},  # off-topic: no page
        {"q": "d", "gold": ["z"], "file": "git-reset.html"},
        {"q": "e", "gold": ["w"], "file": "index.HTM"},
    ]) + "\n")
    assert pdf_parity.answer_pages(q) == ["git-reset.html", "index.HTM"]


def test_without_a_browser_it_says_so_in_one_line(tmp_path, capsys):
    assert pdf_parity.main(["--work", str(tmp_path), "--browser", "no-such-browser-here"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no browser" in err and not any(tmp_path.iterdir())
