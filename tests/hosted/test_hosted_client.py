"""The hosted client against the fake server: retries, faults, cache, cost, budget."""

from __future__ import annotations

import pytest

from flywheel.errors import ConfigError, ProviderError
from flywheel.hosted import HostedClient, Request, RetryPolicy
from flywheel.hosted.client import BUDGET_REASON
from flywheel.hosted.fake_server import FakeProviderServer, token_count
from flywheel.hosted.retry import parse_retry_after

CHAT = "/v1/chat/completions"


def chat(text: str, max_tokens: int = 20) -> Request:
    return Request(
        "chat",
        {"messages": [{"role": "user", "content": text}], "max_tokens": max_tokens},
        est_input_tokens=token_count(text),
        est_output_tokens=max_tokens,
    )


def client(prices, sleeps: list[float] | None = None, **kwargs) -> HostedClient:
    sleeps = [] if sleeps is None else sleeps
    kwargs.setdefault("retry", RetryPolicy(max_retries=3, base_delay=0.01, seed=0))
    return HostedClient(
        "openai:fake-chat", kind="chat", prices=prices, sleep=sleeps.append, timeout=0.5, **kwargs
    )


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "malformed", "truncated"])
def test_transient_faults_are_retried_and_counted(server: FakeProviderServer, prices, fault):
    sleeps: list[float] = []
    hosted = client(prices, sleeps)
    server.inject(fault, times=2, path=CHAT, delay=1.5)
    [outcome] = hosted.run([chat("Query: heart attack\nPassage: heart attack risk")])
    assert outcome.ok and "Grade: 3" in outcome.result["text"]
    assert hosted.meter.retries == 2 and len(sleeps) == 2
    assert server.count(CHAT) == 3
    assert hosted.meter.calls == 1 and hosted.meter.failures == 0


def test_retry_after_header_is_the_wait(server: FakeProviderServer, prices):
    sleeps: list[float] = []
    hosted = client(prices, sleeps)
    server.inject("429", times=1, retry_after=7)
    assert hosted.run([chat("hello there")])[0].ok
    assert sleeps == [7.0]


def test_backoff_is_exponential_with_jitter_and_capped():
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, seed=1)
    waits = [policy.delay(a) for a in range(6)]
    assert all(0 <= w <= min(5.0, 2**a) for a, w in enumerate(waits))
    assert len(set(waits)) == 6  # jitter: no two equal
    assert policy.delay(0, retry_after=120) == 5.0
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_gives_up_after_max_retries_with_the_reason(server, prices):
    hosted = client(prices, retry=RetryPolicy(max_retries=2, base_delay=0.0))
    server.inject("500", times=5, path=CHAT)
    [outcome] = hosted.run([chat("hello")])
    assert not outcome.ok and "gave up after 2 retries" in outcome.error
    assert server.count(CHAT) == 3 and hosted.meter.failures == 1


def test_refusal_is_an_answer_not_a_retry(server, prices):
    hosted = client(prices)
    server.inject("refusal", path=CHAT)
    [outcome] = hosted.run([chat("something")])
    assert outcome.ok and outcome.result["text"] is None and outcome.result["refusal"]
    assert hosted.meter.retries == 0


def test_missing_key_names_the_variable_before_any_call(server, prices, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="export OPENAI_API_KEY="):
        client(prices)
    with pytest.raises(ConfigError, match="set the environment variable OPENAI_BASE_URL"):
        monkeypatch.delenv("OPENAI_BASE_URL")
        HostedClient("openai:m", kind="chat", api_key="k", require_base_url=True)
    assert server.count() == 0


def test_unknown_provider_and_kind_are_config_errors(server):
    with pytest.raises(Exception, match="unknown provider 'acme'"):
        HostedClient("acme:x", kind="chat")
    with pytest.raises(ConfigError, match="no rerank models"):
        HostedClient("openai:x", kind="rerank")


def test_a_refused_key_stops_the_run(server, prices):
    hosted = client(prices, concurrency=1)
    server.inject("401", times=10, path=CHAT)
    with pytest.raises(ProviderError, match="check OPENAI_API_KEY"):
        hosted.run([chat(f"q{i}") for i in range(5)])
    assert server.count(CHAT) == 1  # no retry, and the other four were never sent


def test_second_run_is_free_and_sends_nothing(server, prices):
    requests = [chat(f"Query: q{i} alpha\nPassage: alpha beta") for i in range(6)]
    first = client(prices, concurrency=3)
    answers = [o.result for o in first.run(requests)]
    assert server.count(CHAT) == 6 and first.meter.calls == 6
    again = client(prices)
    replay = again.run(requests)
    assert server.count(CHAT) == 6
    assert [o.result for o in replay] == answers and all(o.cached for o in replay)
    assert again.meter.cost_usd == 0.0 and again.meter.list_cost_usd == first.meter.cost_usd


def test_cost_is_exact_on_known_token_counts(server, prices):
    texts = ["one two three", "four five six seven eight"]
    hosted = client(prices)
    outcomes = hosted.run([chat(t) for t in texts])
    prompt = sum(token_count(t) for t in texts)  # the fake counts one token per word
    completion = sum(token_count(o.result["text"]) for o in outcomes)
    assert hosted.meter.usage.input_tokens == prompt == 8
    assert hosted.meter.usage.output_tokens == completion
    assert hosted.meter.cost_usd == pytest.approx(prompt * 1.0 / 1e6 + completion * 2.0 / 1e6)


def test_dry_run_estimates_without_sending(server, prices):
    hosted = client(prices)
    requests = [chat("a b c d", max_tokens=10), chat("e f", max_tokens=10)]
    estimate = hosted.estimate(requests)
    assert (estimate.calls, estimate.input_tokens, estimate.output_tokens) == (2, 6, 20)
    assert estimate.cost_usd == pytest.approx(6 / 1e6 + 20 * 2 / 1e6)
    assert server.count() == 0
    hosted.run(requests[:1])
    assert hosted.estimate(requests).calls == 1  # the cached one is free


def test_max_cost_stops_cleanly_and_keeps_what_was_bought(server, prices):
    long = " ".join(["word"] * 1000)  # ~1000 input tokens: $0.001 each at $1/1M
    requests = [chat(f"{i} {long}", max_tokens=0) for i in range(10)]
    hosted = client(prices, concurrency=1, max_cost=0.0035)
    outcomes = hosted.run(requests)
    bought = [o for o in outcomes if o.ok]
    assert len(bought) == 3 and hosted.meter.budget_stopped
    assert all(o.error == BUDGET_REASON for o in outcomes if not o.ok)
    assert hosted.meter.cost_usd <= 0.0035
    more = client(prices, concurrency=2, max_cost=1.0)
    assert all(o.ok for o in more.run(requests))
    assert server.count(CHAT) == 10  # nothing bought twice


def test_max_cost_needs_a_price(server):
    with pytest.raises(ConfigError, match="no price for openai:mystery"):
        HostedClient("openai:mystery", kind="chat", max_cost=1.0)


def test_concurrency_is_bounded(server, prices):
    import threading
    import time

    active, peak = [0], [0]
    lock = threading.Lock()
    hosted = client(prices, concurrency=2)
    real = hosted.transport

    class Counting:
        provider = "openai"

        def call(self, *args):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.02)
            try:
                return real.call(*args)
            finally:
                with lock:
                    active[0] -= 1

        def classify(self, exc):
            return real.classify(exc)

    hosted._transport = Counting()
    assert all(o.ok for o in hosted.run([chat(f"x{i}") for i in range(8)]))
    assert peak[0] == 2
