"""``flywheel run --compare``: other models measured beside the loop's, priced, never selected.

Hosted models go to the fake provider server (no network): it bills one token per word, so
every cost below is computed by hand from the texts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flywheel.data import load_beir
from flywheel.datasets.hard_negatives import HardNegativeConfig
from flywheel.demo import generate_medications
from flywheel.errors import ConfigError
from flywheel.hosted.fake_server import FakeProviderServer
from flywheel.pipeline import LoopConfig, run_flywheel
from flywheel.pipeline.comparisons import (
    FixedRun,
    check_comparisons,
    first_stage_of,
    versus_best_comparison,
)
from flywheel.pipeline.config import RerankerSettings
from flywheel.testing import build_tiny_sentence_transformer
from flywheel.training.config import EmbedderTrainConfig

EMBED, RERANK = "openai:fake-embed", "cohere:fake-rerank"
EMBED_PRICE, SEARCH_PRICE = 0.5, 3.0  # $ per 1M tokens, $ per 1k searches


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny") / "st")


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeProviderServer]:
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        f"openai:\n  fake-embed: {{input_per_1m: {EMBED_PRICE}}}\n"
        f"cohere:\n  fake-rerank: {{per_1k_searches: {SEARCH_PRICE}}}\n",
        encoding="utf-8",
    )
    with FakeProviderServer() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
        monkeypatch.setenv("COHERE_API_KEY", "test-key")
        monkeypatch.setenv("COHERE_BASE_URL", fake.cohere_url)
        monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("FLYWHEEL_PRICES", str(prices))
        yield fake


def _config(dataset: Path, out: Path, model: str, **extra: object) -> LoopConfig:
    return LoopConfig(
        mining=HardNegativeConfig(relative_margin=None),
        # a random tiny model finds every pair of queries alike: no cosine leak check
        near_duplicate_threshold=None,
        dataset=str(dataset),
        out_dir=out,
        base_model=model,
        encode_batch_size=16,
        latency_queries=3,
        embedder=EmbedderTrainConfig(
            epochs=1, batch_size=8, max_seq_length=32, eval_each_epoch=False
        ),
        reranker=RerankerSettings(enabled=False, depth=5),
        **extra,
    )


def _words(texts: object) -> int:
    return sum(len(t.split()) for t in texts)  # type: ignore[attr-defined]


def test_loop_compares_hosted_models_prices_them_and_never_selects_them(
    server: FakeProviderServer, tmp_path: Path, tiny_model: str
) -> None:
    med = generate_medications(tmp_path / "med", n_drugs=10, seed=1)
    config = _config(
        med, tmp_path / "out", tiny_model, compare_models=[EMBED], compare_rerankers=[RERANK]
    )
    result = run_flywheel(config)

    embed_name = f"compare: {EMBED}"
    rerank_name = f"compare: {first_stage_of(result.selected)} + {RERANK}"
    for name in (embed_name, rerank_name):
        assert name in result.test.systems and name in result.dev_scores
        assert result.test.outcomes[name]["ndcg@10"] is not None  # paired vs base dense too
    assert not result.selected.startswith("compare: ")
    loop_systems = [n for n in result.dev_scores if not n.startswith("compare: ")]
    assert result.selected == max(loop_systems, key=lambda n: result.dev_scores[n]["ndcg@10"])

    # costs: local systems cost machine time, hosted ones exactly their billed tokens/searches
    data = load_beir(med)
    eval_qids = set(data.qrels["dev"]) | set(data.qrels["test"])
    assert set(result.runs[embed_name]) == eval_qids
    costs = result.costs
    for local in ("bm25", "base dense", "fine-tuned dense"):
        assert costs[local]["hosted"] is False and costs[local]["cost_per_1k_queries_usd"] is None
        assert costs[local]["latency_queries"] == 3 and costs[local]["latency_p50_ms"] > 0
    hosted = costs[embed_name]
    assert hosted["hosted"] and hosted["models"] == [EMBED]
    corpus_words = _words(doc.text_for_encoding for doc in data.corpus.values())
    assert hosted["index_cost_usd"] == pytest.approx(corpus_words * EMBED_PRICE / 1e6)
    query_words = _words(data.queries[q] for q in eval_qids)
    per_1k = query_words * EMBED_PRICE / 1e6 / len(eval_qids) * 1000
    assert hosted["cost_per_1k_queries_usd"] == pytest.approx(per_1k)
    # one rerank search per query (depth 5 <= 100 documents per search)
    assert costs[rerank_name]["cost_per_1k_queries_usd"] == pytest.approx(SEARCH_PRICE)
    assert costs[rerank_name]["index_cost_usd"] == 0.0
    # a hybrid is timed as one retriever; its index is its parts' (BM25 + the dense model)
    hybrid = costs["fine-tuned hybrid"]
    assert hybrid["latency_queries"] == 3 and not hybrid["hosted"]
    parts = costs["bm25"]["index_seconds"] + costs["fine-tuned dense"]["index_seconds"]
    assert hybrid["index_seconds"] == pytest.approx(parts)

    # the verdict tests the selected pipeline against the best comparison on dev, on test
    versus = result.comparisons
    best = max((embed_name, rerank_name), key=lambda n: result.dev_scores[n]["ndcg@10"])
    assert versus["best"] == best and versus["selected"] == result.selected
    sel_mean, best_mean = (
        result.test.mean(result.selected, "ndcg@10"),
        result.test.mean(best, "ndcg@10"),
    )
    assert versus["difference"] == pytest.approx(sel_mean - best_mean)
    assert 0.0 < versus["p_value"] <= 1.0 and versus["verdict"] in result.verdicts
    assert "per 1,000 queries" in versus["verdict"]
    assert f"{result.selected} (local" in versus["verdict"]  # what the loop ships runs locally

    summary = json.loads(result.summary_path.read_text())
    assert summary["costs"][embed_name]["index_cost_usd"] == pytest.approx(hosted["index_cost_usd"])
    assert summary["comparisons"]["best"] == best
    assert summary["config"]["compare_models"] == [EMBED]
    html = result.report_path.read_text()
    assert embed_name in html and rerank_name in html
    assert "Latency and cost" in html and "Quality against cost" in html
    assert "never selected" in html and f"${SEARCH_PRICE:.2f}" in html


def test_comparisons_are_checked_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("COHERE_API_KEY", "k")
    base = {"dataset": "nowhere", "out_dir": tmp_path / "out"}
    with pytest.raises(ConfigError, match=r"compare_models\[0\].*OPENAI_API_KEY"):
        run_flywheel(LoopConfig(**base, compare_models=["openai:text-embedding-3-small"]))
    assert not (tmp_path / "out").exists()  # failed before the loop started
    with pytest.raises(ConfigError, match="--compare-reranker cohere:rerank-v3.5"):
        check_comparisons(LoopConfig(**base, compare_models=["cohere:rerank-v3.5"]))
    with pytest.raises(ConfigError, match="no rerank models"):
        check_comparisons(LoopConfig(**base, compare_rerankers=["openai:gpt-4o-mini"]))
    with pytest.raises(ConfigError, match=r"compare_models\[0\] '/no/such/model'.*not a local"):
        check_comparisons(LoopConfig(**base, compare_models=["/no/such/model"]))


def test_versus_best_comparison_picks_on_dev_and_tests_on_test() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    runs = {
        "fine-tuned dense": {"q1": {"a": 2.0, "b": 1.0}, "q2": {"b": 2.0, "a": 1.0}},
        "compare: good": {"q1": {"a": 2.0, "b": 1.0}, "q2": {"a": 2.0, "b": 1.0}},
        "compare: bad": {"q1": {"b": 2.0, "a": 1.0}, "q2": {"a": 2.0, "b": 1.0}},
    }
    dev = {n: {"ndcg@10": v} for n, v in zip(runs, (0.5, 0.9, 0.1), strict=True)}
    costs = {
        "compare: good": {"hosted": True, "cost_per_1k_queries_usd": 0.02, "index_cost_usd": 1.5},
        "fine-tuned dense": {"hosted": False, "latency_p50_ms": 4.0},
    }
    out = versus_best_comparison(
        qrels,
        runs,
        dev_scores=dev,
        costs=costs,
        selected="fine-tuned dense",
        queries={"q1": "x", "q2": "y"},
        metric="ndcg@10",
    )
    assert out is not None and out["best"] == "compare: good"  # best on dev, not on test
    # q2: the comparison ranks b second -> nDCG 1/log2(3); the selected ranks it first -> 1
    expected_best = (1.0 + 1 / 1.584962500721156) / 2
    assert out["best_mean"] == pytest.approx(expected_best)
    assert out["difference"] == pytest.approx(1.0 - expected_best)
    assert "$0.0200 per 1,000 queries, $1.5000 to index" in out["verdict"]
    assert "p50 4.0 ms" in out["verdict"] and "above it" in out["verdict"]
    no_comparison = {"fine-tuned dense": runs["fine-tuned dense"]}
    assert (
        versus_best_comparison(
            qrels,
            no_comparison,
            dev_scores=dev,
            costs={},
            selected="fine-tuned dense",
            queries={"q1": "x"},
            metric="ndcg@10",
        )
        is None
    )


def test_fixed_run_serves_a_finished_run_and_first_stage_strips_the_reranker() -> None:
    run = {"q1": {"a": 1.0, "b": 3.0, "c": 2.0}}
    assert FixedRun(run, "x").search({"q1": "t", "q9": "u"}, k=2) == {
        "q1": {"b": 3.0, "c": 2.0},
        "q9": {},
    }
    assert first_stage_of("fine-tuned hybrid + re-rank") == "fine-tuned hybrid"
    assert first_stage_of("base dense") == "base dense"


def test_cli_passes_compare_flags_to_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from flywheel import pipeline
    from flywheel.cli.app import app

    seen: list[LoopConfig] = []

    def fake_run(config: LoopConfig, **_: object) -> None:
        seen.append(config)
        raise ConfigError("stopped after reading the flags")

    monkeypatch.setattr(pipeline, "run_flywheel", fake_run)
    args = ["run", "-d", "scifact", "--compare", EMBED, "--compare", "other/model"]
    result = CliRunner().invoke(app, [*args, "--compare-reranker", RERANK])
    assert seen and seen[0].compare_models == [EMBED, "other/model"]
    assert seen[0].compare_rerankers == [RERANK]
    assert isinstance(result.exception, ConfigError)  # the stub stopped it after the flags


def test_cold_start_model_flag_picks_the_llm_generator_and_refuses_a_bad_name(monkeypatch):
    from typer.testing import CliRunner

    from flywheel import pipeline
    from flywheel.cli.app import app

    seen: list[LoopConfig] = []

    def fake_run(config: LoopConfig, **_: object) -> None:
        seen.append(config)
        raise ConfigError("stopped after reading the flags")

    monkeypatch.setattr(pipeline, "run_flywheel", fake_run)
    CliRunner().invoke(app, ["run", "-d", "scifact", "--cold-start-model", "local:gemma-3-270m"])
    assert seen and seen[0].cold_start_generator == "llm"
    assert seen[0].cold_start_model == "local:gemma-3-270m"
    CliRunner().invoke(app, ["run", "-d", "scifact"])
    assert seen[1].cold_start_generator == "ict" and seen[1].cold_start_model is None
    bad = CliRunner().invoke(app, ["run", "-d", "scifact", "--cold-start-model", "bogus:m"])
    assert len(seen) == 2  # refused before the loop starts
    assert "unknown provider 'bogus'" in str(bad.exception)
