"""Event-to-reply latency of the Discord bot, measured through the in-process fake Discord.

    .venv/bin/python -m bench.bot_latency            # 100 sequential questions + 50 concurrent askers
    .venv/bin/python -m bench.bot_latency --smoke    # a few questions, seconds
    .venv/bin/python -m bench.bot_latency --transcript   # also print one exchange to stderr

The real discord.py client runs against tests/bot/fakediscord.py on 127.0.0.1 with the real engine
over a copy of seeds/. Latency is from the moment the fake sends the MESSAGE_CREATE (a mention) on
the gateway to the moment the bot's reply (POST /channels/{id}/messages) arrives at the fake:
gateway parse, the Ask cog, typing, the engine (in a worker thread), rendering and the REST call.
``/ask`` is measured too: event → defer callback, and event → follow-up with the answer.

Prints one JSON line with the results. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "bot")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTIONS = [
    "When could US strikes inside Venezuela start?",
    "Who designated the cartel a terrorist organization?",
    "Is Trump considering direct talks with Maduro?",
    "How many boats has the US military struck?",
    "What did the Miami Herald report about military installations?",
    "What reward is offered for Maduro?",
    "Which drug cartel does the US say Maduro leads?",
    "Did the president approve the strikes?",
    "What is the recipe for banana bread?",
    "What did Axios report about a diplomatic solution?",
]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def summary(ms: list[float]) -> dict:
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 1),
        "p95_ms": round(pct(ms, 95), 1),
        "mean_ms": round(sum(ms) / len(ms), 1),
        "max_ms": round(max(ms), 1),
    }


async def run(args) -> dict:
    from fakediscord import FakeDiscord, Person, point_discord_at
    from harness import bot_config, open_engine, start_bot, stop_bot

    work = Path(tempfile.mkdtemp(prefix="citebot-bench-"))
    t = time.perf_counter()
    engine = await asyncio.to_thread(open_engine, work)
    open_s = time.perf_counter() - t
    engine_ms = []
    for q in QUESTIONS:  # direct engine timing, for reference (warm)
        t = time.perf_counter()
        engine.ask(q)
        engine_ms.append((time.perf_counter() - t) * 1000)

    fake = await FakeDiscord().start()
    out: dict = {"bench": "bot_latency", "smoke": args.smoke, "cpus": os.cpu_count(), "engine_open_s": round(open_s, 2)}
    with point_discord_at(fake):
        bot = await start_bot(bot_config(fake, work, cooldown_rate=100_000), engine)
        try:
            # warm-up: the first exchange pays for lazy imports and connection setup
            m = await fake.mention(QUESTIONS[0])
            await fake.wait_reply(m, timeout=60)

            n_seq = 5 if args.smoke else args.questions
            seq = []
            for i in range(n_seq):
                mark = fake.mark()
                t0 = time.perf_counter()
                m = await fake.mention(QUESTIONS[i % len(QUESTIONS)])
                r = await fake.wait_reply(m, after=mark)
                seq.append((r.t - t0) * 1000)
            out["sequential"] = summary(seq)

            n_conc = 5 if args.smoke else args.askers
            askers = [Person(fake.snowflake(), f"asker{i}") for i in range(n_conc)]
            mark = fake.mark()
            sent = []
            t_start = time.perf_counter()
            for i, who in enumerate(askers):  # dispatch back to back: all in flight at once
                sent.append((time.perf_counter(), await fake.mention(QUESTIONS[i % len(QUESTIONS)], author=who)))
            replies = await asyncio.gather(*(fake.wait_reply(m, after=mark, timeout=120) for _, m in sent))
            conc = [(r.t - t0) * 1000 for (t0, _), r in zip(sent, replies)]
            out["concurrent"] = {**summary(conc), "askers": n_conc,
                                 "wall_s": round(max(r.t for r in replies) - t_start, 2)}

            n_slash = 3 if args.smoke else 20
            defer, follow = [], []
            for i in range(n_slash):
                t0 = time.perf_counter()
                inter = await fake.slash("ask", {"question": QUESTIONS[i % len(QUESTIONS)]})
                cb = await fake.wait_interaction(inter, kind="callback")
                fu = await fake.wait_interaction(inter, kind="followup")
                defer.append((cb.t - t0) * 1000)
                follow.append((fu.t - t0) * 1000)
            out["slash_defer"] = summary(defer)
            out["slash_answer"] = summary(follow)
            out["engine_ask"] = summary(engine_ms)

            if args.transcript:
                q = QUESTIONS[1]
                m = await fake.mention(q)
                r = await fake.wait_reply(m)
                buttons = [c.get("label") or c.get("emoji", {}).get("name") for row in r.body().get("components", [])
                           for c in row["components"]]
                print(f"--- transcript ---\nuser: @citebot {q}\nbot:\n{r.text()}\nbuttons: {buttons}\n---", file=sys.stderr)
        finally:
            await stop_bot(bot)
            problems = {"unknown_routes": len(fake.unknown), "limit_violations": len(fake.violations),
                        "ping_risks": len(fake.ping_risks)}
            await fake.close()
    out["checks"] = problems
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="a few questions only")
    p.add_argument("--questions", type=int, default=100, help="sequential questions (default 100)")
    p.add_argument("--askers", type=int, default=50, help="concurrent askers (default 50)")
    p.add_argument("--transcript", action="store_true", help="print one exchange to stderr")
    args = p.parse_args(argv)
    args.questions = max(1, min(args.questions, 10_000))
    args.askers = max(1, min(args.askers, 500))
    result = asyncio.run(run(args))
    print(json.dumps(result))
    return 0 if not any(result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
