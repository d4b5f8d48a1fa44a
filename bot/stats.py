"""The /stats embed: index size and age, questions answered, latency percentiles, feedback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import discord

from .render import EMBED_COLOUR, FOOTER, Reply, escape, truncate


def render_stats(stats: dict, *, answered: int, latencies: Sequence[float], feedback: dict | None = None,
                 kb: str | None = None) -> Reply:
    """The /stats embed of knowledge base ``kb``: index size and age, questions answered, latency percentiles."""
    embed = discord.Embed(colour=EMBED_COLOUR, title=f"citebot stats · {kb}" if kb else "citebot stats")
    embed.add_field(name="Documents", value=str(stats.get("documents", "?")))
    embed.add_field(name="Passages", value=str(stats.get("passages", "?")))
    embed.add_field(name="Index age", value=_age(stats.get("built_at")))
    embed.add_field(name="Questions answered", value=str(answered))
    if latencies:
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        embed.add_field(name="Latency", value=f"p50 {p50 * 1000:.0f} ms · p95 {p95 * 1000:.0f} ms (n={len(latencies)})")
    else:
        embed.add_field(name="Latency", value="no questions yet")
    if feedback:
        embed.add_field(name="Feedback", value=f"👍 {feedback.get('up', 0)} · 👎 {feedback.get('down', 0)}")
    embed.set_footer(text=truncate(f"index {stats.get('version', '?')} · model {stats.get('model', '?')}", FOOTER))
    return Reply(content=None, embeds=[embed])


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no numpy needed)."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(pct / 100 * len(s) + 0.5)) - 1))
    return s[k]


def _age(built_at: str | None) -> str:
    if not built_at:
        return "?"
    try:
        t = datetime.fromisoformat(str(built_at).replace("Z", "+00:00"))
    except ValueError:
        return escape(str(built_at))
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    secs = max(0, int((datetime.now(timezone.utc) - t).total_seconds()))
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= n:
            return f"{secs // n} {unit} (built {t:%Y-%m-%d %H:%M} UTC)"
    return f"{secs} s (built {t:%Y-%m-%d %H:%M} UTC)"
