"""The TwiML documents we answer Twilio with (built with the twilio library, never by string pasting)."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, VoiceResponse

CONTENT_TYPE = "application/xml"


def connect_stream(url: str) -> str:
    """Bridge the call to our media-stream WebSocket at `url` (bidirectional). Nothing follows the <Connect>:
    when we close the stream the call ends."""
    response = VoiceResponse()
    connect = Connect()
    connect.stream(url=url)
    response.append(connect)
    return str(response)


def reject(reason: str = "busy") -> str:
    """Refuse the call before it is answered ("busy" or "rejected"): what admission control answers."""
    response = VoiceResponse()
    response.reject(reason=reason)
    return str(response)


def dial(target: str) -> str:
    """Send the caller on to a number or SIP URI: what a transfer replaces the running TwiML with."""
    response = VoiceResponse()
    if target.startswith(("sip:", "sips:")):
        response.dial().sip(target)
    else:
        response.dial(target)
    return str(response)
