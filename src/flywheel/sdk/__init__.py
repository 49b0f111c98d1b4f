"""The capture SDK: :class:`Logger` sends a live app's events to a store or a server."""

from flywheel.sdk.logger import Logger
from flywheel.sdk.transport import (
    CaptureError,
    HTTPTransport,
    RejectedError,
    StoreTransport,
    TransientError,
)

__all__ = [
    "CaptureError",
    "HTTPTransport",
    "Logger",
    "RejectedError",
    "StoreTransport",
    "TransientError",
]
