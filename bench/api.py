"""API latency benchmark: listing calls and reading a call's detail with 10 000 calls stored, at a fixed
request rate (open loop: requests start on schedule whether or not earlier ones finished), on SQLite and on
PostgreSQL (127.0.0.1:5432 db `test`, in a schema of its own; skipped with the reason when unreachable).

The API runs in a child process (uvicorn, one worker, real HTTP on loopback) so the load generator does not
share its event loop. Each call has 6 turns and 12 events, so a detail answer is a realistic size.
Bounded: `--requests` per figure (after 50 warm-up requests) and `--deadline` seconds per figure.

    .venv/bin/python -m bench.api [--rate 200] [--requests 2000] [--calls 10000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import random
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, select, text

from bench.common import Summary, machine, summarize

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench password 0123456789"
EMAIL = "owner@bench.example"
TARGET_P95_MS = 20.0


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    figure: str
    latency: Summary
    errors: int
    achieved_rate: float


def _settings(data_dir: Path, url: str) -> Any:
    from appliance.config import Settings

    settings = Settings(data_dir=data_dir)
    settings.storage.database_url = url
    settings.security.rate_limit_per_minute = 10_000_000  # measure the API, not the limiter
    return settings


def seed(data_dir: Path, url: str, calls: int) -> list[str]:
    """A migrated DB with one organization and `calls` calls (6 turns, 12 events each); returns the call ids."""
    from appliance.store.bootstrap import initialise
    from appliance.store.db import open_database
    from appliance.store.models import Agent, Call, CallEventRow, Turn

    settings = _settings(data_dir, url)
    org = initialise(settings, org_name="Bench", admin_email=EMAIL, admin_password=PASSWORD).org_id
    db = open_database(settings)
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ids = [uuid.uuid4().hex for _ in range(calls)]
    try:
        with db.session() as s:
            agent = s.scalars(select(Agent.id)).first()
            for start in range(0, calls, 1000):
                batch = ids[start:start + 1000]
                s.execute(insert(Call), [{
                    "id": cid, "organization_id": org, "agent_id": agent,
                    "direction": rng.choice(["inbound", "outbound"]), "caller": f"+4930{rng.randrange(10**7):07d}",
                    "callee": "+4930999000", "status": "ended",
                    "started_at": now - dt.timedelta(minutes=rng.randrange(90 * 24 * 60)),
                    "end_reason": rng.choice(["caller_hangup", "transferred", "agent_hangup"]),
                    "duration_s": rng.uniform(20, 300), "summary": "Caller asked about opening hours."}
                    for cid in batch])
                s.execute(insert(Turn), [{
                    "organization_id": org, "call_id": cid, "index": i, "user_text": "When are you open tomorrow?",
                    "agent_text": "We are open from nine to five.", "played_text": "We are open from nine to five.",
                    "intent": "hours", "entities": {}, "latency": {"stt_ms": 180.0, "v2v_ms": 750.0 + i}}
                    for cid in batch for i in range(6)])
                s.execute(insert(CallEventRow), [{
                    "organization_id": org, "call_id": cid, "type": "Transcript", "ts": 1000.0 + i,
                    "payload": {"turn": i // 2, "text": "When are you open tomorrow?"}}
                    for cid in batch for i in range(12)])
    finally:
        db.close()
    return ids


def _serve(data_dir: str, url: str, port: int) -> None:
    import uvicorn

    from appliance.api import create_app

    app = create_app(_settings(Path(data_dir), url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def served(data_dir: Path, url: str) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(str(data_dir), url, port), daemon=True)
    proc.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with suppress(httpx.HTTPError):
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            if not proc.is_alive():
                raise RuntimeError(f"the API process exited ({proc.exitcode})")
            time.sleep(0.1)
        else:
            raise RuntimeError("the API did not come up within 60 s")
        yield base
    finally:
        proc.terminate()
        proc.join(10)


async def measure(client: httpx.AsyncClient, paths: list[str], rate: float, deadline_s: float) -> tuple[
        list[float], int, float]:
    """Start one request every 1/rate s (open loop); latencies in ms, error count, achieved start rate."""
    latencies: list[float] = []
    errors = 0

    async def one(path: str) -> None:
        nonlocal errors
        sent = time.perf_counter()
        try:
            r = await client.get(path)
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            latencies.append((time.perf_counter() - sent) * 1000)
        else:
            errors += 1

    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for i, path in enumerate(paths):
        due = start + i / rate
        if due - start > deadline_s:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(path)))
    started_in = time.perf_counter() - start
    await asyncio.wait(tasks, timeout=deadline_s)
    return latencies, errors + sum(1 for t in tasks if not t.done()), len(tasks) / max(started_in, 1e-9)


async def bench_backend(backend: str, url: str, data_dir: Path, args: argparse.Namespace) -> list[Result]:
    t0 = time.perf_counter()
    ids = await asyncio.to_thread(seed, data_dir, url, args.calls)
    print(f"[{backend}] seeded {args.calls} calls in {time.perf_counter() - t0:.1f} s", flush=True)
    rng = random.Random(11)
    results = []
    with served(data_dir, url) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10,
                                     limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)) as c:
            login = await c.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
            c.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            filtered = "/api/v1/calls?limit=50&direction=inbound&outcome=caller_hangup"
            second_page = f"{filtered}&cursor={(await c.get(filtered)).json()['next_cursor']}"
            figures: dict[str, Callable[[], str]] = {
                "list calls (50 per page)": lambda: "/api/v1/calls?limit=50",
                "list calls, filtered, 2nd page": lambda: second_page,
                "call detail (6 turns, 12 events)": lambda: f"/api/v1/calls/{rng.choice(ids)}",
            }
            for figure, path in figures.items():
                await measure(c, [path() for _ in range(50)], args.rate, 10)  # warm-up
                lat, errors, achieved = await measure(c, [path() for _ in range(args.requests)], args.rate,
                                                      args.deadline)
                results.append(Result(backend, figure, summarize(lat), errors, achieved))
                print(f"[{backend}] {figure}: p95 {results[-1].latency.p95} ms", flush=True)
    return results


@contextmanager
def pg_schema() -> Iterator[str | None]:
    try:
        admin = create_engine(PG)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # no server here
        print(f"[postgresql] skipped: 127.0.0.1:5432 not reachable ({type(exc).__name__})")
        yield None
        return
    schema = f"bench_api_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f"create schema {schema}"))
    try:
        yield f"{PG}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"drop schema {schema} cascade"))
        admin.dispose()


def print_table(results: list[Result], rate: float) -> None:
    def cell(v: float | None) -> str:
        return f"{v:>8.1f}" if v is not None else f"{'-':>8}"

    print(f"\nAPI latency at {rate:.0f} requests/s (open loop), target p95 <= {TARGET_P95_MS:.0f} ms")
    print(f"{'backend':<11}{'figure':<35}{'unit':<5}{'p50':>8}{'p95':>8}{'max':>8}{'n':>6}{'err':>5}{'req/s':>7}")
    for r in results:
        s = r.latency
        print(f"{r.backend:<11}{r.figure:<35}{'ms':<5}{cell(s.p50)}{cell(s.p95)}{cell(s.max)}{s.n:>6}{r.errors:>5}"
              f"{r.achieved_rate:>7.0f}")
    print(f"machine: {machine()}; load average while measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


async def main_async(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        if "sqlite" in args.backends:
            results += await bench_backend("sqlite", "", Path(tmp) / "sqlite", args)
        if "postgresql" in args.backends:
            with pg_schema() as url:
                if url is not None:
                    results += await bench_backend("postgresql", url, Path(tmp) / "pg", args)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests started per second")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per figure")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds per figure at most")
    parser.add_argument("--calls", type=int, default=10_000, help="calls stored")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    args.backends = {b.strip() for b in args.backends.split(",")}
    print_table(asyncio.run(main_async(args)), args.rate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
