"""Fetch speed of Discord history (messages/s) through discord.py against the in-process fake.

    .venv/bin/python -m bench.history_fetch                      # 5,000 messages in #help + 20 threads
    .venv/bin/python -m bench.history_fetch --messages 20000 --rtt-ms 50
    .venv/bin/python -m bench.history_fetch --smoke              # 300 messages, a second

A plain ``discord.Client`` connects to tests/bot/fakehistory.py on 127.0.0.1 and
:class:`bot.history.HistoryFetcher` reads the channel into DiscordChatExporter JSON in a temporary
corpus, as ``/corpus channel add`` does: discord.py's own pagination (100 messages per request),
message parsing, conversion and the export writes. Measured: the full fetch, an incremental fetch
with nothing new (the re-check window only), and the export's size on disk per 10k messages.
Messages are one to three sentences of seeds/ text by five people, a third of them replies.
``--export-to DIR`` keeps the exports for an index-size measurement. ``--rtt-ms`` delays every fake response, to see what a real network round trip costs (the fake
answers in well under a millisecond; Discord does not).

Prints one JSON line. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "bot")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sentences() -> list[str]:
    """Filler text for messages: the sentences of seeds/ (any text would do; only sizes matter)."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt")))
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 20]


def conversation(fake, channel_id: int, count: int) -> None:
    """``count`` past messages: five people, one to three sentences each, a third of them replies
    to one of the last ten messages (deterministic)."""
    pool, rng = sentences(), random.Random(7)
    people = [fake.alice, fake.bob, fake.carol, fake.mo, fake.ada]
    recent: list[dict] = []
    for i in range(count):
        text = " ".join(rng.choice(pool) for _ in range(rng.randint(1, 3)))
        reply = rng.choice(recent) if recent and rng.random() < 0.33 else None
        recent = (recent + [fake.past_message(channel_id, text, author=rng.choice(people), reply_to=reply)])[-10:]


async def run(messages: int, threads: int, rtt_ms: float, recheck: int, export_to: Path | None = None) -> dict:
    import discord

    from bot.history import HistoryFetcher
    from bot.history_store import GuildArchive
    from fakediscord import point_discord_at
    from fakehistory import FakeHistory

    fake = await FakeHistory().start()
    per_thread = 20
    conversation(fake, fake.help_id, messages - threads * per_thread)
    for t in range(threads):
        fake.add_thread(fake.help_id, f"thread {t}", archived=t % 2 == 0,
                        messages=[(fake.bob if i % 2 else fake.alice, f"Thread {t} reply {i} about the build.")
                                  for i in range(per_thread)])
    try:
        with point_discord_at(fake), tempfile.TemporaryDirectory(prefix="citebot-history-") as tmp:
            intents = discord.Intents.default()
            intents.message_content = True
            client = discord.Client(intents=intents)
            await client.login(fake.token)
            runner = asyncio.create_task(client.connect(reconnect=False))
            await asyncio.wait_for(client.wait_until_ready(), 30)
            try:
                channel = client.get_channel(fake.help_id)
                archive = GuildArchive(Path(tmp), fake.guild_id)
                fetcher = HistoryFetcher(client.user.id, recheck=recheck)
                fake.response_delay = rtt_ms / 1000
                mark = fake.mark()
                t0 = time.perf_counter()
                full = await fetcher.fetch_source(archive, channel)
                full_s = time.perf_counter() - t0
                full_requests = len(fake.since(mark))
                mark = fake.mark()
                t0 = time.perf_counter()
                again = await fetcher.fetch_source(archive, channel)
                again_s = time.perf_counter() - t0
                again_requests = len(fake.since(mark))
                size = sum(p.stat().st_size for p in archive.folder.glob("*.json") if p.stem.isdigit())
                if export_to is not None:
                    shutil.copytree(archive.folder, Path(export_to) / "_discord" / str(fake.guild_id),
                                    dirs_exist_ok=True)
            finally:
                await client.close()
                runner.cancel()
    finally:
        await fake.close()
    assert full.added == messages, (full.added, messages)
    return {
        "messages": messages, "threads": threads, "rtt_ms": rtt_ms, "recheck": recheck,
        "full_fetch_s": round(full_s, 3), "messages_per_s": round(messages / full_s),
        "full_requests": full_requests,
        "incremental_s": round(again_s, 3), "incremental_requests": again_requests,
        "incremental_new": again.added, "export_bytes": size,
        "export_mb_per_10k_messages": round(size / messages * 10_000 / 1e6, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=20)
    ap.add_argument("--rtt-ms", type=float, default=0.0, help="delay added to every fake response")
    ap.add_argument("--recheck", type=int, default=50)
    ap.add_argument("--export-to", type=Path, help="also copy the exports into this corpus folder "
                    "(to index them: citebot index --corpus DIR --index-dir ...)")
    ap.add_argument("--smoke", action="store_true", help="300 messages, 2 threads")
    a = ap.parse_args()
    if a.smoke:
        a.messages, a.threads = 300, 2
    print(json.dumps(asyncio.run(run(a.messages, a.threads, a.rtt_ms, a.recheck, a.export_to))))


if __name__ == "__main__":
    main()
