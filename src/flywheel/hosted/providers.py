"""Hosted providers by name: which environment variables they read, how a model name is spelled.

A hosted model is written ``provider:model`` - ``openai:text-embedding-3-small``,
``cohere:rerank-v3.5``, ``openai:gpt-4o-mini`` - and works anywhere a local model name does.
Credentials come from flags first, then the environment; a missing key or base URL fails with
the exact variable to set, before any work starts (not after an hour of encoding).

``openai`` is any OpenAI-compatible endpoint (OpenAI itself, Azure's v1 API, vLLM, Ollama,
LiteLLM...): set ``OPENAI_BASE_URL`` to point elsewhere.

``local`` is a causal language model run in this process (:mod:`flywheel.hosted.local_model`):
``local:gemma-3-270m``, ``local:path/to/model-folder`` or ``local:path/to/model.gguf``. It needs no
key, costs no dollars (its usage is the seconds it ran here) and sends nothing anywhere; its
"endpoint", part of every cache key, is the precision it runs in (``FLYWHEEL_LOCAL_DTYPE``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from flywheel.errors import ConfigError, MissingDependencyError, UnknownComponentError

LOCAL_DTYPE_ENV = "FLYWHEEL_LOCAL_DTYPE"
LOCAL_DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What a provider needs: its client package and the variables it reads."""

    name: str
    package: str
    key_env: str
    base_url_env: str
    default_base_url: str | None
    kinds: tuple[str, ...]  # "chat", "embed", "rerank", "choice"
    needs_key: bool = True
    extra: str = "hosted"  # the optional dependency group that brings ``package``
    in_process: bool = False  # usage is measured in seconds here, not billed in dollars


PROVIDERS: dict[str, ProviderSpec] = {
    "openai": ProviderSpec(
        "openai", "openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", None, ("chat", "embed")
    ),
    "cohere": ProviderSpec(
        "cohere", "cohere", "COHERE_API_KEY", "COHERE_BASE_URL", None, ("embed", "rerank", "chat")
    ),
    "local": ProviderSpec(
        "local",
        "transformers",
        "",
        LOCAL_DTYPE_ENV,
        None,
        ("chat", "choice"),
        needs_key=False,
        extra="local",
        in_process=True,
    ),
}


@dataclass(frozen=True, slots=True)
class Credentials:
    """A provider's resolved key and base URL (``None``: the client's own default)."""

    provider: str
    api_key: str
    base_url: str | None

    @property
    def endpoint(self) -> str:
        """Part of every cache key: the same model name on two endpoints is two models."""
        return self.base_url.rstrip("/") if self.base_url else "default"

    def __repr__(self) -> str:  # never print a key
        return f"Credentials({self.provider!r}, base_url={self.base_url!r})"


def is_hosted_model(name: str | None) -> bool:
    """True for ``provider:model`` with a known provider (``dense:...`` and paths are not)."""
    if not name or ":" not in name:
        return False
    return name.split(":", 1)[0] in PROVIDERS


def parse_model(name: str, *, kind: str | None = None) -> tuple[ProviderSpec, str]:
    """``"cohere:rerank-v3.5"`` -> (the cohere spec, ``"rerank-v3.5"``), checked."""
    provider, sep, model = name.partition(":")
    if not sep or not model:
        raise ConfigError(
            f"hosted model '{name}' must be written provider:model, e.g. "
            "openai:text-embedding-3-small or cohere:rerank-v3.5"
        )
    if provider not in PROVIDERS:
        raise UnknownComponentError("provider", provider, PROVIDERS)
    spec = PROVIDERS[provider]
    if kind is not None and kind not in spec.kinds:
        raise ConfigError(
            f"provider '{provider}' has no {kind} models here; it serves: {', '.join(spec.kinds)}"
        )
    return spec, model


def require_client(spec: ProviderSpec) -> None:
    """Fail with the extra to install when the provider's official client is missing."""
    if importlib.util.find_spec(spec.package) is None:
        raise MissingDependencyError(spec.package, spec.extra)


def resolve_credentials(
    provider: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    require_base_url: bool = False,
    require_key: bool = True,
) -> Credentials:
    """Key and base URL from the arguments, else the environment; a clear error when missing.

    ``require_key=False`` (pricing a dry run) accepts a missing key: the credentials then hold
    an empty key, and :func:`missing_key_error` is raised if anything tries to send with them.
    """
    if provider not in PROVIDERS:
        raise UnknownComponentError("provider", provider, PROVIDERS)
    spec = PROVIDERS[provider]
    require_client(spec)
    if not spec.needs_key:
        return _local_credentials(spec)
    key = api_key or os.environ.get(spec.key_env)
    url = base_url or os.environ.get(spec.base_url_env) or spec.default_base_url
    if not key and require_key:
        raise missing_key_error(provider)
    if require_base_url and not url:
        raise ConfigError(
            f"no base URL for provider '{provider}': set the environment variable "
            f"{spec.base_url_env} to the OpenAI-compatible endpoint (flywheel judge run, "
            "synth questions and fewshot experiment also take --base-url); nothing was sent"
        )
    return Credentials(provider, key or "", url)


def _local_credentials(spec: ProviderSpec) -> Credentials:
    """An in-process model: no key; the precision it runs in stands where a URL would."""
    dtype = os.environ.get(spec.base_url_env) or "float32"
    if dtype not in LOCAL_DTYPES:
        raise ConfigError(
            f"{spec.base_url_env}={dtype!r} is not a precision; "
            f"use one of {', '.join(LOCAL_DTYPES)}"
        )
    return Credentials(spec.name, "", f"in-process:{dtype}")


def missing_key_error(provider: str) -> ConfigError:
    """The one message for a missing key: the environment variable every command reads (the
    judge, synth and fewshot commands also take ``--api-key``); nothing was sent."""
    env = PROVIDERS[provider].key_env
    return ConfigError(
        f"no API key for provider '{provider}': export {env}=... (flywheel judge run, "
        "synth questions and fewshot experiment also take --api-key); nothing was sent"
    )
