"""Declarative flows from the agent row: IVR menus, slot-filling forms, a confirmation step and a final action.

A flow is `{"trigger": {"intents": [...], "dtmf": "1"}, "steps": [...]}` with steps of type
`menu` (options with digit/keywords → goto another flow or an action), `slot` (slot, kind, prompt),
`confirm` (prompt with {slot} placeholders), `say` (text) and `action` (book_appointment, take_message,
transfer, end_call). The runner is pure: it returns what to say and which action to run; the agent turn
runs the action and hands the result back with `action_result()`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from appliance.conversation import entities
from appliance.conversation.nlu import NluResult
from appliance.conversation.phrases import date_text, phrase, time_text

HINTED = ("date", "time", "phone", "email")
_CANCEL = re.compile(r"\b(cancel|stop|never mind|forget it|abbrechen|vergiss es)\b", re.IGNORECASE)


@dataclass(slots=True)
class FlowReply:
    """What the flow wants: words to say, optionally an action to run (with its arguments)."""

    say: str = ""
    action: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    done: bool = False


class FlowRunner:
    """Runs at most one flow at a time for one call (see module docstring)."""

    def __init__(self, flows: dict[str, Any], *, caller: str = "", today: dt.date | None = None,
                 max_reprompts: int = 2, language: str = "en") -> None:
        self.flows = flows
        self.language = language
        self.caller = caller
        self.today = today
        self.max_reprompts = max_reprompts
        self.name = ""
        self.index = 0
        self.slots: dict[str, Any] = {}
        self._reprompts = 0

    @property
    def active(self) -> bool:
        return bool(self.name)

    @property
    def step(self) -> dict[str, Any]:
        return dict(self.flows[self.name]["steps"][self.index])

    def trigger(self, nlu: NluResult | None = None, dtmf: str = "") -> str:
        """The flow this input starts, or ""."""
        for name, flow in self.flows.items():
            trig = flow.get("trigger", {})
            if dtmf and trig.get("dtmf") == dtmf:
                return name
            if nlu is not None and nlu.intent in trig.get("intents", []):
                return name
        return ""

    def start(self, name: str, nlu: NluResult | None = None, prefix: str = "") -> FlowReply:
        self.name, self.index, self.slots, self._reprompts = name, 0, {}, 0
        if nlu is not None:
            self._fill_from_entities(nlu.entities)
        return self._advance(prefix)

    def stop(self) -> None:
        self.name, self.index, self.slots = "", 0, {}

    def handle(self, text: str = "", nlu: NluResult | None = None, dtmf: str = "") -> FlowReply:
        """Feed one caller input (utterance or DTMF digit) to the active flow."""
        if not self.active:
            raise RuntimeError("no active flow")
        if text and _CANCEL.search(text):
            self.stop()
            return FlowReply(phrase(self.language, "cancelled"), done=True)
        step = self.step
        kind = step["type"]
        if kind == "menu":
            return self._menu(step, text, dtmf)
        if kind == "slot":
            if dtmf and step.get("kind") == "phone":
                text = (text + " " + dtmf).strip()
            return self._slot(step, text, nlu)
        if kind == "confirm":
            return self._confirm(step, text, dtmf)
        return self._advance()

    def action_result(self, result: dict[str, Any]) -> FlowReply:
        """Result of the action the flow asked for; may offer an alternative (e.g. the next free slot)."""
        if result.get("ok"):
            self.stop()
            return FlowReply(str(result.get("say", phrase(self.language, "done"))), done=True)
        offer = result.get("offer")
        if isinstance(offer, dict):
            self.slots.update(offer)
            self._go_to_confirm()
            text = str(result.get("say", phrase(self.language, "unavailable")))
            return FlowReply(f"{text} {self._fill(self.step['prompt'])}")
        self.stop()
        return FlowReply(str(result.get("say", phrase(self.language, "failed"))), done=True)

    # steps --------------------------------------------------------------------------------------------

    def _advance(self, prefix: str = "") -> FlowReply:
        """Skip filled slots; stop at the next question or action."""
        steps = self.flows[self.name]["steps"]
        said = [prefix] if prefix else []
        while self.index < len(steps):
            step = steps[self.index]
            kind = step["type"]
            if kind == "slot" and self._slot_done(step):
                self.index += 1
                continue
            if kind == "say":
                said.append(self._fill(step["text"]))
                self.index += 1
                continue
            if kind == "action":
                action = step["action"]
                args = {**self.slots, **step.get("args", {})}
                if action in ("transfer", "end_call"):
                    self.stop()
                return FlowReply(" ".join(said), action=action, args=args)
            said.append(self._fill(step["prompt"]))
            self._reprompts = 0
            return FlowReply(" ".join(said))
        self.stop()
        return FlowReply(" ".join(said), done=True)

    def _slot_done(self, step: dict[str, Any]) -> bool:
        if step["slot"] in self.slots:
            return True
        if step.get("optional_if_caller_id") and self.caller:
            phone = entities.parse_phone(self.caller)
            if phone:
                self.slots[step["slot"]] = phone
                return True
        return False

    def _menu(self, step: dict[str, Any], text: str, dtmf: str) -> FlowReply:
        lowered = text.lower()
        for option in step.get("options", []):
            hit = (dtmf and option.get("digit") == dtmf) or (
                not dtmf and (re.search(rf"\b{re.escape(option.get('digit', '#'))}\b", lowered)
                              or any(k in lowered for k in option.get("keywords", [])))
            )
            if hit:
                if "goto" in option:
                    return self.start(option["goto"])
                self.stop()
                return FlowReply(action=option["action"], args=dict(option.get("args", {})))
        lang = self.language
        what = phrase(lang, "not_an_option", digit=dtmf) if dtmf else phrase(lang, "no_choice")
        return self._reprompt(step, what)

    def _slot(self, step: dict[str, Any], text: str, nlu: NluResult | None) -> FlowReply:
        value = self._parse(step["kind"], text)
        if nlu is not None:
            self._fill_from_entities(nlu.entities)
        if value is None:
            if self._slot_done(step):
                self.index += 1
                return self._advance()
            hint = phrase(self.language, f"hint_{step['kind']}") if step["kind"] in HINTED else ""
            return self._reprompt(step, f"{phrase(self.language, 'not_caught')} {hint}".strip())
        self.slots[step["slot"]] = value
        self.index += 1
        return self._advance()

    def _confirm(self, step: dict[str, Any], text: str, dtmf: str) -> FlowReply:
        answer = {"1": True, "2": False}.get(dtmf) if dtmf else entities.parse_yes_no(text)
        if answer is None:
            return self._reprompt(step, phrase(self.language, "yes_or_no"))
        if answer:
            self.index += 1
            return self._advance()
        keep = set(step.get("keep_on_no", ["name", "phone"]))
        self.slots = {k: v for k, v in self.slots.items() if k in keep}
        self.index = 0
        return self._advance(phrase(self.language, "correct_it"))

    def _reprompt(self, step: dict[str, Any], what: str) -> FlowReply:
        self._reprompts += 1
        if self._reprompts > self.max_reprompts:
            self.stop()
            return FlowReply(phrase(self.language, "give_up"), action="transfer", done=True)
        return FlowReply(f"{what} {self._fill(step['prompt'])}".strip())

    def _go_to_confirm(self) -> None:
        steps = self.flows[self.name]["steps"]
        self.index = next(i for i, s in enumerate(steps) if s["type"] == "confirm")

    # values -------------------------------------------------------------------------------------------

    def _parse(self, kind: str, text: str) -> Any:
        if not text.strip():
            return None
        if kind == "date":
            day = entities.parse_date(text, today=self.today)
            return day.isoformat() if day else None
        if kind == "time":
            clock = entities.parse_time(text)
            return clock.strftime("%H:%M") if clock else None
        if kind == "phone":
            return entities.parse_phone(text)
        if kind == "email":
            return entities.parse_email(text)
        if kind == "name":
            return entities.parse_name(text)
        return text.strip()

    def _fill_from_entities(self, found: dict[str, Any]) -> None:
        if not self.active:
            return
        wanted = {s["kind"]: s["slot"] for s in self.flows[self.name]["steps"] if s["type"] == "slot"}
        for kind, value in found.items():
            if kind in wanted and wanted[kind] not in self.slots:
                self.slots[wanted[kind]] = value

    def _fill(self, template: str) -> str:
        values = {k: str(v) for k, v in self.slots.items()}
        if "date" in self.slots:
            values["date_text"] = date_text(self.language, dt.date.fromisoformat(self.slots["date"]))
        if "time" in self.slots:
            values["time_text"] = time_text(self.language, dt.time.fromisoformat(self.slots["time"]))
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), ""), template)
