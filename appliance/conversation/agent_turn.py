"""The agent's side of one turn: a flow step when a flow is active or triggered, a fixed answer for simple
intents (opening hours, goodbye, transfer), otherwise the LLM with the prompt, history, knowledge and tools.

`respond()` yields text pieces as they become available (the playout splits them into sentences); after it
finishes, `control` says whether the session should transfer or hang up once the words are played.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from appliance.agents import AgentConfig
from appliance.conversation.flows import FlowReply, FlowRunner
from appliance.conversation.nlu import NluResult, understand
from appliance.conversation.phrases import phrase
from appliance.conversation.splitter import SentenceSplitter
from appliance.conversation.tools import CallTools
from appliance.errors import ModelUnavailable
from appliance.events import EventBus, Intent, LlmFirstToken, StageError, ToolCalled
from appliance.scheduling import business_hours_text
from models.llm.base import LLM, ChatMessage

log = logging.getLogger(__name__)
HISTORY_TURNS = 6  # the 2k-token context of the embedded model holds about this much
MAX_LLM_SENTENCES = 3


@dataclass(frozen=True, slots=True)
class Control:
    """What the session does after the reply is played."""

    action: str  # "transfer" | "end_call"
    target: str = ""


class AgentTurn:
    """Decides and phrases the agent's replies for one call (see module docstring)."""

    def __init__(self, agent: AgentConfig, *, llm: LLM | None, tools: CallTools, bus: EventBus, call_id: str,
                 caller: str = "", today: dt.date | None = None) -> None:
        self.agent = agent
        self.llm = llm
        self.tools = tools
        self.bus = bus
        self.call_id = call_id
        self.today = today
        self.flow = FlowRunner(agent.flows, caller=caller, today=today, max_reprompts=agent.max_misses - 1,
                               language=agent.language)
        self.history: list[ChatMessage] = []
        self.control: Control | None = None
        self.misses = 0
        self.actions: list[dict[str, Any]] = []
        self.last_nlu: NluResult | None = None

    def record(self, user_text: str, played_text: str) -> None:
        """Keep only what the caller actually heard in the history."""
        if user_text:
            self.history.append(ChatMessage("user", user_text))
        if played_text:
            self.history.append(ChatMessage("assistant", played_text))

    async def respond(self, turn: int, text: str = "", dtmf: str = "") -> AsyncIterator[str]:
        self.control = None
        nlu = understand(text, today=self.today) if text else NluResult("dtmf" if dtmf else "empty")
        self.last_nlu = nlu
        self.bus.publish(Intent(call_id=self.call_id, turn=turn, intent=nlu.intent, entities=nlu.entities,
                                sentiment=nlu.sentiment))
        if not dtmf and _useless(text):
            async for piece in self._miss(turn):
                yield piece
            return
        self.misses = 0
        if nlu.intent == "goodbye" and not (self.flow.active and self.flow.step.get("kind") == "text"):
            self.flow.stop()
            self.control = Control("end_call")
            yield self.agent.goodbye
            return
        if nlu.intent == "transfer":
            self.flow.stop()
            yield await self._action(turn, "transfer", {})
            return
        if self.flow.active:
            reply = self.flow.handle(text, nlu, dtmf)
            yield await self._flow_reply(turn, reply)
            return
        name = self.flow.trigger(nlu, dtmf)
        if name:
            yield await self._flow_reply(turn, self.flow.start(name, nlu))
            return
        if dtmf:
            yield phrase(self.agent.language, "not_an_option", digit=dtmf)
            return
        if nlu.intent == "opening_hours":
            yield business_hours_text(self.agent.business_hours, self.agent.language)
            return
        async for piece in self._llm(turn, text, nlu):
            yield piece

    async def _miss(self, turn: int) -> AsyncIterator[str]:
        self.misses += 1
        if self.misses >= self.agent.max_misses:
            self.misses = 0
            self.flow.stop()
            yield phrase(self.agent.language, "miss_limit")
            if "message" in self.agent.flows:
                yield " " + self.flow.start("message").say
            return
        phrases = self.agent.fallback_phrases or (phrase(self.agent.language, "repeat"),)
        yield phrases[(self.misses - 1) % len(phrases)]

    async def _flow_reply(self, turn: int, reply: FlowReply) -> str:
        said = [reply.say] if reply.say else []
        hops = 0
        while reply.action and hops < 3:
            hops += 1
            result = await self._run_tool(turn, reply.action, reply.args)
            if result.get("control"):
                self.control = Control(str(result["control"]), str(result.get("target", "")))
                said.append(str(result.get("say", "")))
                break
            if result.get("fallback_flow") in self.agent.flows:
                reply = self.flow.start(str(result["fallback_flow"]), prefix=str(result.get("say", "")))
            elif self.flow.active:
                reply = self.flow.action_result(result)
            else:
                reply = FlowReply(str(result.get("say", "")))
            if reply.say:
                said.append(reply.say)
        return " ".join(s for s in said if s)

    async def _action(self, turn: int, name: str, args: dict[str, Any]) -> str:
        return await self._flow_reply(turn, FlowReply(action=name, args=args))

    async def _run_tool(self, turn: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await self.tools.run(name, args)
        except Exception as exc:  # a tool's failure must not kill the call; the caller hears an apology
            log.exception("tool %s failed", name, extra={"call_id": self.call_id})
            self.bus.publish(StageError(call_id=self.call_id, code="tool_failed", message=f"{name}: {exc}"))
            result = {"ok": False, "say": phrase(self.agent.language, "internal_error")}
        self.bus.publish(ToolCalled(call_id=self.call_id, turn=turn, tool=name, arguments=dict(args),
                                    result={k: v for k, v in result.items() if k != "hits"}, ok=bool(result.get("ok"))))
        self.actions.append({"tool": name, "arguments": dict(args), "result": result})
        return result

    async def _llm(self, turn: int, text: str, nlu: NluResult) -> AsyncIterator[str]:
        if self.llm is None:
            yield phrase(self.agent.language, "capabilities")
            return
        system = self.agent.system_prompt.replace("{org}", self.agent.organization_name) or (
            f"You are the receptionist of {self.agent.organization_name}. Answer briefly.")
        system += f" Today is {(self.today or dt.date.today()).strftime('%A, %B %d, %Y')}."
        if self.tools.knowledge is not None and self.agent.knowledge_enabled:
            found = await self._run_tool(turn, "search_knowledge", {"query": text})
            hits = found.get("hits") or []
            if hits:
                facts = "\n".join(f"- {h['text']}" for h in hits)
                system += f"\nUse these facts from the office's documents:\n{facts}"
        messages = [ChatMessage("system", system), *self.history[-2 * HISTORY_TURNS:], ChatMessage("user", text)]
        tools = self.tools.specs() if self.llm.capabilities.tool_calling else []
        first = True
        sentences = SentenceSplitter()
        spoken = 0
        stream = self.llm.stream(messages, tools=tools, max_tokens=self.agent.max_reply_tokens, temperature=0.3)
        try:
            async for delta in stream:
                if delta.tool_call is not None:
                    said = await self._action(turn, delta.tool_call.name, dict(delta.tool_call.arguments))
                    if said:
                        yield " " + said
                    continue
                if delta.text:
                    if first:
                        first = False
                        self.bus.publish(LlmFirstToken(call_id=self.call_id, turn=turn, backend=self.llm.name))
                    yield delta.text
                    spoken += len(sentences.push(delta.text))
                    if spoken >= MAX_LLM_SENTENCES:  # a phone answer is short; small models ramble on
                        break
        except ModelUnavailable as exc:
            self.bus.publish(StageError(call_id=self.call_id, code="llm_unavailable", message=str(exc)))
            yield phrase(self.agent.language, "llm_down")
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()  # stops generation in the model's worker


def _useless(text: str) -> bool:
    """Nothing a person said: empty, only punctuation, or Whisper's hallucinations on noise."""
    cleaned = "".join(c for c in text.lower() if c.isalnum() or c.isspace()).strip()
    return cleaned in ("", "you", "thank you for watching", "thanks for watching", "um", "uh", "hmm",
                       "untertitel im auftrag des zdf")
