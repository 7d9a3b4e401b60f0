"""VocalIQ appliance: call sessions, storage, API and services around the voice agent."""

__version__ = "0.1.0"
