"""The floor: the bare ``openai`` SDK doing the benchmark's requests and checks, nothing else.

AsyncOpenAI + asyncio.Semaphore, the same conversations as the generated suite
(benchmarks/workload.py), the same two checks per turn (the reply contains the
token; the reply parses as JSON). No files, no results kept beyond two counters:
the least any harness built on the SDK could do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from workload import MODEL, PARAMS, SYSTEM, token, user_text


async def run(base_url: str, cases: int, turns: int, concurrency: int) -> tuple[int, int]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "sk-floor"), max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)
    passed = failed = 0

    async def one(case: int) -> None:
        nonlocal passed, failed
        async with semaphore:
            messages: list[dict] = [{"role": "system", "content": SYSTEM}]
            ok = True
            for turn in range(1, turns + 1):
                tok = token(case, turn)
                messages.append({"role": "user", "content": user_text(tok, turn)})
                reply = await client.chat.completions.create(model=MODEL, messages=messages, **PARAMS)
                content = reply.choices[0].message.content or ""
                ok = ok and tok in content
                try:
                    json.loads(content)
                except ValueError:
                    ok = False
                messages.append({"role": "assistant", "content": content})
            if ok:
                passed += 1
            else:
                failed += 1

    try:
        await asyncio.gather(*(one(c) for c in range(cases)))
    finally:
        await client.close()
    return passed, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    passed, failed = asyncio.run(run(args.base_url, args.cases, args.turns, args.concurrency))
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
