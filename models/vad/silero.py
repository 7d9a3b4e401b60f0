"""Silero VAD (ONNX, shipped in the silero-vad package): 512-sample windows at 16 kHz with hysteresis."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance.audio import INTERNAL_RATE, AudioFrame, resample
from models.vad.base import VAD, VADCapabilities, VadEvent, VadEventKind, VADParams

WINDOW = 512  # Silero's window at 16 kHz (32 ms)


class SileroVAD(VAD):
    name = "silero"
    capabilities = VADCapabilities((INTERNAL_RATE,), 32.0)

    def __init__(self, params: VADParams, onnx_path: Path | None = None) -> None:
        import silero_vad
        from silero_vad.utils_vad import OnnxWrapper

        self.params = params
        if onnx_path is not None:
            self._model = OnnxWrapper(str(onnx_path), force_onnx_cpu=True)
        else:
            self._model = silero_vad.load_silero_vad(onnx=True)
        self._pending = np.zeros(0, dtype=np.float32)
        self._speaking = False
        self._run_ms = 0.0
        self._pos_ms = 0.0

    @property
    def speaking(self) -> bool:
        return self._speaking

    def reset(self) -> None:
        self._speaking, self._run_ms = False, 0.0

    def _impl(self, frame: AudioFrame) -> VadEvent | None:
        import torch

        audio = frame if frame.sample_rate == INTERNAL_RATE else resample(frame, INTERNAL_RATE)
        self._pending = np.concatenate([self._pending, audio.to_float()])
        event = None
        while len(self._pending) >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            self._pos_ms += 32.0
            prob = float(self._model(torch.from_numpy(window), INTERNAL_RATE).item())
            voiced = prob > self.params.threshold
            if voiced == self._speaking:
                self._run_ms = 0.0
                continue
            self._run_ms += 32.0
            if self._run_ms >= (self.params.min_speech_ms if voiced else self.params.min_silence_ms):
                self._speaking, self._run_ms = voiced, 0.0
                kind = VadEventKind.SPEECH_START if voiced else VadEventKind.SPEECH_END
                event = VadEvent(kind, self._pos_ms, prob)
        return event
