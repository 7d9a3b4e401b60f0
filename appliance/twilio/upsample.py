"""Caller audio 8 kHz → 16 kHz, frame by frame, with 2 ms of delay.

soxr's streaming resampler (appliance.audio.StreamResampler) works in blocks: at 8 → 16 kHz it returns
nothing for five 20 ms frames and then ~100 ms at once, which would hold every caller frame back by up to
100 ms before VAD and endpointing see it. Telephone audio is already band-limited to 4 kHz, so an exact 2x
polyphase FIR (Kaiser-windowed sinc, 32 taps per phase) does the job: every 20 ms in gives 20 ms out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from appliance.audio import AudioFrame

_TAPS = 64  # total; 32 per phase = 2 ms of history at 8 kHz


def _half_band() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n = np.arange(_TAPS) - (_TAPS - 1) / 2
    h = np.sinc(n / 2) * np.kaiser(_TAPS, 8.0)
    h *= 2.0 / h.sum()  # unity gain after zero-stuffing
    return h[0::2].copy(), h[1::2].copy()


_EVEN, _ODD = _half_band()


class Upsampler2x:
    """Streams 8 kHz mono frames to 16 kHz (state carried across frames; no clicks at frame edges)."""

    def __init__(self) -> None:
        self._history = np.zeros(len(_EVEN) - 1)

    def process(self, frame: AudioFrame) -> AudioFrame:
        x = frame.to_array().astype(np.float64)
        buf = np.concatenate([self._history, x])
        self._history = buf[len(buf) - len(self._history):]
        out = np.empty(2 * len(x))
        out[0::2] = np.convolve(buf, _EVEN, mode="valid")
        out[1::2] = np.convolve(buf, _ODD, mode="valid")
        pcm = np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()
        return AudioFrame(pcm, 2 * frame.sample_rate, pts_ms=frame.pts_ms)
