"""Call events become Prometheus samples: stage latencies are differences of event timestamps."""

from __future__ import annotations

from prometheus_client import REGISTRY

from appliance import events as ev
from appliance.metrics import CallMetrics


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_turn_fills_each_stage_once_and_the_call_gauge_returns_to_zero() -> None:
    bus = ev.EventBus()
    bus.subscribe(CallMetrics().on_event)
    stages = ("endpoint_wait", "stt", "llm_first_token", "llm_first_sentence", "tts_first_audio", "response")
    before = {s: sample("vocaliq_stage_latency_seconds_count", stage=s) for s in stages}
    sums = {s: sample("vocaliq_stage_latency_seconds_sum", stage=s) for s in stages}
    active = sample("vocaliq_active_calls", transport="test")
    ended = sample("vocaliq_calls_total", transport="test", outcome="caller_hangup")

    c = "call-metrics-1"
    bus.publish(ev.CallStarted(call_id=c, ts=0.0, direction="inbound", caller="", callee="", transport="test"))
    assert sample("vocaliq_active_calls", transport="test") == active + 1
    bus.publish(ev.SpeechEnded(call_id=c, ts=10.0))
    bus.publish(ev.EndOfTurn(call_id=c, ts=10.5, turn=1))
    bus.publish(ev.Transcript(call_id=c, ts=10.6, turn=1, text="hello"))
    bus.publish(ev.LlmFirstToken(call_id=c, ts=10.65, turn=1))
    bus.publish(ev.FirstSentence(call_id=c, ts=10.8, turn=1, text="Hi."))
    bus.publish(ev.TtsFirstAudio(call_id=c, ts=10.9, turn=1))
    bus.publish(ev.AgentSpeechStarted(call_id=c, ts=10.92, turn=1))
    bus.publish(ev.CallEnded(call_id=c, ts=20.0, reason="caller_hangup"))

    expected = {"endpoint_wait": 0.5, "stt": 0.1, "llm_first_token": 0.05, "llm_first_sentence": 0.2,
                "tts_first_audio": 0.1, "response": 0.92}
    for stage, seconds in expected.items():
        assert sample("vocaliq_stage_latency_seconds_count", stage=stage) == before[stage] + 1, stage
        assert abs(sample("vocaliq_stage_latency_seconds_sum", stage=stage) - sums[stage] - seconds) < 1e-6, stage
    assert sample("vocaliq_active_calls", transport="test") == active
    assert sample("vocaliq_calls_total", transport="test", outcome="caller_hangup") == ended + 1


def test_events_of_an_unknown_turn_or_call_are_ignored() -> None:
    metrics = CallMetrics()
    before = sample("vocaliq_stage_latency_seconds_count", stage="response")
    metrics.on_event(ev.AgentSpeechStarted(call_id="nobody", turn=7))
    metrics.on_event(ev.TtsFirstAudio(call_id="nobody", turn=7))
    assert sample("vocaliq_stage_latency_seconds_count", stage="response") == before
