"""faster-whisper (CTranslate2, int8 on CPU) for whole utterances, run in a worker thread.

Whisper's encoder normally runs on a fixed 30 s window: ~0.85 s of CPU for any phone utterance. CTranslate2's
encoder also takes fewer frames, so an utterance is encoded in a window just long enough for it (at least
`MIN_WINDOW_S`, with `TAIL_S` of silence after the speech) and decoded with timestamps. Below ~5 s of context
the decoder tends to say the sentence twice; the second copy is timestamped inside the padding, after the
audio ended, and is dropped. Utterances longer than `MAX_SHORT_S` take the ordinary long-form path.
"""

from __future__ import annotations

import asyncio
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from appliance.audio import INTERNAL_RATE, AudioFrame, resample
from appliance.errors import ModelUnavailable
from models.stt.base import STT, STTCapabilities, Transcript

MIN_WINDOW_S = 5.0  # measured: a 1.5 s utterance in a 3 s window came back twice even with timestamps
TAIL_S = 2.0  # silence after the speech: the model sees the utterance end before the window does
MAX_SHORT_S = 28.0  # beyond this the 30 s window is as short as it gets: use the long-form path
MIN_AUDIO_S = 0.1  # nothing shorter holds a word
TOKENS_PER_S = 10  # generous for speech (~3 words/s); caps a runaway decode
HOP = 160  # samples per mel frame at 16 kHz


class WhisperSTT(STT):
    name = "faster-whisper"
    capabilities = STTCapabilities(False, ("*",), (INTERNAL_RATE,))

    def __init__(self, model_dir: Path, *, threads: int = 2, short_window: bool = True) -> None:
        from faster_whisper import WhisperModel

        if not (model_dir / "model.bin").exists():
            raise ModelUnavailable(f"{model_dir / 'model.bin'} is missing; run `vocaliq models install default`")
        try:
            self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelUnavailable(f"{model_dir} cannot be loaded ({exc}); run `vocaliq models install default`"
                                   ) from exc
        self.short_window = short_window
        self._lock = threading.Lock()
        self._tokenizers: dict[str, Any] = {}

    async def _impl(self, utterance: AudioFrame, *, language: str | None, prompt: str | None) -> Transcript:
        audio = utterance if utterance.sample_rate == INTERNAL_RATE else resample(utterance, INTERNAL_RATE)
        samples = audio.to_float()
        if len(samples) < MIN_AUDIO_S * INTERNAL_RATE:
            return Transcript("", language or "", 0.0, audio.duration_ms, self.name)

        def run() -> tuple[str, str, float]:
            with self._lock:
                if self.short_window and len(samples) <= MAX_SHORT_S * INTERNAL_RATE:
                    return self._short(samples, language, prompt)
                return self._long_form(samples, language, prompt)

        text, lang, confidence = await asyncio.to_thread(run)
        return Transcript(text, lang, confidence, audio.duration_ms, self.name)

    def _long_form(self, samples: npt.NDArray[np.float32], language: str | None,
                   prompt: str | None) -> tuple[str, str, float]:
        segments, info = self._model.transcribe(samples, language=language, beam_size=1, initial_prompt=prompt,
                                                vad_filter=False)
        parts = list(segments)
        logprob = float(np.mean([s.avg_logprob for s in parts])) if parts else -10.0
        return " ".join(s.text.strip() for s in parts).strip(), info.language, _confidence(logprob)

    def _short(self, samples: npt.NDArray[np.float32], language: str | None,
               prompt: str | None) -> tuple[str, str, float]:
        from faster_whisper.transcribe import get_suppressed_tokens

        audio_s = len(samples) / INTERNAL_RATE
        window_s = min(30.0, math.ceil(max(MIN_WINDOW_S, audio_s + TAIL_S)))
        padded = np.zeros(int(window_s * INTERNAL_RATE), dtype=np.float32)
        padded[: len(samples)] = samples
        features = self._model.feature_extractor(padded)[:, : len(padded) // HOP]
        encoded = self._model.encode(features)
        lang = language or self._detect(encoded)
        tokenizer = self._tokenizer(lang)
        context: list[int] = []
        if prompt and prompt.strip():
            context = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-(self._model.max_length // 2 - 1):]]
        start = [*context, *tokenizer.sot_sequence]
        result = self._model.model.generate(
            encoded, [start], beam_size=1, return_scores=True, return_no_speech_prob=True, suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]), max_initial_timestamp_index=50,
            max_length=min(self._model.max_length, len(start) + math.ceil(audio_s * TOKENS_PER_S) + 16),
        )[0]
        tokens = result.sequences_ids[0]
        logprob = float(result.scores[0]) if result.scores else -10.0
        if result.no_speech_prob > 0.6 and logprob < -1.0:  # Whisper's own silence rule
            return "", lang, 0.0
        return _speech_text(tokens, tokenizer, audio_s), lang, _confidence(logprob)

    def _detect(self, encoded: Any) -> str:
        if not self._model.model.is_multilingual:
            return "en"
        token, _ = self._model.model.detect_language(encoded)[0][0]
        return str(token).strip("<|>")

    def _tokenizer(self, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        if language not in self._tokenizers:
            self._tokenizers[language] = Tokenizer(self._model.hf_tokenizer, self._model.model.is_multilingual,
                                                   task="transcribe", language=language)
        return self._tokenizers[language]


def _speech_text(tokens: list[int], tokenizer: Any, audio_s: float) -> str:
    """The text of timestamped segments that start while there is audio (later ones are echoes in the padding)."""
    time_precision = 0.02
    segments: list[tuple[float, list[int]]] = []
    start, current = 0.0, list[int]()
    for token in tokens:
        if token >= tokenizer.timestamp_begin:
            if current:
                segments.append((start, current))
                current = []
            start = (token - tokenizer.timestamp_begin) * time_precision
        else:
            current.append(token)
    if current:
        segments.append((start, current))
    kept = [tokenizer.decode(seg).strip() for begin, seg in segments if begin < audio_s - 0.2]
    return " ".join(t for t in kept if t).strip()


def _confidence(avg_logprob: float) -> float:
    return float(min(1.0, max(0.0, math.exp(avg_logprob))))
