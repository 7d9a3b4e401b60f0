"""Twilio as a second transport beside SIP: a Twilio number's calls reach the same conversation engine.

- `settings`: per-organization account SID, numbers → agents, message SMS recipients (auth token: a secret file)
- `signature`: X-Twilio-Signature checks with the twilio library's RequestValidator
- `twiml`: the TwiML answers (`<Connect><Stream>`, reject, dial for transfers)
- `tokens`: per-call, single-use, expiring media-stream URLs
- `protocol`: the media-stream WebSocket messages (parse what Twilio sends, build what we send)
- `leg`: `TwilioCallLeg`, the CallLeg over one media stream
- `stream`: one media-stream WebSocket from `start` to close, running the call
- `rest`: Twilio's REST API (outbound calls, SMS, call updates) with a configurable base URL
- `status`: status callbacks → the call row
- `sms`: the SMS to staff after an agent took a message
- `router`: the HTTP/WebSocket endpoints (webhooks outside /api/v1, management inside it)
"""
