"""Calls that should be turned away: INVITE a full box `count` times and time each final answer.

    python -m bench.sip_probe sip:reception@127.0.0.1:5060 [--count 3] [--interval 1.0]

Prints one JSON list: per attempt the SIP status (503/486 when admission refused it, 200 when it was
answered after all — then it hangs up at once) and the milliseconds from sending the INVITE to that answer.
A process of its own because two PJSIP endpoints cannot share one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from appliance.errors import VocalIQError
from sip.softphone import _config
from sip.ua import SipUserAgent


async def probe(uri: str, count: int, interval_s: float) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    async with SipUserAgent(_config()) as ua:
        for i in range(count):
            if i:
                await asyncio.sleep(interval_s)
            start = time.monotonic()
            try:
                leg = await ua.call(uri, answer_within=10)
            except VocalIQError as exc:
                ms = round(1000 * (time.monotonic() - start))
                results.append({"status": int(getattr(exc, "status", 0)), "ms": ms, "detail": str(exc)[:120]})
                continue
            ms = round(1000 * (time.monotonic() - start))
            results.append({"status": 200, "ms": ms, "detail": "answered"})
            await leg.hangup()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("uri")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # PJSIP prints to stdout; only the JSON goes there
    out.write(json.dumps(asyncio.run(probe(args.uri, args.count, args.interval))) + "\n")
    out.flush()
    sys.exit(0)


if __name__ == "__main__":
    main()
