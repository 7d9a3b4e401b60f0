"""The call's explicit state machine: which transitions are legal, and a record of when each happened."""

from __future__ import annotations

import enum
import logging

from appliance.errors import VocalIQError

log = logging.getLogger(__name__)


class CallState(enum.StrEnum):
    GREETING = "greeting"
    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    THINKING = "thinking"
    SPEAKING = "speaking"
    TRANSFERRING = "transferring"
    ENDING = "ending"
    ENDED = "ended"


S = CallState
_ALLOWED: dict[CallState, set[CallState]] = {
    S.GREETING: {S.SPEAKING, S.LISTENING, S.USER_SPEAKING, S.THINKING, S.ENDING},
    S.LISTENING: {S.USER_SPEAKING, S.THINKING, S.SPEAKING, S.TRANSFERRING, S.ENDING},
    S.USER_SPEAKING: {S.LISTENING, S.THINKING, S.ENDING},
    S.THINKING: {S.SPEAKING, S.LISTENING, S.USER_SPEAKING, S.TRANSFERRING, S.ENDING},
    S.SPEAKING: {S.LISTENING, S.USER_SPEAKING, S.THINKING, S.TRANSFERRING, S.ENDING},
    S.TRANSFERRING: {S.ENDING, S.LISTENING, S.SPEAKING},
    S.ENDING: {S.ENDED},
    S.ENDED: set(),
}


class IllegalTransition(VocalIQError):
    """A bug: the session tried a transition the state machine does not allow."""


class StateMachine:
    """Holds the current state; `to()` validates the transition and logs it with the call id."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.state = CallState.GREETING
        self.history: list[CallState] = [self.state]

    def to(self, new: CallState) -> None:
        if new == self.state:
            return
        if new not in _ALLOWED[self.state]:
            raise IllegalTransition(f"{self.state} -> {new}")
        log.debug("state %s -> %s", self.state, new, extra={"call_id": self.call_id})
        self.state = new
        self.history.append(new)

    @property
    def ended(self) -> bool:
        return self.state in (CallState.ENDING, CallState.ENDED)
