"""Per-turn records built from a call's event stream: texts, NLU and the latency breakdown.

All latencies are differences of event timestamps (ms):
endpoint_wait = EndOfTurn - SpeechEnded; stt = Transcript - EndOfTurn (small when the speculative
transcription finished during the endpoint wait); llm_ttft = LlmFirstToken - Transcript;
first_sentence = FirstSentence - Transcript; tts_first_audio = TtsFirstAudio - FirstSentence;
v2v = AgentSpeechStarted - SpeechEnded; overhead = v2v - (endpoint_wait + stt + first_sentence + tts_first_audio).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.events import (
    AgentSpeechFinished,
    AgentSpeechInterrupted,
    AgentSpeechStarted,
    CallEvent,
    EndOfTurn,
    FirstSentence,
    Intent,
    LlmFirstToken,
    SpeechEnded,
    ToolCalled,
    Transcript,
    TtsFirstAudio,
)


@dataclass(slots=True)
class TurnRecord:
    index: int
    user_text: str = ""
    agent_text: str = ""
    played_text: str = ""
    interrupted: bool = False
    intent: str = ""
    entities: dict[str, Any] = field(default_factory=dict)
    sentiment: float = 0.0
    tools: list[str] = field(default_factory=list)
    endpoint_wait_ms: float | None = None
    stt_ms: float | None = None
    llm_ttft_ms: float | None = None
    first_sentence_ms: float | None = None
    tts_first_audio_ms: float | None = None
    v2v_ms: float | None = None
    overhead_ms: float | None = None
    _ts: dict[str, float] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_ts")
        return data


def _ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round((b - a) * 1000.0, 1)


class CallTimeline:
    """Subscribe `on_event` to the bus; `turns` holds one record per agent turn (0 = greeting)."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.turns: dict[int, TurnRecord] = {}
        self._last_speech_end: float | None = None

    def turn(self, index: int) -> TurnRecord:
        if index not in self.turns:
            self.turns[index] = TurnRecord(index)
        return self.turns[index]

    def on_event(self, event: CallEvent) -> None:
        if event.call_id != self.call_id:
            return
        if isinstance(event, SpeechEnded):
            self._last_speech_end = event.ts
            return
        index = getattr(event, "turn", None)
        if index is None:
            return
        rec = self.turn(index)
        ts = rec._ts
        if isinstance(event, EndOfTurn):
            ts["speech_end"] = self._last_speech_end if self._last_speech_end is not None else event.ts
            ts["eot"] = event.ts
        elif isinstance(event, Transcript):
            rec.user_text = event.text
            ts["transcript"] = event.ts
        elif isinstance(event, Intent):
            rec.intent, rec.entities, rec.sentiment = event.intent, dict(event.entities), event.sentiment
        elif isinstance(event, LlmFirstToken):
            ts.setdefault("llm_first", event.ts)
        elif isinstance(event, FirstSentence):
            ts.setdefault("first_sentence", event.ts)
        elif isinstance(event, TtsFirstAudio):
            ts.setdefault("tts_first", event.ts)
        elif isinstance(event, AgentSpeechStarted):
            ts.setdefault("agent_start", event.ts)
        elif isinstance(event, AgentSpeechFinished):
            rec.agent_text = rec.played_text = event.played_text
        elif isinstance(event, AgentSpeechInterrupted):
            rec.agent_text, rec.played_text, rec.interrupted = event.planned_text, event.played_text, True
        elif isinstance(event, ToolCalled):
            rec.tools.append(event.tool)
        self._latencies(rec)

    @staticmethod
    def _latencies(rec: TurnRecord) -> None:
        ts = rec._ts
        rec.endpoint_wait_ms = _ms(ts.get("speech_end"), ts.get("eot"))
        rec.stt_ms = _ms(ts.get("eot"), ts.get("transcript"))
        rec.llm_ttft_ms = _ms(ts.get("transcript"), ts.get("llm_first"))
        rec.first_sentence_ms = _ms(ts.get("transcript"), ts.get("first_sentence"))
        rec.tts_first_audio_ms = _ms(ts.get("first_sentence"), ts.get("tts_first"))
        rec.v2v_ms = _ms(ts.get("speech_end"), ts.get("agent_start"))
        parts = (rec.endpoint_wait_ms, rec.stt_ms, rec.first_sentence_ms, rec.tts_first_audio_ms)
        if rec.v2v_ms is not None and all(p is not None for p in parts):
            rec.overhead_ms = round(rec.v2v_ms - sum(p for p in parts if p is not None), 1)
