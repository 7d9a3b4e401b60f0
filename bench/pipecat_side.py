"""The Pipecat side of the side-by-side: a Pipecat 1.14 voice bot with our models, as a process of its own.

    python -m bench.pipecat_side --agent agent.json --port P --llm-url http://127.0.0.1:Q/v1 [--metrics m.json]

Built the way Pipecat's Twilio bots are: FastAPI WebSocket transport with `TwilioFrameSerializer` (8 kHz
µ-law media stream), Silero VAD (the same ONNX file), `WhisperSTTService` on our faster-whisper base pack
(int8, CPU), `OpenAILLMService` on the llama.cpp server that serves our SmolLM2 gguf, `PiperTTSService` with
the same Joe voice, an `LLMContextAggregatorPair`, and the same endpointing as our agent: the VAD reports the
end of speech after `vad_stop_s` of silence (transcription starts then) and the turn ends `turn_timeout_s`
later (SpeechTimeoutUserTurnStopStrategy), together our `min_silence_ms`. The agent file gives the greeting,
system prompt, temperature, max tokens, model paths and those silences. Prints `READY <port>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket  # at module level: FastAPI resolves the handler's annotations here


def _metrics_collector(sink: list[dict[str, Any]]) -> Any:
    from pipecat.frames.frames import Frame, MetricsFrame
    from pipecat.metrics.metrics import ProcessingMetricsData, TTFBMetricsData
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

    class MetricsSink(FrameProcessor):  # type: ignore[misc]
        """Keeps Pipecat's own TTFB / processing figures per service (for the report, not the v2v)."""

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, MetricsFrame):
                for data in frame.data:
                    if isinstance(data, TTFBMetricsData | ProcessingMetricsData) and data.value > 0:
                        sink.append({"t": time.monotonic(), "processor": data.processor,
                                     "kind": "ttfb" if isinstance(data, TTFBMetricsData) else "processing",
                                     "ms": round(1000 * data.value, 1)})
            await self.push_frame(frame, direction)

    return MetricsSink()


async def run_bot(ws: Any, cfg: dict[str, Any], llm_url: str, metrics: list[dict[str, Any]]) -> None:
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams
    from pipecat.frames.frames import TTSSpeakFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.runner import PipelineRunner
    from pipecat.pipeline.task import PipelineParams, PipelineTask
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.services.openai.llm import OpenAILLMService
    from pipecat.services.piper.tts import PiperTTSService
    from pipecat.services.whisper.stt import WhisperSTTService
    from pipecat.transcriptions.language import Language
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
    from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    sid = ""
    async for raw in ws.iter_text():  # as in Pipecat's Twilio bots: the stream sid comes with `start`
        message = json.loads(raw)
        if message.get("event") == "start":
            sid = str(message["start"]["streamSid"])
            break
    serializer = TwilioFrameSerializer(stream_sid=sid, params=TwilioFrameSerializer.InputParams(auto_hang_up=False))
    transport = FastAPIWebsocketTransport(websocket=ws, params=FastAPIWebsocketParams(
        audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False, serializer=serializer))
    stt = WhisperSTTService(device="cpu", compute_type="int8", settings=WhisperSTTService.Settings(
        model=cfg["whisper_dir"], language=Language.EN))
    llm = OpenAILLMService(api_key="local", base_url=llm_url, settings=OpenAILLMService.Settings(
        model=cfg["llm_model"], temperature=cfg["temperature"], max_tokens=cfg["max_tokens"]))
    tts = PiperTTSService(download_dir=Path(cfg["piper_dir"]), settings=PiperTTSService.Settings(
        voice=cfg["piper_voice"]))
    vad = SileroVADAnalyzer(params=VADParams(confidence=cfg["vad_threshold"], start_secs=cfg["vad_start_s"],
                                             stop_secs=cfg["vad_stop_s"]))
    context = LLMContext([{"role": "system", "content": cfg["system_prompt"]}])
    aggregators = LLMContextAggregatorPair(context, user_params=LLMUserAggregatorParams(
        vad_analyzer=vad, user_turn_strategies=UserTurnStrategies(
            stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=cfg["turn_timeout_s"])])))
    pipeline = Pipeline([transport.input(), stt, aggregators.user(), llm, tts, transport.output(),
                         aggregators.assistant(), _metrics_collector(metrics)])
    task = PipelineTask(pipeline, params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=8000,
                                                        enable_metrics=True))

    @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]
    async def greet(_transport: Any, _client: Any) -> None:
        await task.queue_frames([TTSSpeakFrame(cfg["greeting"])])

    @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
    async def gone(_transport: Any, _client: Any) -> None:
        await task.cancel()

    await PipelineRunner(handle_sigint=False).run(task)


async def serve(cfg: dict[str, Any], port: int, llm_url: str, metrics_out: Path | None) -> None:
    import uvicorn

    app = FastAPI()
    metrics: list[dict[str, Any]] = []

    @app.websocket("/ws")
    async def media_stream(ws: WebSocket) -> None:
        await ws.accept()
        await run_bot(ws, cfg, llm_url, metrics)
        if metrics_out is not None:
            metrics_out.write_text(json.dumps(metrics))  # noqa: ASYNC240 - small file, once per call

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws="websockets-sansio", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn's flag
        await asyncio.sleep(0.05)
    print(f"READY {port}", flush=True)
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", type=Path, required=True, help="JSON: greeting, prompt, models, silences")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--llm-url", required=True)
    parser.add_argument("--metrics", type=Path)
    parser.add_argument("--log-level", default="WARNING", help="Pipecat's loguru level")
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    asyncio.run(serve(json.loads(args.agent.read_text()), args.port, args.llm_url, args.metrics))


if __name__ == "__main__":
    main()
