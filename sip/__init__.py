"""SIP for VocalIQ: a pjsua2 user agent that turns INVITEs into `SipCallLeg`s (appliance.telephony.CallLeg).

Knows nothing of agents, models or the DB; `appliance/serve.py` wires it to the conversation engine.
Entry points: `sip.ua.SipUserAgent`, `sip.leg.SipCallLeg`, `sip.softphone` (a scripted caller).
"""
