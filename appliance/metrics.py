"""Prometheus metrics shared by every part of the box, and the bus subscriber that fills the call ones.

All metric objects live here so names and labels are defined once; `/metrics` exposes the default registry.
Call metrics come from call events (appliance.events), never from separate stopwatches: a stage latency is
the difference of two event timestamps of the same call and turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

from appliance import events as ev

# Voice stages are sub-second; buckets resolve 25 ms steps where it matters (200 ms .. 1.2 s).
_STAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0)

ACTIVE_CALLS = Gauge("vocaliq_active_calls", "Calls in progress", ["transport"])
CALLS_TOTAL = Counter("vocaliq_calls_total", "Calls ended, by outcome", ["transport", "outcome"])
STAGE_LATENCY = Histogram(
    "vocaliq_stage_latency_seconds",
    "Per-turn stage latency: endpoint_wait (caller silence -> end of turn), stt (end of turn -> final transcript), "
    "llm_first_token and llm_first_sentence (transcript -> ...), tts_first_audio (first sentence -> audio), "
    "response (end of caller speech -> agent speech starts)",
    ["stage"], buckets=_STAGE_BUCKETS)
MODEL_FAILOVERS = Counter("vocaliq_model_failovers_total", "A model backend failed and the next in its chain answered",
                          ["modality", "failed", "next_backend"])
SIP_REGISTRATION = Gauge("vocaliq_sip_registration_up", "1 when the trunk is registered, else 0", ["trunk"])
SIP_REJECTED = Counter("vocaliq_sip_rejected_total", "INVITEs refused before a call started", ["status"])
HTTP_LATENCY = Histogram("vocaliq_http_request_duration_seconds", "API request latency",
                         ["method", "route", "status"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
WEBHOOK_DELIVERIES = Counter("vocaliq_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"])


@dataclass
class _Turn:
    speech_ended: float | None = None
    end_of_turn: float | None = None
    transcript: float | None = None
    first_sentence: float | None = None


@dataclass
class CallMetrics:
    """Bus subscriber turning one appliance's call events into the metrics above.

    `bus.subscribe(CallMetrics().on_event)`; it keeps a little state per live call and drops it at CallEnded.
    MODEL_FAILOVERS is counted by the models layer where the failover happens (not here, to count it once).
    """

    _transport: dict[str, str] = field(default_factory=dict)
    _last_speech_end: dict[str, float] = field(default_factory=dict)
    _turns: dict[tuple[str, int], _Turn] = field(default_factory=dict)

    def on_event(self, event: ev.CallEvent) -> None:
        call = event.call_id
        match event:
            case ev.CallStarted(transport=transport):
                self._transport[call] = transport or "unknown"
                ACTIVE_CALLS.labels(self._transport[call]).inc()
            case ev.SpeechEnded():
                self._last_speech_end[call] = event.ts
            case ev.EndOfTurn(turn=turn):
                self._turn(call, turn).speech_ended = self._last_speech_end.get(call)
                self._observe(call, turn, "endpoint_wait", since="speech_ended", ts=event.ts)
                self._turn(call, turn).end_of_turn = event.ts
            case ev.Transcript(turn=turn, final=True):
                self._observe(call, turn, "stt", since="end_of_turn", ts=event.ts)
                self._turn(call, turn).transcript = event.ts
            case ev.LlmFirstToken(turn=turn):
                self._observe(call, turn, "llm_first_token", since="transcript", ts=event.ts)
            case ev.FirstSentence(turn=turn):
                self._observe(call, turn, "llm_first_sentence", since="transcript", ts=event.ts)
                self._turn(call, turn).first_sentence = event.ts
            case ev.TtsFirstAudio(turn=turn):
                self._observe(call, turn, "tts_first_audio", since="first_sentence", ts=event.ts)
            case ev.AgentSpeechStarted(turn=turn):
                self._observe(call, turn, "response", since="speech_ended", ts=event.ts)
            case ev.CallEnded(reason=reason):
                ended = self._transport.pop(call, "")
                if ended:
                    ACTIVE_CALLS.labels(ended).dec()
                CALLS_TOTAL.labels(ended or "unknown", reason or "unknown").inc()
                self._last_speech_end.pop(call, None)
                for key in [k for k in self._turns if k[0] == call]:
                    del self._turns[key]
            case _:
                pass

    def _turn(self, call: str, turn: int) -> _Turn:
        return self._turns.setdefault((call, turn), _Turn())

    def _observe(self, call: str, turn: int, stage: str, *, since: str, ts: float) -> None:
        """Observe `ts` minus the turn's earlier timestamp `since`, when the turn has one."""
        known = self._turns.get((call, turn))
        start: float | None = getattr(known, since) if known is not None else None
        if start is not None:
            STAGE_LATENCY.labels(stage).observe(max(0.0, ts - start))
