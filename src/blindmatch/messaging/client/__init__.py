"""Async client SDK for the blindmatch reference messenger (httpx + websockets)."""

from blindmatch.messaging.client.client import MessengerClient, ReceivedMessage
from blindmatch.messaging.client.errors import (
    ClientError,
    ContactError,
    IdentityChangedError,
    RelayAPIError,
    StateError,
)
from blindmatch.messaging.client.hooks import before_media_send
from blindmatch.messaging.client.links import contains_link

__all__ = [
    "ClientError",
    "ContactError",
    "IdentityChangedError",
    "MessengerClient",
    "ReceivedMessage",
    "RelayAPIError",
    "StateError",
    "before_media_send",
    "contains_link",
]
