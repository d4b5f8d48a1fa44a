"""Build progress for people: a tqdm bar with an ETA on a terminal, a log line every ~10 s elsewhere."""

import io

from retrieval.cli.progress import reporter


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_log_lines_every_interval_with_rate_and_eta():
    out, clock = io.StringIO(), Clock()
    progress = reporter("embedding", "passage", stream=out, tty=False, clock=clock)
    progress(0, 1000)
    for done in range(50, 1001, 50):  # 50 passages every 2 s: 25/s
        clock.t += 2.0
        progress(done, 1000)
    lines = out.getvalue().splitlines()
    # one line per 10 s (at 10, 20, 30 s), then the closing one at 40 s
    assert lines[0] == "citebot: embedding: 250/1,000 passages (25%), 25.0/s, about 30s left"
    assert len(lines) == 4 and lines[-1] == "citebot: embedding: 1,000/1,000 passages done in 40s (25.0/s)"


def test_short_runs_print_nothing():
    out, clock = io.StringIO(), Clock()
    progress = reporter("reading", "file", stream=out, tty=False, clock=clock)
    progress(0, 3)
    for i in (1, 2, 3):
        clock.t += 1.0
        progress(i, 3)
    assert out.getvalue() == ""


def test_terminal_bar_shows_the_eta():
    out = io.StringIO()
    progress = reporter("embedding", "passage", stream=out, tty=True)
    progress(0, 200)
    progress(100, 200)
    progress(200, 200)
    text = out.getvalue()
    assert "embedding" in text and "200/200" in text and "passage/s" in text and "<" in text  # elapsed<remaining
    empty = io.StringIO()
    reporter("embedding", "passage", stream=empty, tty=True)(0, 0)  # nothing to embed: no bar
    assert empty.getvalue() == ""
