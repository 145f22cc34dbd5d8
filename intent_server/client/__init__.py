"""Talk to a running intent server: the typed Python client and the `intent-client` command."""

from intent_server.client.client import (
    DEFAULT_TARGET,
    Classification,
    Entity,
    IntentClient,
    IntentClientError,
    IntentScore,
    ModelDetails,
)

__all__ = [
    "DEFAULT_TARGET",
    "Classification",
    "Entity",
    "IntentClient",
    "IntentClientError",
    "IntentScore",
    "ModelDetails",
]
