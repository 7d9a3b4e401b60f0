"""CallSession: one call from answer to hangup, as an explicit state machine over a CallLeg.

Three loops share the session: caller input (`listening.CallerAudio`: VAD, endpointing, speculative STT and
barge-in; or typed lines on a chat leg), leg events (DTMF, hangup, marks — the priority lane: they interrupt
playout at once), and the controller that turns each caller turn into an agent reply and speaks it. The
session knows nothing of SIP, Twilio or a specific model; everything is injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from appliance.agents import AgentConfig
from appliance.conversation import CallOutcome, CallServices
from appliance.conversation.agent_turn import AgentTurn
from appliance.conversation.listening import CallerAudio
from appliance.conversation.phrases import phrase
from appliance.conversation.playout import Playout, TextChannel
from appliance.conversation.state import CallState, StateMachine
from appliance.conversation.tools import CallTools
from appliance.events import CallEnded, CallStarted, Dtmf, StageError, Transcript, Transferred
from appliance.logs import call_context
from appliance.telephony import CallLeg, HangupReason, LegDtmf, LegHangup, PlayoutMark, TransferResult
from models.failover import model_events

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _UserTurn:
    text: str = ""
    dtmf: str = ""
    typed: bool = False  # from a text leg: its Transcript is published when the turn is taken


@dataclass(frozen=True, slots=True)
class _Hangup:
    reason: HangupReason


_Input = _UserTurn | _Hangup


async def _aiter_text(items: Any) -> Any:
    for item in items:
        yield item


class CallSession:
    """See module docstring. Create one per answered call and `await run()`."""

    def __init__(self, leg: CallLeg, *, services: CallServices, agent: AgentConfig, transport: str,
                 today: dt.date | None = None, backoffice: Any = None) -> None:
        self.leg = leg
        self.services = services
        self.agent = agent
        self.transport = transport
        self.call_id = leg.call_id
        self.bus = services.bus
        self.sm = StateMachine(self.call_id)
        self.text_mode = isinstance(leg, TextChannel)
        models = services.models
        self.stt = None if self.text_mode else getattr(models, "stt", None)
        self.tts = None if self.text_mode else getattr(models, "tts", None)
        # the agent's own organization wins: one box may serve several tenants
        self.org_id = agent.organization_id if agent.organization_id is not None else services.organization_id
        if backoffice is None and services.db is not None:
            from appliance.conversation.backoffice import DbBackoffice

            backoffice = DbBackoffice(services.db, self.org_id, agent_id=agent.id, timezone=agent.timezone)
        knowledge = None
        if services.knowledge is not None and agent.knowledge_enabled:
            knowledge = services.knowledge.for_org(self.org_id)
        # `today` pins the calendar (tests, replays); availability then starts at that day's midnight
        now = dt.datetime.combine(today, dt.time(0, 0)) if today is not None else None
        self.tools = CallTools(agent, backoffice=backoffice, knowledge=knowledge, call_id=self.call_id,
                               caller=leg.caller, now=now)
        self.brain = AgentTurn(agent, llm=getattr(models, "llm", None), tools=self.tools, bus=self.bus,
                               call_id=self.call_id, caller=leg.caller, today=today)
        self.playout = Playout(leg, self.tts, self.bus)
        self.inputs: asyncio.Queue[_Input] = asyncio.Queue()
        self.turn = 0
        self.reason = HangupReason.CALLER_HANGUP
        self.transferred_to = ""
        self._started = time.monotonic()
        self._hung_up = asyncio.Event()
        self._ready = asyncio.Event()  # the controller waits for caller input
        self.listener: CallerAudio | None = None

    def _phrase(self, key: str) -> str:
        return phrase(self.agent.language, key)

    # lifecycle ---------------------------------------------------------------------------------------

    async def run(self) -> CallOutcome:
        unsubscribe = None
        if self.services.db is not None:  # calls, turns and events rows, written as the call goes
            from appliance.conversation.recorder import CallRecorder

            recorder = CallRecorder(self.services.db, self.org_id, agent=self.agent, transport=self.transport)
            unsubscribe = self.bus.subscribe(recorder.for_call(self.call_id))
        try:
            return await self._run()
        finally:
            if unsubscribe is not None:
                unsubscribe()

    async def _run(self) -> CallOutcome:
        with call_context(self.call_id), model_events(self.bus, self.call_id):  # failovers land in this call
            self.bus.publish(CallStarted(call_id=self.call_id, direction=str(self.leg.direction),
                                         caller=self.leg.caller, callee=self.leg.callee, agent=self.agent.name,
                                         transport=self.transport))
            loops = [asyncio.create_task(self._events_loop(), name="leg-events"),
                     asyncio.create_task(self._input_loop(), name="caller-input")]
            try:
                await asyncio.wait_for(self._converse(), timeout=self.agent.max_call_s)
            except TimeoutError:
                self.reason = HangupReason.MAX_DURATION
                await self.playout.interrupt()
                await self._say_safely(f"{self._phrase('max_duration')} {self.agent.goodbye}")
            except asyncio.CancelledError:
                self.reason = HangupReason.SHUTDOWN
                raise
            except Exception as exc:
                log.exception("call failed")
                self.reason = HangupReason.ERROR
                self.bus.publish(StageError(call_id=self.call_id, code="session_failed", message=str(exc)))
            finally:
                await self._finish(loops)
        return CallOutcome(self.call_id, self.reason, turns=self.turn, duration_s=time.monotonic() - self._started,
                           transferred_to=self.transferred_to, actions=list(self.brain.actions))

    async def _finish(self, loops: list[asyncio.Task[Any]]) -> None:
        self.sm.to(CallState.ENDING)
        if self.playout.busy:
            with contextlib.suppress(Exception):
                await self.playout.interrupt()
        for task in loops:
            task.cancel()
        if self.listener is not None:
            self.listener.close()
        for task in loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.reason not in (HangupReason.CALLER_HANGUP, HangupReason.TRANSFERRED):
            with contextlib.suppress(Exception):
                await self.leg.hangup(self.reason)
        self.sm.to(CallState.ENDED)
        self.bus.publish(CallEnded(call_id=self.call_id, reason=str(self.reason),
                                   duration_s=round(time.monotonic() - self._started, 3)))

    async def _converse(self) -> None:
        await self._speak(0, self.agent.greeting_text(), user_text="")
        no_input = 0
        while not self.sm.ended:
            self._ready.set()
            try:
                item = await asyncio.wait_for(self.inputs.get(), timeout=self.agent.no_input_timeout_s)
            except TimeoutError:
                if self.sm.state == CallState.USER_SPEAKING:
                    continue
                no_input += 1
                if no_input > self.agent.no_input_prompts:
                    self.reason = HangupReason.NO_INPUT
                    await self._speak(self.turn, f"{self._phrase('no_input_end')} {self.agent.goodbye}",
                                      user_text="")
                    return
                await self._speak(self.turn, self._phrase("still_there"), user_text="")
                continue
            if isinstance(item, _Hangup):
                self.reason = item.reason
                return
            no_input = 0
            self.turn += 1
            if item.typed:
                self.bus.publish(Transcript(call_id=self.call_id, turn=self.turn, text=item.text))
            self.sm.to(CallState.THINKING)
            pieces = self.brain.respond(self.turn, item.text, item.dtmf)
            await self._speak(self.turn, pieces, user_text=item.text or f"[DTMF {item.dtmf}]")
            control = self.brain.control
            if control is not None and not self.sm.ended and self.sm.state != CallState.USER_SPEAKING:
                if control.action == "end_call":
                    self.reason = HangupReason.AGENT_HANGUP
                    return
                if control.action == "transfer" and await self._transfer(control.target):
                    return

    async def _speak(self, turn: int, text_or_pieces: Any, *, user_text: str) -> None:
        pieces = _aiter_text([text_or_pieces]) if isinstance(text_or_pieces, str) else text_or_pieces
        if self.sm.state != CallState.USER_SPEAKING:
            self.sm.to(CallState.SPEAKING)
        self.playout.last_cut = None
        task = asyncio.create_task(self.playout.speak(turn, pieces), name=f"playout-{turn}")
        await asyncio.wait({task})
        if task.cancelled():  # interrupted: keep only what the caller heard
            cut = self.playout.last_cut
            self.brain.record(user_text, cut.played_text if cut is not None else "")
            return
        exc = task.exception()
        if exc is not None:
            raise exc
        self.brain.record(user_text, task.result().played_text)
        if self.sm.state == CallState.SPEAKING:
            self.sm.to(CallState.LISTENING)

    async def _say_safely(self, text: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._speak(self.turn, text, user_text=""), timeout=15)

    async def _transfer(self, target: str) -> bool:
        self.sm.to(CallState.TRANSFERRING)
        result = await self.leg.transfer(target)
        self.bus.publish(Transferred(call_id=self.call_id, target=target, ok=result.ok, detail=result.detail))
        if result.ok:
            self.reason = HangupReason.TRANSFERRED
            self.transferred_to = target
            return True
        self.sm.to(CallState.SPEAKING)
        await self._speak(self.turn, self._phrase("transfer_failed"), user_text="")
        if "message" in self.agent.flows:
            await self._speak(self.turn, self.brain.flow.start("message").say, user_text="")
        return False

    # priority lane -------------------------------------------------------------------------------------

    async def _interrupt(self) -> None:
        result = await self.playout.interrupt()
        if result is not None:
            log.info("agent cut off on turn %d: heard %d of %d chars", self.turn, len(result.played_text),
                     len(result.planned_text))

    async def _events_loop(self) -> None:
        async for event in self.leg.events():
            if isinstance(event, PlayoutMark):
                self.playout.on_mark(event.name)
            elif isinstance(event, LegDtmf):
                self.bus.publish(Dtmf(call_id=self.call_id, digit=event.digit))
                await self._interrupt()
                self.inputs.put_nowait(_UserTurn(dtmf=event.digit))
            elif isinstance(event, LegHangup):
                self._hung_up.set()
                await self._interrupt()
                self.inputs.put_nowait(_Hangup(event.reason))
                return
            elif isinstance(event, TransferResult):
                log.info("transfer result %s ok=%s", event.status, event.ok)
        if not self._hung_up.is_set():  # the leg ended without a hangup event: hung up from outside (the API)
            self._hung_up.set()
            await self._interrupt()  # never wait for marks of audio a dead leg will not play
            self.inputs.put_nowait(_Hangup(getattr(self.leg, "hangup_reason", None) or HangupReason.CALLER_HANGUP))

    async def _input_loop(self) -> None:
        if isinstance(self.leg, TextChannel):
            lines = aiter(self.leg.text_input())
            while True:  # a chat takes the next line when the agent is ready for it: no barge-in in text
                await self._ready.wait()
                try:
                    line = await anext(lines)
                except StopAsyncIteration:
                    break
                self._ready.clear()
                if isinstance(line, LegDtmf):
                    self.bus.publish(Dtmf(call_id=self.call_id, digit=line.digit))
                    self.inputs.put_nowait(_UserTurn(dtmf=line.digit))
                else:
                    self.inputs.put_nowait(_UserTurn(text=line, typed=True))
            self.inputs.put_nowait(_Hangup(HangupReason.CALLER_HANGUP))
            return
        self.listener = CallerAudio(
            call_id=self.call_id, agent=self.agent, vad=self.services.models.new_vad, stt=self.stt, bus=self.bus,
            sm=self.sm, barge_in=self._interrupt, on_utterance=lambda text: self.inputs.put_nowait(_UserTurn(text)),
            next_turn=lambda: self.turn + 1)
        await self.listener.run(self.leg.frames())
        if not self._hung_up.is_set():
            self.inputs.put_nowait(_Hangup(getattr(self.leg, "hangup_reason", None) or HangupReason.CALLER_HANGUP))
