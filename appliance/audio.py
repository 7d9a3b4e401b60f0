"""Audio as it travels inside the appliance: `AudioFrame` (s16le PCM with its rate), resampling and G.711.

Codecs and rates are converted only at the edges (SIP, Twilio, files); inside, sessions work at 16 kHz mono.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

from appliance.errors import AudioFormatError

INTERNAL_RATE = 16_000
SAMPLE_WIDTH = 2  # bytes: signed 16-bit little-endian everywhere


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """A chunk of signed 16-bit little-endian PCM with its sample rate; never pass bare bytes around."""

    pcm: bytes
    sample_rate: int
    channels: int = 1
    sample_width: int = SAMPLE_WIDTH
    pts_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.sample_width != SAMPLE_WIDTH:
            raise AudioFormatError(f"only 16-bit PCM is supported, got {8 * self.sample_width}-bit")
        if self.sample_rate <= 0 or self.channels <= 0:
            raise AudioFormatError(f"bad audio format: {self.sample_rate} Hz, {self.channels} channels")
        if len(self.pcm) % (SAMPLE_WIDTH * self.channels):
            raise AudioFormatError(f"PCM of {len(self.pcm)} bytes is not whole {self.channels}-channel samples")

    @property
    def samples(self) -> int:
        """Samples per channel."""
        return len(self.pcm) // (SAMPLE_WIDTH * self.channels)

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.samples / self.sample_rate

    def to_array(self) -> npt.NDArray[np.int16]:
        """Samples as int16, shape (samples,) for mono or (samples, channels)."""
        arr = np.frombuffer(self.pcm, dtype="<i2")
        return arr if self.channels == 1 else arr.reshape(-1, self.channels)

    def to_float(self) -> npt.NDArray[np.float32]:
        """Mono samples as float32 in [-1, 1] (mixes channels down first)."""
        return to_mono(self).to_array().astype(np.float32) / 32768.0

    @classmethod
    def from_array(cls, samples: npt.NDArray[np.generic], sample_rate: int, pts_ms: float = 0.0) -> AudioFrame:
        """Build a frame from int16 samples or float samples in [-1, 1]; 2-D arrays are (samples, channels)."""
        arr = np.asarray(samples)
        if arr.dtype.kind == "f":
            arr = np.clip(arr, -1.0, 1.0) * 32767.0
        channels = 1 if arr.ndim == 1 else int(arr.shape[1])
        return cls(arr.astype("<i2").tobytes(), sample_rate, channels=channels, pts_ms=pts_ms)


def silence(duration_ms: float, sample_rate: int = INTERNAL_RATE) -> AudioFrame:
    """A frame of digital silence."""
    return AudioFrame(b"\x00\x00" * int(sample_rate * duration_ms / 1000), sample_rate)


def to_mono(frame: AudioFrame) -> AudioFrame:
    if frame.channels == 1:
        return frame
    mixed = frame.to_array().astype(np.int32).mean(axis=1)
    return AudioFrame(mixed.astype("<i2").tobytes(), frame.sample_rate, pts_ms=frame.pts_ms)


def resample(frame: AudioFrame, rate: int) -> AudioFrame:
    """Mono frame at `rate` (soxr, high quality). Stateless: fine for whole utterances and files."""
    mono = to_mono(frame)
    if mono.sample_rate == rate or not mono.pcm:
        return replace(mono, sample_rate=rate) if not mono.pcm else mono
    out = soxr.resample(mono.to_array(), mono.sample_rate, rate, quality="HQ")
    return AudioFrame(np.asarray(out, dtype="<i2").tobytes(), rate, pts_ms=frame.pts_ms)


class StreamResampler:
    """Resamples a stream of small frames without clicks at frame edges (keeps soxr's filter state)."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._soxr = None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16")

    def process(self, frame: AudioFrame, *, last: bool = False) -> AudioFrame:
        mono = to_mono(frame)
        if mono.sample_rate != self.in_rate:
            raise AudioFormatError(f"resampler expects {self.in_rate} Hz, got {mono.sample_rate} Hz")
        if self._soxr is None:
            return mono
        out = self._soxr.resample_chunk(mono.to_array(), last=last)
        return AudioFrame(np.asarray(out, dtype="<i2").tobytes(), self.out_rate, pts_ms=frame.pts_ms)


def concat(frames: list[AudioFrame]) -> AudioFrame:
    """Join frames of one format into one."""
    if not frames:
        return AudioFrame(b"", INTERNAL_RATE)
    first = frames[0]
    for f in frames[1:]:
        if (f.sample_rate, f.channels) != (first.sample_rate, first.channels):
            raise AudioFormatError("cannot join frames of different formats; resample first")
    return AudioFrame(b"".join(f.pcm for f in frames), first.sample_rate, first.channels, pts_ms=first.pts_ms)


def split(frame: AudioFrame, ms: float) -> list[AudioFrame]:
    """Cut a frame into chunks of `ms` (the last may be shorter), pts advancing."""
    step = int(frame.sample_rate * ms / 1000) * SAMPLE_WIDTH * frame.channels
    if step <= 0:
        raise AudioFormatError(f"chunk of {ms} ms is too short at {frame.sample_rate} Hz")
    return [
        AudioFrame(frame.pcm[i : i + step], frame.sample_rate, frame.channels,
                   pts_ms=frame.pts_ms + 1000.0 * i / (SAMPLE_WIDTH * frame.channels * frame.sample_rate))
        for i in range(0, len(frame.pcm), step)
    ]


def rms_dbfs(frame: AudioFrame) -> float:
    """Loudness in dBFS (-inf for digital silence)."""
    if not frame.pcm:
        return float("-inf")
    x = frame.to_array().astype(np.float64) / 32768.0
    rms = float(np.sqrt(np.mean(x * x)))
    return float("-inf") if rms == 0 else 20.0 * float(np.log10(rms))


# --- G.711 (used at the Twilio edge; pjsua2 does its own codecs) ---------------------------------------

def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_ULAW_DECODE = _ulaw_decode_table()
_ALAW_DECODE = _alaw_decode_table()


def _build_encoder(decode: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    # Nearest code for every 16-bit value: exact inverse of the decode table on its own outputs.
    order = np.argsort(decode, kind="stable")
    sorted_vals = decode[order].astype(np.int32)
    values = np.arange(-32768, 32768, dtype=np.int32)
    idx = np.clip(np.searchsorted(sorted_vals, values), 1, 255)
    left, right = sorted_vals[idx - 1], sorted_vals[idx]
    pick = np.where(values - left <= right - values, idx - 1, idx)
    return order[pick].astype(np.uint8)


_ULAW_ENCODE = _build_encoder(_ULAW_DECODE)
_ALAW_ENCODE = _build_encoder(_ALAW_DECODE)


def ulaw_decode(data: bytes, sample_rate: int = 8000) -> AudioFrame:
    return AudioFrame(_ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes(), sample_rate)


def ulaw_encode(frame: AudioFrame) -> bytes:
    return bytes(_ULAW_ENCODE[to_mono(frame).to_array().astype(np.int32) + 32768])


def alaw_decode(data: bytes, sample_rate: int = 8000) -> AudioFrame:
    return AudioFrame(_ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes(), sample_rate)


def alaw_encode(frame: AudioFrame) -> bytes:
    return bytes(_ALAW_ENCODE[to_mono(frame).to_array().astype(np.int32) + 32768])


# --- WAV files -------------------------------------------------------------------------------------------

def read_wav(source: str | Path | bytes) -> AudioFrame:
    """Read a 16-bit PCM WAV file (path or bytes); a clear AudioFormatError for anything else."""
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    except OSError as exc:
        raise AudioFormatError(f"cannot open {name}: {exc.strerror}") from exc
    try:
        with handle, wave.open(handle, "rb") as w:
            if w.getsampwidth() != SAMPLE_WIDTH:
                raise AudioFormatError(f"{name}: {8 * w.getsampwidth()}-bit WAV, need 16-bit PCM")
            pcm = w.readframes(w.getnframes())
            channels, rate = w.getnchannels(), w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{name}: not a valid PCM WAV file ({exc})") from exc
    usable = len(pcm) - len(pcm) % (SAMPLE_WIDTH * channels)
    return AudioFrame(pcm[:usable], rate, channels=channels)


def write_wav(path: str | Path, frame: AudioFrame) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(frame.channels)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(frame.sample_rate)
        w.writeframes(frame.pcm)


def wav_bytes(frame: AudioFrame) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(frame.channels)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(frame.sample_rate)
        w.writeframes(frame.pcm)
    return buf.getvalue()
