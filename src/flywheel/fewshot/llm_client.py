"""A chat-completions client for few-shot experiments: the official ``openai`` client, cached.

Any OpenAI-compatible endpoint works (OpenAI, vLLM, llama.cpp, Ollama, a test's local server).
Where it is: ``base_url=`` or ``FLYWHEEL_LLM_BASE_URL`` or ``OPENAI_BASE_URL``; the key:
``api_key=`` or ``FLYWHEEL_LLM_API_KEY`` or ``OPENAI_API_KEY`` (a local server with no key gets
``"EMPTY"``, as vLLM expects). Retries are the ``openai`` client's own: connection errors, 408,
409, 429 and 5xx are retried with exponential backoff, ``max_retries`` times.

Responses are cached on disk (``$FLYWHEEL_CACHE/llm``), keyed by endpoint, model, messages and
sampling settings, so re-running an experiment, or adding one variant to it, only pays for the
prompts that are new. Cached answers are only valid for deterministic settings; that is why the
default temperature is 0.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel import settings
from flywheel._internal.hashing import text_hash
from flywheel._internal.io import write_json
from flywheel._internal.progress import task
from flywheel.errors import ConfigError, FlywheelError, MissingDependencyError

logger = logging.getLogger(__name__)


class LLMError(FlywheelError):
    """The endpoint refused or failed a request after every retry."""


@dataclass(frozen=True)
class Completion:
    text: str
    cached: bool


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class ChatClient:
    """``ChatClient("gpt-4o-mini").complete("2+2?")``; ``complete_many`` runs prompts in threads."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
        max_retries: int = 3,
        timeout: float = 60.0,
        concurrency: int = 4,
        cache_dir: Path | None = None,
        use_cache: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.base_url = base_url or _env("FLYWHEEL_LLM_BASE_URL", "OPENAI_BASE_URL")
        self.api_key = api_key or _env("FLYWHEEL_LLM_API_KEY", "OPENAI_API_KEY")
        if self.api_key is None:
            if self.base_url is None:
                raise ConfigError(
                    "no LLM endpoint configured; set FLYWHEEL_LLM_BASE_URL (an OpenAI-compatible "
                    "server) or OPENAI_API_KEY (api.openai.com)"
                )
            self.api_key = "EMPTY"
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.timeout = timeout
        self.concurrency = concurrency
        self.cache_dir = Path(cache_dir) if cache_dir else settings.cache_dir() / "llm"
        self.use_cache = use_cache
        self.requests = 0
        self.cache_hits = 0
        self._lock = threading.Lock()
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                from openai import OpenAI
            except ImportError:
                raise MissingDependencyError("openai", extra="dev") from None
            self._client = OpenAI(
                base_url=self.base_url,
                api_key=self.api_key,
                max_retries=self.max_retries,
                timeout=self.timeout,
            )
        return self._client

    def _messages(self, prompt: str, system: str | None) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": system}] if system else []
        return [*messages, {"role": "user", "content": prompt}]

    def _key(self, messages: list[dict[str, str]]) -> str:
        payload = {
            "base_url": self.base_url or "https://api.openai.com/v1",
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        return text_hash(json.dumps(payload, sort_keys=True, ensure_ascii=False))

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def complete(self, prompt: str, *, system: str | None = None) -> Completion:
        """The model's reply to ``prompt`` (from the cache when this exact request was made)."""
        messages = self._messages(prompt, system)
        key = self._key(messages)
        path = self._cache_path(key)
        if self.use_cache and path.is_file():
            with self._lock:
                self.cache_hits += 1
            return Completion(json.loads(path.read_text(encoding="utf-8"))["text"], cached=True)
        from openai import APIError, APIStatusError

        try:
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
            )
        except APIStatusError as exc:
            fix = (
                "check FLYWHEEL_LLM_API_KEY / OPENAI_API_KEY"
                if exc.status_code in (401, 403)
                else "check the model name and FLYWHEEL_LLM_BASE_URL"
            )
            raise LLMError(
                f"{self.base_url or 'api.openai.com'} answered {exc.status_code} for model "
                f"'{self.model}' after {self.max_retries} retries ({exc.message}); {fix}"
            ) from None
        except APIError as exc:
            raise LLMError(
                f"no answer from {self.base_url or 'api.openai.com'} after {self.max_retries} "
                f"retries ({exc}); check that the server is running and reachable"
            ) from None
        with self._lock:
            self.requests += 1
        text = response.choices[0].message.content or ""
        if self.use_cache:
            write_json(path, {"text": text, "model": self.model})
        return Completion(text, cached=False)

    def complete_many(
        self, prompts: Sequence[str], *, system: str | None = None, description: str = "LLM"
    ) -> list[Completion]:
        """Replies in the order of ``prompts``, ``concurrency`` requests at a time."""
        out: list[Completion | None] = [None] * len(prompts)
        with task(description, len(prompts)) as advance:

            def run(index: int) -> None:
                out[index] = self.complete(prompts[index], system=system)
                advance(1)

            if self.concurrency == 1:
                for index in range(len(prompts)):
                    run(index)
            else:
                with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                    list(pool.map(run, range(len(prompts))))
        return [c for c in out if c is not None]
