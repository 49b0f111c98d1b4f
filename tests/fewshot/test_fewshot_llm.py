"""The LLM path through ``flywheel.hosted`` against its fake provider server (no network).

The fake model answers like a copying student: the answer of the prompt's example that shares
the most words with the last question, or "I don't know" with no examples. So the right examples
in the prompt are exactly what makes it right, which is what the experiment must detect. The
fake counts one token per word, so costs can be checked by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fs_helpers import planted

from flywheel.errors import ConfigError, LeakageError, ProviderError
from flywheel.fewshot import build_library
from flywheel.fewshot.llm_eval import (
    experiment_client,
    extract_answer,
    load_llm_spec,
    parse_llm_spec,
    run_llm_experiment,
)
from flywheel.fewshot.scoring import exact_match, resolve_scorer, token_f1
from flywheel.hosted import HostedClient
from flywheel.hosted.fake_server import FakeProviderServer, token_count
from flywheel.store.fewshot import list_uses

_PAIR = re.compile(r"Question: (.*?)\n(?:Thinking: .*?\n)?Answer: (.*?)\n", re.S)
CHAT = "/v1/chat/completions"


def copying_model(prompt: str) -> str:
    query = prompt.rsplit("Question: ", 1)[1].split("\n", 1)[0]
    words = set(query.lower().split())
    pairs = _PAIR.findall(prompt)
    if not pairs:
        return "Thinking: no examples.\nAnswer: I don't know"
    best = max(pairs, key=lambda qa: len(words & set(qa[0].lower().split())))
    return f"Thinking: like '{best[0]}'.\nAnswer: {best[1]}"


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text("openai:\n  fake-model: {input_per_1m: 1.0, output_per_1m: 2.0}\n")
    return path


@pytest.fixture
def server(monkeypatch, tmp_path: Path, prices: Path) -> Iterator[FakeProviderServer]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("FLYWHEEL_LLM_BASE_URL", "FLYWHEEL_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FLYWHEEL_PRICES", str(prices))
    with FakeProviderServer(chat_reply=copying_model) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
        yield fake


def test_scorers_follow_squad() -> None:
    assert exact_match("The Paris.", "paris") == 1.0
    assert exact_match("Paris, France", "Paris") == 0.0
    assert token_f1("Paris France", "Paris") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0
    assert extract_answer("Thinking: hm\nAnswer:  42 \n") == "42"
    assert extract_answer("just 42") == "just 42"


def test_user_scorer_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "my_scorer.py"
    path.write_text(
        "def starts(prediction, reference):\n    return float(prediction.startswith(reference))\n"
        "def broken(prediction, reference):\n    return 7\n",
        encoding="utf-8",
    )
    assert resolve_scorer(f"{path}:starts")("Paris is it", "Paris") == 1.0
    with pytest.raises(ConfigError, match="return a number in"):
        resolve_scorer(f"{path}:broken")("a", "b")
    with pytest.raises(ConfigError, match="has no function"):
        resolve_scorer(f"{path}:missing")


def _spec(tmp_path: Path, questions: list[dict], extra: str = "") -> Path:
    held = tmp_path / "heldout.jsonl"
    held.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    scorer = tmp_path / "score.py"
    scorer.write_text("def first_word(p, r):\n    return float(p.split()[:1] == r.split()[:1])\n")
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f"""
name = "fewshot-test"
hypothesis = "Library examples beat zero-shot on exact match"
questions = "heldout.jsonl"
model = "fake-model"
primary_metric = "exact_match"
metrics = ["token_f1", "{scorer}:first_word"]
baseline = "zero-shot"
concurrency = 2
n_resamples = 1000
{extra}

[success]
metric = "exact_match"
min_absolute_gain = 0.5

[[variants]]
name = "zero-shot"
k = 0

[[variants]]
name = "library-k2"
k = 2

[[variants]]
name = "nearest-k2"
k = 2
mode = "nearest"
template = "qa"
""",
        encoding="utf-8",
    )
    return spec


def test_experiment_scores_variants_with_significance_and_logs_versions(
    server: FakeProviderServer, store, embedder, tmp_path: Path
) -> None:
    train = planted(8)
    library = build_library(train, embedder=embedder).save(store)
    seen = {e.question for e in train}
    held = [e for e in planted(8, seed=99) if e.question not in seen][:12]
    questions = [
        {"qid": f"h{i}", "question": e.question, "answer": e.answer} for i, e in enumerate(held)
    ]
    spec = load_llm_spec(_spec(tmp_path, questions))
    result = run_llm_experiment(spec, store=store, embedder=embedder)
    means = result["comparison"]["results"]
    assert means["zero-shot"]["mean"]["exact_match"] == 0.0
    assert means["library-k2"]["mean"]["exact_match"] == 1.0
    assert means["nearest-k2"]["mean"]["exact_match"] == 1.0
    outcome = result["comparison"]["outcomes"]["library-k2"]["exact_match"]
    assert outcome["wins"] == len(held) and outcome["p_value"] < 0.05
    assert result["verdicts"]["library-k2"] == "criterion met"
    assert result["verdict"] == "criterion met"
    assert result["answers"]["library-k2"]["library_version"] == library.version
    n = 3 * len(held)
    assert (result["llm"]["requests"], result["llm"]["cache_hits"]) == (n, 0)
    usage = result["llm"]["usage"]
    sent = [body for path, body in server.requests if path == CHAT]
    assert len(sent) == n and usage["calls"] == n and usage["model"] == "fake-model"
    # the fake counts a token per word: the prompts' words in, the replies' words out
    words_in = sum(token_count("\n".join(m["content"] for m in b["messages"])) for b in sent)
    assert usage["input_tokens"] == words_in
    assert usage["cost_usd"] == pytest.approx((words_in * 1.0 + usage["output_tokens"] * 2.0) / 1e6)
    assert all(b["temperature"] == 0.0 and b["max_tokens"] == 256 for b in sent)
    stored = store.get_experiment_run(result["run_id"])
    assert stored.spec["kind"] == "fewshot-llm" and stored.results["verdict"] == "criterion met"
    with store.engine.connect() as conn:
        uses = list_uses(conn, "default@v1")
    assert len(uses) == 2 * len(held)  # zero-shot prompts use no library
    assert {u["context"] for u in uses} == {
        "experiment:fewshot-test:library-k2",
        "experiment:fewshot-test:nearest-k2",
    }
    again = run_llm_experiment(spec, store=store, embedder=embedder, save=False)
    assert (again["llm"]["requests"], again["llm"]["cache_hits"]) == (0, n)  # all cached
    assert server.count() == n  # the second run sent nothing ...
    replay = again["llm"]["usage"]
    assert replay["calls"] == 0 and replay["cost_usd"] == 0.0  # ... and paid nothing
    assert replay["list_cost_usd"] == pytest.approx(usage["cost_usd"])  # what it would cost
    assert again["comparison"]["results"] == result["comparison"]["results"]


def test_held_out_questions_inside_the_library_are_leakage(
    server: FakeProviderServer, store, embedder, tmp_path: Path
) -> None:
    train = planted(5)
    build_library(train, embedder=embedder).save(store)
    questions = [{"question": train[0].question, "answer": train[0].answer}]
    with pytest.raises(LeakageError, match="are examples of library default@v1"):
        run_llm_experiment(
            load_llm_spec(_spec(tmp_path, questions)), store=store, embedder=embedder
        )


def test_spec_errors_name_the_field(tmp_path: Path) -> None:
    questions = [{"question": "q", "answer": "a"}]
    path = _spec(tmp_path, questions, extra="alpha = 2")
    with pytest.raises(ConfigError, match="field 'alpha'"):
        load_llm_spec(path)
    text = (
        _spec(tmp_path, questions)
        .read_text()
        .replace('baseline = "zero-shot"', 'baseline = "nope"')
    )
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError, match="field 'baseline': 'nope' is not a variant"):
        load_llm_spec(tmp_path / "bad.toml")
    text = _spec(tmp_path, questions).read_text().replace('template = "qa"', 'template = "zz"')
    (tmp_path / "bad2.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"variants\[2\].template"):
        load_llm_spec(tmp_path / "bad2.toml")


def test_cli_runs_the_spec_and_shows_the_stored_run(
    server: FakeProviderServer, store, embedder, tmp_path: Path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from flywheel.cli.app import app
    from flywheel.testing import FakeEmbedder

    class Fake(FakeEmbedder):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(dim=256)

    monkeypatch.setattr("flywheel.fewshot.library.Embedder", Fake)
    train = planted(6)
    build_library(train, embedder=embedder).save(store)
    seen = {e.question for e in train}
    held = [e for e in planted(6, seed=7) if e.question not in seen][:6]
    spec = _spec(tmp_path, [{"question": e.question, "answer": e.answer} for e in held])
    runner = CliRunner()
    args = ["fewshot", "experiment", str(spec), "--db", store.url]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "18 calls to send (0 already cached)" in dry.output and "$" in dry.output
    assert server.count() == 0
    with store.engine.connect() as conn:
        assert list_uses(conn, "default@v1") == []  # a dry run logs no prompt use
    ran = runner.invoke(app, args)
    assert ran.exit_code == 0, ran.output
    assert "library-k2: exact_match +1.0000 vs zero-shot" in ran.output
    assert "stored as run" in ran.output
    assert "openai:fake-model: 18 calls, 0 from cache" in ran.output
    again = runner.invoke(app, [*args, "--no-save"])
    assert again.exit_code == 0, again.output
    assert "0 calls, 18 from cache" in again.output and "stored as run" not in again.output
    assert server.count() == 18
    status = runner.invoke(app, ["status", "--db", store.url, "--json"])
    [usage] = json.loads(status.output)["hosted"]
    assert usage["command"] == "fewshot experiment" and usage["model"] == "openai:fake-model"
    assert (usage["runs"], usage["calls"], usage["cached_calls"]) == (2, 18, 18)
    assert usage["cost_usd"] == pytest.approx(
        (usage["input_tokens"] * 1.0 + usage["output_tokens"] * 2.0) / 1e6
    )
    run_id = ran.output.split("stored as run ")[1].split()[0]
    shown = runner.invoke(app, ["fewshot", "experiment-show", run_id, "--db", store.url])
    assert shown.exit_code == 0, shown.output
    # six questions all won: exact sign-flip p = 2/64, doubled by Holm over two variants, so
    # the gain is real but not significant: the pre-registered verdict says inconclusive
    assert "p=0.0625 -> inconclusive" in shown.output
    assert "verdict: inconclusive" in shown.output
    assert "LLM calls: 18 sent, 0 from cache" in shown.output and "cost $" in shown.output
    refused = runner.invoke(app, ["experiment", "show", run_id, "--db", store.url])
    assert refused.exit_code != 0
    assert "flywheel fewshot experiment-show" in str(refused.exception)


def _small_experiment(store, embedder, tmp_path: Path):
    train = planted(4)
    build_library(train, embedder=embedder).save(store)
    seen = {e.question for e in train}
    held = [e for e in planted(4, seed=5) if e.question not in seen][:3]
    questions = [{"question": e.question, "answer": e.answer} for e in held]
    return load_llm_spec(_spec(tmp_path, questions)), len(held)


def test_server_errors_are_retried_and_counted(
    server: FakeProviderServer, store, embedder, tmp_path: Path
) -> None:
    spec, n = _small_experiment(store, embedder, tmp_path)
    server.inject("500")
    server.inject("429")
    client = HostedClient("openai:fake-model", kind="chat", concurrency=1, sleep=lambda s: None)
    result = run_llm_experiment(spec, store=store, client=client, embedder=embedder, save=False)
    usage = result["llm"]["usage"]
    assert (usage["calls"], usage["retries"], usage["failures"]) == (3 * n, 2, 0)
    assert server.count() == 3 * n + 2


def test_a_refused_key_stops_with_the_variable_to_check(
    server: FakeProviderServer, store, embedder, tmp_path: Path
) -> None:
    spec, _ = _small_experiment(store, embedder, tmp_path)
    server.inject("401")
    client = HostedClient("openai:fake-model", kind="chat", concurrency=1)
    with pytest.raises(ProviderError, match="check OPENAI_API_KEY"):
        run_llm_experiment(spec, store=store, client=client, embedder=embedder, save=False)
    assert server.count() == 1


def test_max_cost_stops_before_paying_and_says_how_to_resume(
    server: FakeProviderServer, store, embedder, tmp_path: Path
) -> None:
    spec, n = _small_experiment(store, embedder, tmp_path)
    client = experiment_client(spec, max_cost=0.0)
    with pytest.raises(ProviderError, match="budget reached.*run again to resume"):
        run_llm_experiment(spec, store=store, client=client, embedder=embedder, save=False)
    assert server.count() == 0 and client.meter.budget_stopped
    assert (
        run_llm_experiment(spec, store=store, embedder=embedder, save=False)["llm"]["requests"]
        == 3 * n
    )


def test_endpoint_settings_and_a_missing_key(server: FakeProviderServer, monkeypatch) -> None:
    spec = parse_llm_spec(
        {
            "name": "x",
            "hypothesis": "h",
            "questions": "q.jsonl",
            "model": "llama3:8b",
            "primary_metric": "exact_match",
            "success": {"metric": "exact_match", "min_absolute_gain": 0.1},
            "baseline": "a",
            "variants": [{"name": "a", "k": 0}, {"name": "b", "k": 1}],
        }
    )
    client = experiment_client(spec)  # a bare name is an OpenAI-compatible model
    assert client.name == "openai:llama3:8b" and client.credentials.api_key == "test-key"
    # the older FLYWHEEL_LLM_* names still work; a keyless local server gets "EMPTY"
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("FLYWHEEL_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    local = experiment_client(spec).credentials
    assert (local.api_key, local.base_url) == ("EMPTY", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("FLYWHEEL_LLM_BASE_URL")
    with pytest.raises(ConfigError, match="export OPENAI_API_KEY="):
        experiment_client(spec)
