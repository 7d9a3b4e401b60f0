"""The media bridge between PJSIP's conference bridge and a CallLeg.

`BridgePort` is an AudioMediaPort that the conference bridge's clock thread calls every frame time: it copies
caller audio out to a `MediaSink` and pulls agent audio from a `PlayoutBuffer`. Both callbacks only copy bytes
(see bytevec.py) and never block, allocate little, and never touch asyncio or the DB directly.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Protocol

import pjsua2 as pj

from sip import bytevec

log = logging.getLogger(__name__)


class PlayoutBuffer:
    """Agent audio waiting to be played (s16le at the port rate), with marks at byte positions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._written = 0  # bytes ever queued (minus cleared), the position marks refer to
        self._played = 0
        self._marks: deque[tuple[int, str]] = deque()

    def write(self, pcm: bytes) -> None:
        with self._lock:
            self._buf += pcm
            self._written += len(pcm)

    def mark(self, name: str) -> None:
        with self._lock:
            self._marks.append((self._written, name))

    def read(self, nbytes: int) -> tuple[bytes, bytes, list[str]]:
        """(chunk padded with silence to nbytes, the audio part only, marks now passed)."""
        with self._lock:
            take = min(nbytes, len(self._buf))
            audio = bytes(self._buf[:take])
            del self._buf[:take]
            self._played += take
            fired: list[str] = []
            while self._marks and self._marks[0][0] <= self._played:
                fired.append(self._marks.popleft()[1])
        chunk = audio if take == nbytes else audio + b"\0" * (nbytes - take)
        return chunk, audio, fired

    def clear(self) -> int:
        """Drop unplayed audio and the marks behind it; returns bytes dropped."""
        with self._lock:
            dropped = len(self._buf)
            self._buf.clear()
            self._written = self._played
            self._marks.clear()
        return dropped

    @property
    def buffered(self) -> int:
        with self._lock:
            return len(self._buf)


class MediaSink(Protocol):
    """What the media thread reports to (implemented by SipCallLeg; each method must be thread-safe, quick)."""

    playout: PlayoutBuffer

    def on_caller_audio(self, pcm: bytes) -> None: ...

    def on_agent_audio(self, chunk: bytes, marks: list[str]) -> None: ...


class BridgePort(pj.AudioMediaPort):  # type: ignore[misc]
    """One call's port in the conference bridge (create and connect it on the PJSIP thread)."""

    def __init__(self, sink: MediaSink, sample_rate: int, ptime_ms: int) -> None:
        super().__init__()
        self.sink = sink
        self.sample_rate = sample_rate
        self.frame_bytes = sample_rate * ptime_ms // 1000 * 2
        self._vec = pj.ByteVector()
        self._vec.resize(self.frame_bytes)
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, sample_rate, 1, ptime_ms * 1000, 16)
        self.fmt = fmt

    def create(self, name: str) -> None:
        self.createPort(name, self.fmt)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:
        try:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                self.sink.on_caller_audio(bytevec.to_bytes(frame.buf, frame.size))
        except Exception:  # a raise here would reach PJSIP's C stack
            log.exception("media rx callback failed")

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:
        try:
            chunk, _audio, marks = self.sink.playout.read(self.frame_bytes)
            bytevec.fill(self._vec, chunk)
            frame.buf = self._vec
            frame.size = self.frame_bytes
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            self.sink.on_agent_audio(chunk, marks)
        except Exception:
            log.exception("media tx callback failed")
