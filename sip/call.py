"""pjsua2 subclasses that live on the PJSIP thread: `SipCall` and `SipAccount`.

They translate pjsua2 callbacks into calls on the `SipCallLeg` (which hops to asyncio) and on the user agent.
Every callback catches its own errors: an exception escaping into PJSIP's C stack would abort the process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from sip.media import BridgePort

if TYPE_CHECKING:
    from sip.leg import SipCallLeg

log = logging.getLogger(__name__)


class SipCall(pj.Call):  # type: ignore[misc]
    """One pjsua2 call; `leg` is set for calls we answer or place, None for calls we reject."""

    def __init__(self, owner: Any, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.account = account
        self.owner = owner  # SipUserAgent: gets on_pj_disconnected
        self.leg: SipCallLeg | None = None
        self.port: BridgePort | None = None
        self.confirmed = False
        self.ptime_ms = 20
        self.srtp = False  # our last SDP carried SRTP keys (as answerer: the call's media is encrypted)

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        try:
            info = self.getInfo()
            if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
                self.confirmed = True
                if self.leg is not None:
                    self.leg.pj_confirmed()
            elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                if self.leg is not None:
                    self.leg.pj_disconnected(info.lastStatusCode, info.lastReason, self.confirmed)
                self.owner.on_pj_disconnected(self, info.callIdString)
        except Exception:
            log.exception("onCallState failed")

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        try:
            if self.leg is None:
                return
            info = self.getInfo()
            for index, media in enumerate(info.media):
                if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                    continue
                audio = self.getAudioMedia(index)
                if self.port is None:
                    self.port = BridgePort(self.leg, self.leg.sample_rate, self.ptime_ms)
                    self.port.create(f"leg-{self.leg.call_id[:8]}")
                audio.startTransmit(self.port)
                self.port.startTransmit(audio)
        except Exception:
            log.exception("onCallMediaState failed")

    def onCallSdpCreated(self, prm: pj.OnCallSdpCreatedParam) -> None:
        try:
            self.srtp = "a=crypto:" in prm.sdp.wholeSdp
            if self.leg is not None:
                self.leg.srtp = self.srtp
        except Exception:
            log.exception("onCallSdpCreated failed")

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        if self.leg is not None:
            self.leg.pj_dtmf(prm.digit)

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        try:
            if prm.finalNotify and self.leg is not None:
                self.leg.pj_transfer_status(prm.statusCode, prm.reason)
                prm.cont = False
        except Exception:
            log.exception("onCallTransferStatus failed")

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:
        try:
            if not self.owner.follow_transfers:
                prm.statusCode = 603  # the appliance never follows a REFER: a caller cannot move the agent
                return
            new = SipCall(self.owner, self.account)  # a softphone follows it, like a desk phone would
            new.ptime_ms = self.ptime_ms
            self.owner.on_pj_transfer_call(new, prm.dstUri)
            prm.newCall = new
        except Exception:
            log.exception("onCallTransferRequest failed")
            prm.statusCode = 500


class SipAccount(pj.Account):  # type: ignore[misc]
    """The local identity (no registration) or one registering trunk."""

    def __init__(self, owner: Any, trunk: str = "") -> None:
        super().__init__()
        self.owner = owner  # SipUserAgent: gets on_pj_incoming / on_pj_reg_state
        self.trunk = trunk
        self.registered = False
        self.reg_status = 0
        self.reg_reason = ""

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        try:
            self.owner.on_pj_incoming(self, prm)
        except Exception:
            log.exception("onIncomingCall failed")

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        try:
            info = self.getInfo()
            self.registered = bool(info.regIsActive)
            self.reg_status, self.reg_reason = prm.code, prm.reason
            self.owner.on_pj_reg_state(self)
        except Exception:
            log.exception("onRegState failed")
