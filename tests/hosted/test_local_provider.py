"""The ``local`` provider: a tiny random Llama built here, run in-process through HostedClient."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flywheel.errors import ConfigError, UnknownComponentError
from flywheel.hosted import LEDGER, HostedClient, chat_request, parse_model
from flywheel.hosted.client import choice_request
from flywheel.hosted.local_model import load_local_model, resolve_model_dir
from flywheel.testing import build_tiny_causal_lm

PROMPTS = ["what is my card", "how", "the exchange rate is", "lost card ?", "my card"]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FLYWHEEL_LOCAL_DTYPE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "responses.sqlite"


def _chat(n: int = len(PROMPTS)) -> list:
    return [chat_request(p, max_tokens=4, temperature=0) for p in PROMPTS[:n]]


def test_second_run_is_answered_from_the_cache(tiny_lm: Path, local_env: Path) -> None:
    first = HostedClient(f"local:{tiny_lm}", kind="chat", cache=local_env)
    answers = first.run(_chat())
    assert first.meter.calls == len(PROMPTS) and first.meter.cached == 0
    assert all(a.ok and isinstance(a.result["text"], str) for a in answers)
    second = HostedClient(f"local:{tiny_lm}", kind="chat", cache=local_env)
    replayed = second.run(_chat())
    assert second.meter.calls == 0 and second.meter.cached == len(PROMPTS)
    assert [r.result for r in replayed] == [a.result for a in answers]
    assert all(r.cached for r in replayed)


def test_usage_is_metered_in_seconds_and_reaches_the_ledger(tiny_lm: Path, local_env: Path) -> None:
    client = HostedClient(f"local:{tiny_lm}", kind="chat", cache=local_env)
    before = LEDGER.snapshot()
    answers = client.run(_chat(3))
    spent = LEDGER.delta(before, LEDGER.snapshot())
    assert spent.calls == 3
    assert spent.latency_s > 0 and spent.cost_usd == 0.0 and spent.unpriced == 0
    usage = client.meter.to_dict()
    assert usage["in_process"] is True and usage["cost_usd"] == 0.0
    assert usage["input_tokens"] == sum(a.usage.input_tokens for a in answers) > 0
    assert 0 < usage["output_tokens"] <= 3 * 4
    assert client.meter.cost_text.endswith("s here")


def test_requests_are_answered_in_batches(
    tiny_lm: Path, local_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = HostedClient(f"local:{tiny_lm}", kind="chat", cache=local_env, batch_size=2)
    sizes: list[int] = []
    real = client.transport.call_batch

    def spy(kind, model, payloads):
        sizes.append(len(payloads))
        return real(kind, model, payloads)

    monkeypatch.setattr(client.transport, "call_batch", spy)
    batched = client.run(_chat())
    assert sizes == [2, 2, 1]
    one_by_one = HostedClient(
        f"local:{tiny_lm}", kind="chat", cache=local_env.with_name("other.sqlite"), batch_size=1
    ).run(_chat())
    # left padding must not change a greedy answer
    assert [b.result["text"] for b in batched] == [o.result["text"] for o in one_by_one]


def test_choice_picks_the_most_likely_continuation(tiny_lm: Path, local_env: Path) -> None:
    import torch

    choices = [" card arrival", " lost", " exchange rate fee"]
    prompt = "question : what is my card ?\nintent :"
    client = HostedClient(f"local:{tiny_lm}", kind="choice", cache=local_env)
    (outcome,) = client.run([choice_request(prompt, choices)])
    scores = outcome.result["scores"]
    lm = load_local_model(str(tiny_lm))
    expected = []
    for choice in choices:  # the same sums from one full forward pass per choice
        ids = lm.tokenizer(prompt + choice, return_tensors="pt")["input_ids"]
        start = len(lm.tokenizer(prompt)["input_ids"])
        with torch.inference_mode():
            logprobs = torch.log_softmax(lm.model(ids).logits[0], -1)
        expected.append(sum(float(logprobs[i - 1, ids[0, i]]) for i in range(start, ids.shape[1])))
    assert scores == pytest.approx(expected, abs=1e-4)
    best = max(range(3), key=scores.__getitem__)
    assert outcome.result["index"] == best and outcome.result["text"] == choices[best]


def test_local_models_need_no_key_and_name_what_they_serve(tiny_lm: Path, local_env) -> None:
    client = HostedClient(f"local:{tiny_lm}", kind="chat", cache=local_env)
    assert client.credentials.endpoint == "in-process:float32"
    with pytest.raises(ConfigError, match="serves: chat, choice"):
        parse_model("local:whatever", kind="embed")
    with pytest.raises(UnknownComponentError, match="gemma-3-270m"):
        resolve_model_dir("no-such-model")


def test_precision_is_part_of_the_cache_key(
    tiny_lm: Path, local_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    HostedClient(f"local:{tiny_lm}", kind="chat", cache=local_env).run(_chat(1))
    monkeypatch.setenv("FLYWHEEL_LOCAL_DTYPE", "bfloat16")
    other = HostedClient(f"local:{tiny_lm}", kind="chat", cache=local_env)
    other.run(_chat(1))
    assert other.meter.calls == 1 and other.meter.cached == 0
    monkeypatch.setenv("FLYWHEEL_LOCAL_DTYPE", "float8")
    with pytest.raises(ConfigError, match="float32"):
        HostedClient(f"local:{tiny_lm}", kind="chat", cache=local_env)


def test_judge_cli_with_a_local_model_needs_no_key(tiny_lm: Path, local_env: Path, tmp_path):
    from typer.testing import CliRunner

    from flywheel.cli.app import app
    from flywheel.store import Store

    db = str(tmp_path / "judge.db")
    store = Store(db)
    store.add_documents(
        [
            {"doc_id": "d1", "text": "my card is lost"},
            {"doc_id": "d2", "text": "the exchange rate fee"},
            {"doc_id": "d3", "text": "what is the rate"},
        ]
    )
    store.add_queries({"q1": "lost card", "q2": "exchange rate"})
    store.add_judgments({"q1": {"d1": 3, "d2": 0}, "q2": {"d2": 2, "d3": 1}}, source="human")
    runner = CliRunner()
    args = ["judge", "run", "--from", "topk", "--k", "3", "--model", f"local:{tiny_lm}"]
    done = runner.invoke(app, [*args, "--db", db])
    assert done.exit_code == 0, done.output
    assert "s here" in done.output and "0 replies rejected" in done.output
    pairs = int(re.search(r"(\d+) pairs from topk", done.output).group(1))
    grades = store.qrels(sources=["llm"])
    assert pairs >= 3 and sum(len(g) for g in grades.values()) == pairs  # all graded
    assert all(0 <= v <= 3 for g in grades.values() for v in g.values())
    again = runner.invoke(app, [*args, "--db", db])
    assert again.exit_code == 0 and f"0 calls, {pairs} cached" in again.output
    agree = runner.invoke(app, ["judge", "agreement", "--db", db])
    assert agree.exit_code == 0 and "weighted kappa" in agree.output, agree.output


def test_synth_questions_with_a_local_model_needs_no_key(tiny_lm: Path, local_env: Path, tmp_path):
    from typer.testing import CliRunner

    from flywheel.cli.app import app
    from flywheel.store import Store

    db = str(tmp_path / "synth.db")
    Store(db).add_documents(
        [{"doc_id": f"d{i}", "text": f"my card {w} is lost and the exchange rate fee"}
         for i, w in enumerate(["one", "two", "three"])]
    )  # fmt: skip
    args = ["synth", "questions", "--n", "3", "--no-embed", "--model", f"local:{tiny_lm}"]
    done = CliRunner().invoke(app, [*args, "--db", db])
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert f"local:{tiny_lm}: 3 calls" in said and "s here" in said


def test_stop_cuts_a_reply_as_hosted_apis_do_and_enters_the_payload_only_when_given(
    tiny_lm: Path, local_env: Path
) -> None:
    assert "stop" not in chat_request("hi", max_tokens=4, temperature=0).payload
    free = HostedClient(f"local:{tiny_lm}", kind="chat", cache=local_env)
    [whole] = free.run([chat_request(PROMPTS[0], max_tokens=6, temperature=0)])
    words = whole.result["text"].split()
    assert len(words) >= 3
    stop = " " + words[2]
    request = chat_request(PROMPTS[0], max_tokens=6, temperature=0, stop=[stop])
    assert request.payload["stop"] == [stop]
    [cut] = free.run([request])
    assert cut.result["finish_reason"] == "stop"
    assert whole.result["text"].startswith(cut.result["text"])
    assert stop not in cut.result["text"] and len(cut.result["text"]) < len(whole.result["text"])
    assert cut.usage.output_tokens < whole.usage.output_tokens  # decoding stopped early
