"""The API's routers, included by `create_app` in this order.

Add one: write `appliance/api/routers/<name>.py` with `router = APIRouter(tags=[...])` (paths relative to
/api/v1; set a module-level `PREFIX = ""` for routes outside it, e.g. Twilio's webhooks), optionally
`setup(app)` to register startup/shutdown hooks on `app.state.on_startup`/`on_shutdown`, then add its name here.
"""

ROUTERS: tuple[str, ...] = (
    "health",
    "auth",
    "organizations",
    "users",
    "api_keys",
    "admin",
    "webhooks",
    "gdpr",
    "audio",
    "knowledge",
    "chat",
    "agents",
    "trunks",
    "routes",
    "calls",
    "call_control",
    "calendar",
    "contacts",
    "messages",
    "twilio",
    "live",
    "calendar_feed",
)
