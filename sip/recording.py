"""Crash-safe stereo call recordings: caller on the left channel, agent on the right.

The media thread only appends 20 ms chunks to two deques; one writer thread (`RecordingWriter`) pairs them,
interleaves, appends to the WAV file and patches the RIFF/data sizes after every flush (about once a second),
so a file cut short by kill -9 still plays up to its last flush.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections import deque
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_HEADER = 44


def _wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    block = 2 * channels
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
            + b"data" + struct.pack("<I", data_bytes))


class StereoRecording:
    """One call's recording file; `add_caller`/`add_agent` are safe to call from the media thread."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self._caller: deque[bytes] = deque()
        self._agent: deque[bytes] = deque()
        self._closing = False
        self.data_bytes = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "wb")  # noqa: SIM115 - closed by close()/flush(final=True)
        self._fh.write(_wav_header(sample_rate, 2, 0))
        self._fh.flush()

    def add_caller(self, pcm: bytes) -> None:
        self._caller.append(pcm)

    def add_agent(self, pcm: bytes) -> None:
        self._agent.append(pcm)

    @property
    def duration_s(self) -> float:
        return self.data_bytes / (4 * self.sample_rate)

    def request_close(self) -> None:
        self._closing = True

    @property
    def closing(self) -> bool:
        return self._closing

    def flush(self, *, final: bool = False) -> None:
        """Write what both sides have (all of it when final, the shorter side padded) and patch the header."""
        if self._fh.closed:
            return
        left = self._drain(self._caller)
        right = self._drain(self._agent)
        n = max(len(left), len(right)) if final else min(len(left), len(right))
        n -= n % 2
        if not final:  # keep the surplus of the longer side for the next flush
            if len(left) > n:
                self._caller.appendleft(left[n:])
            if len(right) > n:
                self._agent.appendleft(right[n:])
        if n:
            lch = np.frombuffer(left[:n].ljust(n, b"\0"), dtype="<i2")
            rch = np.frombuffer(right[:n].ljust(n, b"\0"), dtype="<i2")
            self._fh.seek(0, 2)
            self._fh.write(np.column_stack([lch, rch]).astype("<i2").tobytes())
            self.data_bytes += 2 * n
            self._fh.seek(0)
            self._fh.write(_wav_header(self.sample_rate, 2, self.data_bytes))
            self._fh.flush()
        if final:
            self._fh.close()

    @staticmethod
    def _drain(chunks: deque[bytes]) -> bytes:
        parts = []
        while chunks:
            parts.append(chunks.popleft())
        return b"".join(parts)


class RecordingWriter:
    """The one thread that writes every open recording to disk, once per `interval` seconds."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._open: list[StereoRecording] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vocaliq-recorder", daemon=True)
        self._thread.start()

    def open(self, path: Path, sample_rate: int) -> StereoRecording:
        rec = StereoRecording(path, sample_rate)
        with self._lock:
            self._open.append(rec)
        return rec

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._flush_all()
        self._flush_all(final=True)

    def _flush_all(self, *, final: bool = False) -> None:
        with self._lock:
            recs = list(self._open)
        for rec in recs:
            last = final or rec.closing
            try:
                rec.flush(final=last)
            except OSError:
                log.exception("recording write failed", extra={"path": str(rec.path)})
                last = True
            if last:
                with self._lock:
                    self._open.remove(rec)

    def close(self) -> None:
        """Flush and close every recording (at shutdown)."""
        self._stop.set()
        self._thread.join(timeout=10)
