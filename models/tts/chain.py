"""TTS fallback chain: the first healthy backend speaks the sentence; if it errors or misses its first-audio
deadline, the next one speaks it. Every backend's audio leaves at the first backend's rate.

Failover happens only before the first audio: once the caller heard part of a sentence, a failure ends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from appliance.audio import AudioFrame, StreamResampler
from appliance.events import EventBus
from models.failover import Failover, Member, describe
from models.tts.base import TTS, TTSCapabilities


class TTSChain(TTS):
    name = "chain"

    def __init__(self, members: list[Member[TTS]], bus: EventBus | None = None) -> None:
        self.failover = Failover("tts", members, bus)
        first = members[0].backend.capabilities
        self.capabilities = TTSCapabilities(all(m.backend.capabilities.streaming for m in members),
                                            first.sample_rate, first.languages)

    async def _impl(self, text: str, *, speed: float) -> AsyncIterator[AudioFrame]:
        plan = self.failover.plan()
        reasons: list[str] = []
        for i, member in enumerate(plan):
            audio = member.backend.synthesize(text, speed=speed)
            deadline = self.failover.deadline(plan, i)
            try:
                async with asyncio.timeout(deadline):
                    first: AudioFrame | None = await anext(audio)
            except StopAsyncIteration:
                first = None
            except asyncio.CancelledError:
                await _close(audio)
                self.failover.release(plan[i:])
                raise
            except Exception as exc:
                await _close(audio)
                reason = describe(exc, deadline, "first audio")
                reasons.append(f"{member.name}: {reason}")
                self.failover.failed(member, reason, plan[i + 1] if i + 1 < len(plan) else None)
                continue
            self.failover.succeeded(member)
            self.failover.release(plan[i + 1:])
            rate = self.capabilities.sample_rate
            resampler: StreamResampler | None = None
            frame: AudioFrame | None = first
            try:
                while frame is not None:
                    if frame.sample_rate != rate:
                        resampler = resampler or StreamResampler(frame.sample_rate, rate)
                        frame = resampler.process(frame)
                    if frame.pcm:
                        yield frame
                    frame = await anext(audio, None)
                if resampler is not None and (tail := resampler.process(AudioFrame(b"", resampler.in_rate),
                                                                        last=True)).pcm:
                    yield tail
            except Exception:
                member.breaker.failure()
                raise
            finally:
                await _close(audio)
            return
        raise self.failover.exhausted(reasons)


async def _close(audio: AsyncIterator[AudioFrame]) -> None:
    if isinstance(audio, AsyncGenerator):
        await audio.aclose()
