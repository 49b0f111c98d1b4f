"""One call to a provider through its official Python client, in and out as plain dicts.

An adapter per provider turns a request (``chat``, ``embed`` or ``rerank``, a JSON-able payload)
into a call on ``openai.OpenAI`` or ``cohere.ClientV2``, and the answer into a small result dict
plus a :class:`~flywheel.hosted.prices.Usage`; it also sorts exceptions into retry / item /
fatal (:class:`~flywheel.hosted.retry.Failure`). The clients' own retries are off: the
orchestrator (:mod:`flywheel.hosted.client`) retries under one policy and counts every retry.

Results:

* chat: ``{"text": str | None, "refusal": str | None, "finish_reason": str | None}``
* embed: ``{"vectors": base64 float32 rows, "dim": int, "count": int}``
* rerank: ``{"scores": [one score per document, in the order sent]}``
"""

from __future__ import annotations

import base64
import json
from typing import Any, Protocol

import numpy as np

from flywheel.hosted.local_model import LocalTransport
from flywheel.hosted.prices import Usage
from flywheel.hosted.providers import Credentials
from flywheel.hosted.retry import Failure, FailureKind, parse_retry_after


def pack_vectors(rows: Any) -> dict[str, Any]:
    matrix = np.asarray(rows, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"expected a matrix of embeddings, got shape {matrix.shape}")
    return {
        "vectors": base64.b64encode(matrix.tobytes()).decode("ascii"),
        "dim": int(matrix.shape[1]),
        "count": int(matrix.shape[0]),
    }


def unpack_vectors(result: dict[str, Any]) -> np.ndarray:
    flat = np.frombuffer(base64.b64decode(result["vectors"]), dtype=np.float32)
    return flat.reshape(int(result["count"]), int(result["dim"])).copy()


class Transport(Protocol):
    provider: str

    def call(self, kind: str, model: str, payload: dict[str, Any]) -> tuple[dict, Usage]: ...

    def classify(self, exc: BaseException) -> Failure: ...


def _status_failure(status: int | None, headers: Any, message: str, key_env: str) -> Failure:
    if status == 429 or (status is not None and status >= 500):
        return Failure(FailureKind.RETRY, message, status, parse_retry_after(headers))
    if status in (401, 403):
        return Failure(
            FailureKind.FATAL, f"{message}; check {key_env} (the key was refused)", status
        )
    if status == 404:
        return Failure(FailureKind.FATAL, f"{message}; check the model name and base URL", status)
    if status == 200:  # a body the client could not parse
        return Failure(FailureKind.RETRY, f"malformed response ({message})", status)
    return Failure(FailureKind.ITEM, message, status)


def _transport_failure(exc: BaseException) -> Failure | None:
    """Timeouts, dropped connections, truncated or non-JSON bodies: worth another try."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return Failure(FailureKind.RETRY, f"timeout ({exc})")
    if isinstance(exc, httpx.TransportError):
        return Failure(FailureKind.RETRY, f"connection error ({exc})")
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return Failure(FailureKind.RETRY, f"malformed response ({exc})")
    return None


class OpenAITransport:
    """``openai.OpenAI`` for chat completions and embeddings (any OpenAI-compatible server)."""

    provider = "openai"

    def __init__(self, credentials: Credentials, *, timeout: float) -> None:
        import openai

        self._openai = openai
        self.client = openai.OpenAI(
            api_key=credentials.api_key,
            base_url=credentials.base_url,
            timeout=timeout,
            max_retries=0,
        )

    def call(self, kind: str, model: str, payload: dict[str, Any]) -> tuple[dict, Usage]:
        if kind == "chat":
            response = self.client.chat.completions.create(model=model, **payload)
            choice = response.choices[0]
            usage = response.usage
            result = {
                "text": choice.message.content,
                "refusal": getattr(choice.message, "refusal", None),
                "finish_reason": choice.finish_reason,
            }
            return result, Usage(
                int(getattr(usage, "prompt_tokens", 0) or 0),
                int(getattr(usage, "completion_tokens", 0) or 0),
            )
        if kind == "embed":
            extra = {"dimensions": payload["dimensions"]} if payload.get("dimensions") else {}
            response = self.client.embeddings.create(
                model=model, input=list(payload["texts"]), **extra
            )
            rows = sorted(response.data, key=lambda d: d.index)
            if len(rows) != len(payload["texts"]):
                raise json.JSONDecodeError("embedding count does not match the input", "", 0)
            tokens = int(getattr(response.usage, "prompt_tokens", 0) or 0)
            return pack_vectors([r.embedding for r in rows]), Usage(tokens)
        raise ValueError(f"openai: unsupported request kind '{kind}'")

    def classify(self, exc: BaseException) -> Failure:
        o = self._openai
        if isinstance(exc, o.APITimeoutError):
            return Failure(FailureKind.RETRY, "timeout")
        if isinstance(exc, o.APIConnectionError):
            return Failure(FailureKind.RETRY, f"connection error ({exc})")
        if isinstance(exc, o.APIStatusError):
            return _status_failure(
                exc.status_code, exc.response.headers, str(exc), "OPENAI_API_KEY"
            )
        if isinstance(exc, o.APIResponseValidationError):
            return Failure(FailureKind.RETRY, f"malformed response ({exc})")
        return _transport_failure(exc) or Failure(FailureKind.FATAL, repr(exc))


class CohereTransport:
    """``cohere.ClientV2`` for rerank, embed and chat."""

    provider = "cohere"

    def __init__(self, credentials: Credentials, *, timeout: float) -> None:
        import cohere

        self._cohere = cohere
        kwargs: dict[str, Any] = {"api_key": credentials.api_key, "timeout": timeout}
        if credentials.base_url:
            kwargs["base_url"] = credentials.base_url
        self.client = cohere.ClientV2(**kwargs)
        self._options = {"max_retries": 0}

    def call(self, kind: str, model: str, payload: dict[str, Any]) -> tuple[dict, Usage]:
        if kind == "rerank":
            documents = list(payload["documents"])
            response = self.client.rerank(
                model=model,
                query=payload["query"],
                documents=documents,
                top_n=len(documents),
                request_options=self._options,
            )
            scores = [float("-inf")] * len(documents)
            for item in response.results:
                scores[item.index] = float(item.relevance_score)
            units = getattr(getattr(response.meta, "billed_units", None), "search_units", None)
            return {"scores": scores}, Usage(search_units=float(units or 1.0))
        if kind == "embed":
            response = self.client.embed(
                model=model,
                texts=list(payload["texts"]),
                input_type=payload.get("input_type", "search_document"),
                embedding_types=["float"],
                request_options=self._options,
            )
            billed = getattr(response.meta, "billed_units", None)
            tokens = int(getattr(billed, "input_tokens", 0) or 0)
            return pack_vectors(response.embeddings.float_), Usage(tokens)
        if kind == "chat":
            extra = {"stop_sequences": payload["stop"]} if payload.get("stop") else {}
            response = self.client.chat(
                model=model, messages=payload["messages"], request_options=self._options, **extra
            )
            parts = getattr(response.message, "content", None) or []
            text = "".join(getattr(p, "text", "") for p in parts) or None
            billed = getattr(getattr(response, "usage", None), "billed_units", None)
            return {"text": text, "refusal": None, "finish_reason": response.finish_reason}, Usage(
                int(getattr(billed, "input_tokens", 0) or 0),
                int(getattr(billed, "output_tokens", 0) or 0),
            )
        raise ValueError(f"cohere: unsupported request kind '{kind}'")

    def classify(self, exc: BaseException) -> Failure:
        from cohere.core.api_error import ApiError

        if isinstance(exc, ApiError):
            return _status_failure(exc.status_code, exc.headers, str(exc)[:300], "COHERE_API_KEY")
        return _transport_failure(exc) or Failure(FailureKind.FATAL, repr(exc))


TRANSPORTS: dict[str, type] = {
    "openai": OpenAITransport,
    "cohere": CohereTransport,
    "local": LocalTransport,
}


def make_transport(credentials: Credentials, *, timeout: float) -> Transport:
    return TRANSPORTS[credentials.provider](credentials, timeout=timeout)
