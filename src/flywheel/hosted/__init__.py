"""Hosted models (OpenAI, Cohere and OpenAI-compatible servers) behind one careful client.

Everything here goes through :class:`HostedClient`: response cache, bounded concurrency,
retries with backoff honouring ``Retry-After``, timeouts, cost from an editable price table,
``--dry-run`` estimates and a ``--max-cost`` budget. The official ``openai`` and ``cohere``
clients are imported only when a call is made (``pip install 'rag-flywheel[hosted]'``).
"""

from flywheel.hosted.cache import ResponseCache
from flywheel.hosted.client import (
    HostedClient,
    Outcome,
    Request,
    chat_request,
    estimate_tokens,
)
from flywheel.hosted.prices import Price, PriceTable, Usage
from flywheel.hosted.providers import PROVIDERS, is_hosted_model, parse_model, resolve_credentials
from flywheel.hosted.retry import RetryPolicy
from flywheel.hosted.usage import LEDGER, Estimate, UsageMeter

__all__ = [
    "LEDGER",
    "PROVIDERS",
    "Estimate",
    "HostedClient",
    "Outcome",
    "Price",
    "PriceTable",
    "Request",
    "ResponseCache",
    "RetryPolicy",
    "Usage",
    "UsageMeter",
    "chat_request",
    "estimate_tokens",
    "is_hosted_model",
    "parse_model",
    "resolve_credentials",
]
