"""The management API (FastAPI, /api/v1): `create_app(settings)`; `vocaliq serve` runs it beside SIP."""

from appliance.api.app import create_app

__all__ = ["create_app"]
