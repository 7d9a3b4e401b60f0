"""Twilio: webhooks and the media stream (/twilio/..., signed by Twilio, no JWT) and the organization's
Twilio settings and outbound calls (/api/v1/twilio/...). The code lives in appliance/twilio/router.py."""

from appliance.twilio.router import PREFIX, router, setup

__all__ = ["PREFIX", "router", "setup"]
