"""Benchmark servers run as child processes: started, awaited until they say READY, always stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextlib.asynccontextmanager
async def child_server(module: str, *args: str, log: Path | None = None,
                       ready_timeout_s: float = 180.0) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m module args...` until it prints `READY`; terminated (then killed) when the block ends."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    err = log.open("ab") if log is not None else None
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", module, *args, env=env,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=err or asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), ready_timeout_s)
            if not line:
                raise RuntimeError(f"{module} exited before it was ready (code {await proc.wait()})"
                                   + (f"; see {log}" if log is not None else ""))
            if line.startswith(b"READY"):
                break
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if err is not None:
            err.close()
