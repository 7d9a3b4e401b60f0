"""Our agent behind a Twilio Media Streams WebSocket (the side-by-side's boundary), as a process of its own.

    python -m bench.ws_agent --data-dir D --port P --llm-url http://127.0.0.1:Q/v1 --timelines out.json

The same conversation engine, agent (from D's database), models (D's packs) and per-turn event timeline as a
SIP call; only the leg differs (bench.ws_leg) and the LLM is reached through `--llm-url` when given (the
llama.cpp server Pipecat uses too). Prints `READY <port>` once it accepts connections; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket  # at module level: FastAPI resolves the handler's annotations here


def build_app(local: Any, timelines_out: Path | None) -> Any:
    from appliance.conversation import CallServices, run_call
    from appliance.conversation.timeline import CallTimeline
    from bench.ws_leg import TwilioWsLeg

    app = FastAPI()
    calls: list[dict[str, Any]] = []

    @app.websocket("/ws")
    async def media_stream(ws: WebSocket) -> None:
        await ws.accept()
        sid = ""
        async for raw in ws.iter_text():  # Twilio sends `connected`, then `start` with the stream's sid
            message = json.loads(raw)
            if message.get("event") == "start":
                sid = str(message["start"]["streamSid"])
                break
        leg = TwilioWsLeg(ws, sid)
        timeline = CallTimeline(leg.call_id)
        services: CallServices = local.services
        unsubscribe = services.bus.subscribe(timeline.on_event)
        reader = asyncio.create_task(leg.run(ws.iter_text()))
        try:
            await run_call(leg, services=services, agent=local.agent, transport="twilio-bench")
        finally:
            unsubscribe()
            await leg.hangup()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        calls.append({"call_id": leg.call_id, "turns": [timeline.turns[i].to_dict() for i in sorted(timeline.turns)]})
        if timelines_out is not None:
            timelines_out.write_text(json.dumps(calls))  # noqa: ASYNC240 - small file, once per call

    return app


async def serve(data_dir: Path, port: int, llm_url: str, timelines_out: Path | None) -> None:
    import uvicorn

    from appliance.config import load_config
    from appliance.conversation.services import local_services

    settings = load_config(data_dir=data_dir)
    async with local_services(settings) as local:
        if llm_url:  # the box's own OpenAI-compatible backend, as a GPU box would reach vLLM
            from bench.llm_server import MODEL_ALIAS
            from models.llm.openai_http import OpenAIChatLLM

            llm = OpenAIChatLLM(llm_url, model=MODEL_ALIAS, timeout_s=60.0)
            local.services.models = dataclasses.replace(local.services.models, llm=llm)
        server = uvicorn.Server(uvicorn.Config(build_app(local, timelines_out), host="127.0.0.1", port=port,
                                               log_level="warning", ws="websockets-sansio", lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn's flag
            await asyncio.sleep(0.05)
        print(f"READY {port}", flush=True)
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--llm-url", default="")
    parser.add_argument("--timelines", type=Path)
    args = parser.parse_args()
    asyncio.run(serve(args.data_dir, args.port, args.llm_url, args.timelines))
    sys.exit(0)


if __name__ == "__main__":
    main()
