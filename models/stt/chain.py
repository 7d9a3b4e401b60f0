"""STT fallback chain: the first healthy backend transcribes the utterance; if it errors or misses its
deadline, the next one transcribes the same utterance within the same call."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import ClassVar

from appliance.audio import INTERNAL_RATE, AudioFrame
from appliance.events import EventBus
from models.failover import Failover, Member, describe
from models.stt.base import STT, STTCapabilities, Transcript


class STTChain(STT):
    name = "chain"
    capabilities: ClassVar[STTCapabilities] = STTCapabilities(False, ("*",), (INTERNAL_RATE,))

    def __init__(self, members: list[Member[STT]], bus: EventBus | None = None) -> None:
        self.failover = Failover("stt", members, bus)

    async def _impl(self, utterance: AudioFrame, *, language: str | None, prompt: str | None) -> Transcript:
        plan = self.failover.plan()
        reasons: list[str] = []
        for i, member in enumerate(plan):
            deadline = self.failover.deadline(plan, i)
            try:
                async with asyncio.timeout(deadline):
                    result = await member.backend.transcribe(utterance, language=language, prompt=prompt)
            except asyncio.CancelledError:
                self.failover.release(plan[i:])
                raise
            except Exception as exc:
                reason = describe(exc, deadline, "transcript")
                reasons.append(f"{member.name}: {reason}")
                self.failover.failed(member, reason, plan[i + 1] if i + 1 < len(plan) else None)
                continue
            self.failover.succeeded(member)
            self.failover.release(plan[i + 1:])
            return dataclasses.replace(result, backend=member.name)
        raise self.failover.exhausted(reasons)
