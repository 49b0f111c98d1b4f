"""The one way the toolkit calls a hosted model: cached, bounded, retried, metered, budgeted.

``HostedClient("openai:gpt-4o-mini", kind="chat").run(requests)`` answers a list of requests
in order. For each request it first looks in the :class:`~flywheel.hosted.cache.ResponseCache`
(a replayed answer costs nothing); the rest go to the provider on at most ``concurrency``
threads, each retried under the :class:`~flywheel.hosted.retry.RetryPolicy`. Before a call is
sent, its estimated cost is reserved against ``max_cost``; once the budget would be passed no
new call starts, the calls in flight finish, and everything bought stays in the cache
(``meter.budget_stopped`` says so). A fatal failure (a refused key) stops the run the same way
and raises :class:`~flywheel.errors.ProviderError`. Credentials are checked in the constructor,
before any work.

An in-process provider (``local:...``) goes through the same cache, meter and ledger; its
transport answers ``batch_size`` requests per call (one padded forward pass) on one thread, and
its usage is reported as the seconds it ran on this machine (its dollar cost is zero).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flywheel._internal.progress import progress_enabled
from flywheel.errors import ConfigError, ProviderError
from flywheel.hosted.cache import ResponseCache, request_hash
from flywheel.hosted.prices import PriceTable, Usage
from flywheel.hosted.providers import missing_key_error, parse_model, resolve_credentials
from flywheel.hosted.retry import FailureKind, RetryPolicy
from flywheel.hosted.transport import Transport, make_transport
from flywheel.hosted.usage import Estimate, UsageMeter

logger = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4  # estimate for --dry-run; real calls are billed on the provider's count


def estimate_tokens(text: str) -> int:
    """Rough token count for estimates (about four characters per token in English)."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


@dataclass(frozen=True)
class Request:
    """One call to make. Estimates feed ``--dry-run`` and the budget reservation."""

    kind: str
    payload: dict[str, Any]
    est_input_tokens: int = 0
    est_output_tokens: int = 0
    est_search_units: float = 0.0

    @property
    def est_usage(self) -> Usage:
        return Usage(self.est_input_tokens, self.est_output_tokens, self.est_search_units)


@dataclass
class Outcome:
    """A request's answer (``result``), or why there is none (``error``)."""

    result: dict[str, Any] | None
    error: str | None = None
    cached: bool = False
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.result is not None


def chat_request(
    prompt: str,
    *,
    max_tokens: int,
    temperature: float,
    system: str | None = None,
    stop: Sequence[str] | None = None,
) -> Request:
    """One chat turn (optional system message, then ``prompt``) as a :class:`Request`.

    The payload is the cache key, so values are kept exactly as given (``0`` and ``0.0`` hash
    differently): callers that always sent ``temperature=0`` keep their cached answers, and
    ``stop`` (strings that end the reply, e.g. a line end for a base model continuing a
    few-shot pattern) enters the payload only when given.
    """
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    payload: dict[str, Any] = {
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    if stop:
        payload["stop"] = list(stop)
    return Request(
        "chat",
        payload,
        est_input_tokens=estimate_tokens(prompt) + (estimate_tokens(system) if system else 0),
        est_output_tokens=max_tokens,
    )


def choice_request(prompt: str, choices: Sequence[str]) -> Request:
    """Pick one of ``choices`` as the continuation of ``prompt`` by its log-likelihood.

    Constrained choice is how a small base model is read for a label or a grade: each
    candidate's tokens are scored after the prompt and the most likely one wins. Only
    in-process providers serve it (``local:...``).
    """
    return Request(
        "choice",
        {"prompt": prompt, "choices": list(choices)},
        est_input_tokens=estimate_tokens(prompt) + sum(estimate_tokens(c) for c in choices),
    )


BUDGET_REASON = "not sent: --max-cost budget reached"


class HostedClient:
    """Calls one hosted ``provider:model``; see the module docstring."""

    def __init__(
        self,
        model: str,
        *,
        kind: str,
        api_key: str | None = None,
        base_url: str | None = None,
        require_base_url: bool = False,
        require_key: bool = True,
        concurrency: int = 4,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        cache: ResponseCache | str | Path | None = None,
        prices: PriceTable | str | Path | None = None,
        max_cost: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: Transport | None = None,
        batch_size: int = 8,
    ) -> None:
        spec, self.model = parse_model(model, kind=kind)
        self.provider = spec.name
        self.in_process = spec.in_process
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.kind = kind
        if concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        if max_cost is not None and max_cost < 0:
            raise ConfigError(f"--max-cost must be >= 0, got {max_cost}")
        self.credentials = resolve_credentials(
            self.provider,
            api_key=api_key,
            base_url=base_url,
            require_base_url=require_base_url,
            require_key=require_key,
        )
        self.prices = prices if isinstance(prices, PriceTable) else PriceTable.load(prices)
        if max_cost is not None:
            self.prices.require(self.provider, self.model)
        self.max_cost = max_cost
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.cache = cache if isinstance(cache, ResponseCache) else ResponseCache(cache)
        self.meter = UsageMeter(self.provider, self.model, in_process=spec.in_process)
        self._sleep = sleep
        self._transport = transport
        self._transport_lock = threading.Lock()
        self._reserved = 0.0
        self._budget_lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def transport(self) -> Transport:
        with self._transport_lock:
            if self._transport is None:
                needs_key = not self.in_process
                if needs_key and not self.credentials.api_key:  # a dry-run client never sends
                    raise missing_key_error(self.provider)
                self._transport = make_transport(self.credentials, timeout=self.timeout)
            return self._transport

    def _key(self, request: Request) -> tuple[str, str, str, str]:
        return (
            self.provider,
            self.credentials.endpoint,
            self.model,
            request_hash(request.kind, request.payload),
        )

    def cost(self, usage: Usage) -> float | None:
        return self.prices.cost(self.provider, self.model, usage)

    # -- estimates -----------------------------------------------------------------------------
    def estimate(self, requests: Sequence[Request]) -> Estimate:
        """What running ``requests`` would send and cost; nothing is sent."""
        todo = [r for r in requests if self._key(r) not in self.cache]
        usage = sum((r.est_usage for r in todo), Usage())
        return Estimate(
            model=self.name,
            requests=len(requests),
            cached=len(requests) - len(todo),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            search_units=usage.search_units,
            cost_usd=self.cost(usage),
        )

    # -- running -------------------------------------------------------------------------------
    def run(self, requests: Sequence[Request], *, description: str = "") -> list[Outcome]:
        """Answer every request (cache first, then the provider); order is kept."""
        outcomes: list[Outcome | None] = [None] * len(requests)
        pending: list[int] = []
        for i, request in enumerate(requests):
            hit = self.cache.get(*self._key(request))
            if hit is None:
                pending.append(i)
                continue
            self.meter.add_cached(hit.usage, self.cost(hit.usage), hit.latency_s)
            outcomes[i] = Outcome(hit.result, cached=True, usage=hit.usage, latency_s=hit.latency_s)
        fatal: list[str] = []
        label = description or f"{self.name} ({self.kind})"
        with _bar(label, len(requests), self.meter) as advance:
            advance(len(requests) - len(pending))
            if pending and hasattr(self.transport, "call_batch"):
                self._run_batches(requests, pending, outcomes, fatal, advance)
                pending = []
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                running: dict[Future, int] = {}
                queue = iter(pending)
                stopped = False
                while True:
                    while not stopped and not fatal and len(running) < self.concurrency:
                        index = next(queue, None)
                        if index is None:
                            stopped = True
                            break
                        if not self._reserve(requests[index]):
                            self.meter.budget_stopped = True
                            stopped = True
                            outcomes[index] = Outcome(None, BUDGET_REASON)
                            break
                        running[pool.submit(self._call, requests[index], fatal)] = index
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = running.pop(future)
                        outcomes[index] = future.result()
                        self._release(requests[index])
                        advance(1)
        for i, outcome in enumerate(outcomes):
            if outcome is None:
                outcomes[i] = Outcome(
                    None, BUDGET_REASON if self.meter.budget_stopped else fatal[0]
                )
        if fatal:
            raise ProviderError(f"{self.name}: {fatal[0]}; answers received so far are cached")
        return outcomes  # type: ignore[return-value]

    def _run_batches(
        self,
        requests: Sequence[Request],
        pending: list[int],
        outcomes: list[Outcome | None],
        fatal: list[str],
        advance: Callable[[int], None],
    ) -> None:
        """In-process models: ``batch_size`` requests per transport call, one after another.

        Each answer is cached as it is read, with its share of the batch's time as latency.
        A batch that fails is retried one request at a time, so one bad request costs only
        its own answer.
        """
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start : start + self.batch_size]
            if fatal:
                return
            allowed = []
            for index in chunk:
                if not self._reserve(requests[index]):
                    self.meter.budget_stopped = True
                    break
                allowed.append(index)
            if not allowed:
                return
            kind = requests[allowed[0]].kind
            same_kind = all(requests[i].kind == kind for i in allowed)
            began = time.perf_counter()
            try:
                if not same_kind:
                    raise ValueError("mixed request kinds in one batch")
                answers = self.transport.call_batch(  # type: ignore[attr-defined]
                    kind, self.model, [requests[i].payload for i in allowed]
                )
            except Exception:  # noqa: BLE001 - fall back to one call each, classified there
                for index in allowed:
                    outcomes[index] = self._call(requests[index], fatal)
                    self._release(requests[index])
                    advance(1)
                continue
            latency = (time.perf_counter() - began) / len(allowed)
            for index, (result, usage) in zip(allowed, answers, strict=True):
                self._store(requests[index], result, usage, latency)
                outcomes[index] = Outcome(result, usage=usage, latency_s=latency)
                self._release(requests[index])
            advance(len(allowed))
            if self.meter.budget_stopped:
                return

    def _store(self, request: Request, result: dict, usage: Usage, latency: float) -> None:
        self.cache.put(
            *self._key(request), kind=request.kind, result=result, usage=usage, latency_s=latency
        )
        self.meter.add_call(usage, self.cost(usage), latency)

    def _reserve(self, request: Request) -> bool:
        if self.max_cost is None:
            return True
        estimate = self.cost(request.est_usage) or 0.0
        with self._budget_lock:
            spent = self.meter.cost_usd or 0.0
            if spent + self._reserved + estimate > self.max_cost:
                return False
            self._reserved += estimate
            return True

    def _release(self, request: Request) -> None:
        if self.max_cost is None:
            return
        with self._budget_lock:
            self._reserved = max(0.0, self._reserved - (self.cost(request.est_usage) or 0.0))

    def _call(self, request: Request, fatal: list[str]) -> Outcome:
        attempt = 0
        while True:
            if fatal:
                return Outcome(None, fatal[0])
            start = time.perf_counter()
            try:
                result, usage = self.transport.call(request.kind, self.model, request.payload)
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
                failure = self.transport.classify(exc)
                if failure.kind is FailureKind.RETRY and attempt < self.retry.max_retries:
                    wait_s = self.retry.delay(attempt, failure.retry_after)
                    logger.info(
                        "%s: %s; retry %d in %.2fs", self.name, failure.message, attempt + 1, wait_s
                    )
                    self.meter.add_retry()
                    self._sleep(wait_s)
                    attempt += 1
                    continue
                self.meter.add_failure()
                if failure.kind is FailureKind.FATAL:
                    fatal.append(failure.message)
                    return Outcome(None, failure.message)
                suffix = f" (gave up after {attempt} retries)" if attempt else ""
                return Outcome(None, failure.message + suffix)
            latency = time.perf_counter() - start
            self._store(request, result, usage, latency)
            return Outcome(result, usage=usage, latency_s=latency)


@contextmanager
def _bar(description: str, total: int, meter: UsageMeter) -> Iterator[Callable[[int], None]]:
    """A Rich bar with calls, tokens and cost so far (silent when nobody watches)."""
    if not progress_enabled() or total == 0:
        yield lambda n=1: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task(description, total=total, stats="")

        def advance(n: int = 1) -> None:
            u = meter.usage
            cost = meter.cost_text
            stats = (
                f"calls {meter.calls} · cached {meter.cached} · retries {meter.retries} · "
                f"{u.input_tokens + u.output_tokens:,} tok · {cost}"
            )
            progress.update(task, advance=n, stats=stats)

        yield advance
