"""The capture SDK: :class:`Logger` sends a live app's events to a store or a server."""

from flywheel.sdk.delivery import Refusal
from flywheel.sdk.logger import BufferFullError, Logger, LoggerReport
from flywheel.sdk.spool import read_spool
from flywheel.sdk.transport import (
    CaptureError,
    HTTPTransport,
    RejectedError,
    StoreTransport,
    TransientError,
)

__all__ = [
    "BufferFullError",
    "CaptureError",
    "HTTPTransport",
    "Logger",
    "LoggerReport",
    "Refusal",
    "RejectedError",
    "StoreTransport",
    "TransientError",
    "read_spool",
]
