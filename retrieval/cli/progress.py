"""Progress of long builds for people: a bar with an ETA on a terminal, a log line every ~10 s
elsewhere (a service log, CI, ``nohup``), where a redrawn bar would be thousands of lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def reporter(desc: str, unit: str, *, stream: TextIO | None = None, interval: float = 10.0,
             tty: bool | None = None, clock: Callable[[], float] = time.monotonic) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that shows itself on ``stream`` (default: stderr).

    Args:
        desc: what is counted, e.g. ``embedding``.
        unit: the unit, singular (``passage``).
        stream: where to write.
        interval: seconds between log lines when ``stream`` is not a terminal.
        tty: force bar (True) or log lines (False); default: whether ``stream`` is a terminal.
        clock: time source (tests).
    """
    stream = stream if stream is not None else sys.stderr
    if tty is None:
        tty = bool(getattr(stream, "isatty", lambda: False)())
    return _Bar(desc, unit, stream) if tty else _Lines(desc, unit, stream, interval, clock)


class _Bar:
    def __init__(self, desc: str, unit: str, stream: TextIO):
        self.desc, self.unit, self.stream = desc, unit, stream
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            if total == 0:
                return
            # tqdm's rate and ETA come from update() steps, smoothed
            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=self.stream, dynamic_ncols=True)
        self.bar.total = total
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()


class _Lines:
    def __init__(self, desc: str, unit: str, stream: TextIO, interval: float, clock: Callable[[], float]):
        self.desc, self.unit, self.stream, self.interval, self.clock = desc, unit, stream, interval, clock
        self.start: float | None = None
        self.last = 0.0
        self.printed = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.start is None:
            self.start = self.last = now
            self.first = done
            return
        elapsed = now - self.start
        if done >= total:
            if self.printed:  # short runs stay quiet; a long one says it finished
                rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
                self._write(f"{self.desc}: {done:,}/{total:,} {self.unit}s done in {_duration(elapsed)}"
                            f" ({rate:,.1f}/s)")
            return
        if now - self.last < self.interval:
            return
        self.last = now
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        eta = f", about {_duration((total - done) / rate)} left" if rate > 0 else ""
        pct = 100.0 * done / total if total else 100.0
        self._write(f"{self.desc}: {done:,}/{total:,} {self.unit}s ({pct:.0f}%), {rate:,.1f}/s{eta}")

    def _write(self, line: str) -> None:
        self.printed = True
        print(f"citebot: {line}", file=self.stream, flush=True)
